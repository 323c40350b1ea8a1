"""Mirror customers and staff from the YAML rules into the database.

The YAML stays the source of truth (admins edit it); the tables exist so
reports and SQL users can join on them. Every worker does this at start,
possibly at the same moment as another, so rows are upserted
(``INSERT … ON CONFLICT DO UPDATE``), never read-then-written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.classify.model import Rules
from mailflow.store.tables import Customer, Staff


def sync_directory(session: Session, rules: Rules) -> None:
    session.execute(delete(Customer).where(Customer.key.not_in([c.key for c in rules.customers])))
    session.execute(delete(Staff).where(Staff.handle.not_in([s.handle for s in rules.staff])))
    _upsert(session, Customer, "key", [
        {"key": c.key, "name": c.name, "stage": c.stage, "tier": c.tier, "account_owner": c.account_owner,
         "partner": c.partner, "domains": list(c.domains)} for c in rules.customers])
    _upsert(session, Staff, "handle", [
        {"handle": s.handle, "name": s.name, "email": s.email, "roles": list(s.roles), "team": s.team,
         "manager": s.manager} for s in rules.staff])


def _upsert(session: Session, table: Any, key: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(rows)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in rows[0] if c != key}))
