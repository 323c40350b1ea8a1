"""Mirror customers and staff from the YAML rules into the database.

The YAML stays the source of truth (admins edit it); the tables exist so
reports and SQL users can join on them. Every worker does this at start,
possibly at the same moment as another, so rows are upserted
(``INSERT … ON CONFLICT DO UPDATE``), never read-then-written, and a row
gone from the YAML is deleted by its key (deleting it twice is harmless).

No statement names every row: a vendor with ten thousand customers made one
upsert of 70,000 values, and PostgreSQL refuses any statement of more than
65,535 parameters, so no worker could start. The upsert is one statement
run for each row (the driver's executemany), the deletes go in chunks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.classify.model import Rules
from mailflow.store.session import chunks
from mailflow.store.tables import Customer, Staff

KEYS_PER_DELETE = 500  # far below every backend's limit on bound parameters


def sync_directory(session: Session, rules: Rules) -> None:
    _delete_others(session, Customer.key, {c.key for c in rules.customers})
    _delete_others(session, Staff.handle, {s.handle for s in rules.staff})
    _upsert(session, Customer, "key", [
        {"key": c.key, "name": c.name, "stage": c.stage, "tier": c.tier, "account_owner": c.account_owner,
         "partner": c.partner, "domains": list(c.domains)} for c in rules.customers])
    _upsert(session, Staff, "handle", [
        {"handle": s.handle, "name": s.name, "email": s.email, "roles": list(s.roles), "team": s.team,
         "manager": s.manager} for s in rules.staff])


def _delete_others(session: Session, column: Any, keep: set[str]) -> None:
    """Delete the rows whose key is not in ``keep``, by key: the stored keys are read once."""
    stale = set(session.scalars(select(column))) - keep
    for chunk in chunks(stale, KEYS_PER_DELETE):
        session.execute(delete(column.class_).where(column.in_(chunk)))


def _upsert(session: Session, table: Any, key: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in rows[0] if c != key}), rows)  # executemany
