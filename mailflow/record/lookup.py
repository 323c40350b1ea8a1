"""Read-only queries the pipeline needs before it writes anything."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.store.tables import Message, Requirement

OPEN_STATUSES = ("new", "in_progress", "pending_verification")


def seen_before(session: Session, message_id: str | None, content_hash: str) -> bool:
    """True when this mail was already ingested (by Message-ID, else by content)."""
    if message_id:
        return session.scalar(select(Message.id).where(Message.message_id == message_id).limit(1)) is not None
    stmt = select(Message.id).where(Message.content_hash == content_hash, Message.direction == "in").limit(1)
    return session.scalar(stmt) is not None


def requirement_exists(session: Session, requirement_id: str) -> bool:
    return session.get(Requirement, requirement_id) is not None


def requirement_of_messages(session: Session, message_ids: Iterable[str]) -> str | None:
    """The requirement that owns any of these Message-IDs (newest reference first)."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    rows = dict(
        session.execute(
            select(Message.message_id, Message.requirement_id).where(
                Message.message_id.in_(ids), Message.requirement_id.is_not(None)
            )
        ).all()
    )
    for mid in reversed(ids):
        if mid in rows:
            return rows[mid]
    return None


def open_workload(session: Session) -> dict[str, int]:
    """Open requirements per owner: what team assignment balances."""
    rows = session.execute(
        select(Requirement.owner, func.count())
        .where(Requirement.status.in_(OPEN_STATUSES), Requirement.owner.is_not(None))
        .group_by(Requirement.owner)
    ).all()
    return {owner: count for owner, count in rows}


def continued_in(session: Session, requirement_id: str) -> str:
    """The requirement a thread's mail belongs on now: a merged duplicate's target (followed to its end)."""
    seen = {requirement_id}
    current = requirement_id
    while True:
        target = session.scalar(select(Requirement.merged_into).where(Requirement.id == current))
        if not target or target in seen:
            return current
        seen.add(target)
        current = target
