"""Leases: at most one holder of a named job at a time, across processes.

``acquire`` both takes a free (or expired) lease and renews one already
held, in one ``UPDATE … WHERE holder = me OR expired``, so two instances
racing for the same mailbox cannot both win. A holder that dies simply
stops renewing; after ``ttl`` another instance takes over.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mailflow.store.session import Store
from mailflow.store.tables import Lease

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def acquire(store: Store, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; False while someone else holds it."""
    with store.session() as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(Lease).values(name=name, holder="", expires_at=_EPOCH).on_conflict_do_nothing())
        won = session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
            .returning(Lease.name)
        ).first()
    return won is not None


def holder_of(store: Store, name: str, *, now: datetime) -> str | None:
    """Who holds the lease now (for saying so); None when nobody does."""
    with store.session() as session:
        row = session.get(Lease, name)
        return row.holder if row is not None and row.holder and row.expires_at >= now else None


def release(store: Store, name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), so a waiting instance need not wait for expiry."""
    with store.session() as session:
        session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                        .values(holder="", expires_at=_EPOCH))
