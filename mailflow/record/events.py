"""The process log: appended to all through a transaction, written at its commit in one statement.

Why not ORM objects: the log is append-only and nobody reads it back inside
the transaction that writes it, except the SLA clock (``pending_events``);
it is also the most numerous row a mail makes (three or four for a new
requirement), and an ORM object per row was a tenth of ingest's time.
The rows are inserted in the order they were added, after the transaction's
other rows are flushed (they point at their requirement), just before the
commit; a transaction that is rolled back takes its rows with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from mailflow.store.session import transaction_state, write_kept_rows
from mailflow.store.tables import Event

__all__ = ["add_event", "pending_events"]

_KEY = "mailflow.events"
_INSERT = insert(Event.__table__)


def add_event(session: Session, requirement_id: str, *, at: datetime, actor: str, kind: str, detail: str = "") -> None:
    """Log one step of a requirement: who, when, what."""
    if at.tzinfo is None:  # the column's own check, which now runs only at commit, far from the caller
        raise ValueError("naive datetime stored; pass an aware datetime")
    transaction_state(session, _KEY, list).append(
        {"requirement_id": requirement_id, "at": at, "actor": actor, "kind": kind, "detail": detail})


def pending_events(session: Session, requirement_id: str) -> list[dict[str, object]]:
    """The steps this transaction logged for a requirement and has not written yet, in order."""
    return [row for row in session.info.get(_KEY, ()) if row["requirement_id"] == requirement_id]


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    write_kept_rows(session, _KEY, _INSERT)
