"""Read-only queries the pipeline needs before it writes anything.

They run without autoflush and look at the rows still pending in the
session as well (``store.session.pending``): a batch of mails is then
written in one flush at commit, instead of one flush per question, and a
mail still sees the mails before it in its batch (a duplicate, an
auto-reply to the acknowledgement just queued).

The statements are built once, at import, with bound parameters: they run
several times for every mail, and building a SELECT in SQLAlchemy costs
more than SQLite takes to answer it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailflow.store.session import pending
from mailflow.store.tables import Message, Requirement

OPEN_STATUSES = ("new", "in_progress", "pending_verification")

# Core statements on the tables (not the ORM entities): they return plain rows, and skip the ORM's
# per-statement work, which is most of what these small queries cost.
_messages, _requirements = Message.__table__.c, Requirement.__table__.c
_BY_MESSAGE_ID = select(_messages.id).where(_messages.message_id == bindparam("mid")).limit(1)
_BY_CONTENT = select(_messages.id).where(_messages.content_hash == bindparam("digest"),
                                         _messages.direction == "in").limit(1)
_OWNERS_OF = select(_messages.message_id, _messages.requirement_id).where(
    _messages.message_id.in_(bindparam("mids", expanding=True)), _messages.requirement_id.is_not(None))
_WORKLOAD = (select(_requirements.owner, func.count())
             .where(_requirements.status.in_(OPEN_STATUSES), _requirements.owner.is_not(None))
             .group_by(_requirements.owner))
_HELD_KEY = "mailflow.requirements_held"
_WORKLOAD_KEY = "mailflow.open_workload"


def seen_before(session: Session, message_id: str | None, content_hash: str) -> bool:
    """True when this mail was already ingested (by Message-ID, else by content)."""
    if message_id:
        if any(m.message_id == message_id for m in pending(session, Message)):
            return True
        return session.connection().scalar(_BY_MESSAGE_ID, {"mid": message_id}) is not None
    if any(m.content_hash == content_hash and m.direction == "in" for m in pending(session, Message)):
        return True
    return session.connection().scalar(_BY_CONTENT, {"digest": content_hash}) is not None


def requirement_exists(session: Session, requirement_id: str) -> bool:
    return requirement(session, requirement_id) is not None


def requirement_of_messages(session: Session, message_ids: Iterable[str]) -> str | None:
    """The requirement that owns any of these Message-IDs (newest reference first)."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    wanted = set(ids)
    rows = {m.message_id: m.requirement_id for m in pending(session, Message)
            if m.message_id in wanted and m.requirement_id is not None}
    rows.update(session.connection().execute(_OWNERS_OF, {"mids": ids}).all())
    for mid in reversed(ids):
        if mid in rows:
            return rows[mid]
    return None


def open_workload(session: Session) -> dict[str, int]:
    """Open requirements per owner: what team assignment balances.

    Counted once per transaction (a GROUP BY over every requirement, which
    would otherwise run for every new mail of a backlog) and kept up to date
    by ``counted_new_owner``; ``forget_workload`` after anything that may
    change an owner or a status.
    """
    cached = session.info.get(_WORKLOAD_KEY)
    if cached is None:
        cached = {owner: count for owner, count in session.execute(_WORKLOAD).all()}
        session.info[_WORKLOAD_KEY] = cached
    return dict(cached)


def counted_new_owner(session: Session, owner: str | None) -> None:
    """A new open requirement for ``owner``: the transaction's workload count follows."""
    cached = session.info.get(_WORKLOAD_KEY)
    if cached is not None and owner:
        cached[owner] = cached.get(owner, 0) + 1


def forget_workload(session: Session) -> None:
    session.info.pop(_WORKLOAD_KEY, None)


def continued_in(session: Session, requirement_id: str) -> str:
    """The requirement a thread's mail belongs on now: a merged duplicate's target (followed to its end)."""
    seen = {requirement_id}
    current = requirement_id
    while True:
        req = requirement(session, current)
        target = req.merged_into if req is not None else None
        if not target or target in seen:
            return current
        seen.add(target)
        current = target


def requirement(session: Session, requirement_id: str) -> Requirement | None:
    """The requirement as this transaction sees it: added in it, changed in it, or as stored.

    ``session.get`` would flush every pending row first to find one that may
    still be pending; this finds it without, so a batch stays one flush.
    Each one found is held for the transaction: the session keeps objects
    only weakly, and a thread's mail asks for its requirement four times.
    """
    held = session.info.setdefault(_HELD_KEY, {})
    found = held.get(requirement_id)
    if found is not None:
        return found
    found = next((req for req in pending(session, Requirement) if req.id == requirement_id), None)
    if found is None:
        with session.no_autoflush:
            found = session.get(Requirement, requirement_id)
    if found is not None:
        held[requirement_id] = found
    return found
