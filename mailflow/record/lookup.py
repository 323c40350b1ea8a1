"""Read-only queries the pipeline needs before it writes anything.

They run without autoflush and look at what the transaction itself added
as well (requirements still pending in the session, messages noted by
``note_stored``, flushed or not): a batch of mails is then written in one
flush at commit, instead of one flush per question, and a mail still sees
the mails before it in its batch (a duplicate, a reply to an earlier one).

The statements are built once, at import, with bound parameters: they run
several times for every mail, and building a SELECT in SQLAlchemy costs
more than SQLite takes to answer it. A batch asks them for all its mails at
once (``prefetch``): three statements instead of three or four per mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session

from mailflow.store.session import chunks, pending, transaction_state
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
_HASHES_IN = select(_messages.content_hash).where(
    _messages.content_hash.in_(bindparam("digests", expanding=True)), _messages.direction == "in")
_REQUIREMENTS_IN = select(Requirement).where(Requirement.id.in_(bindparam("ids", expanding=True)))
_LOCK = (select(Requirement).where(Requirement.id == bindparam("rid")).with_for_update()
         .execution_options(populate_existing=True))
_WORKLOAD = (select(_requirements.owner, func.count())
             .where(_requirements.status.in_(OPEN_STATUSES), _requirements.owner.is_not(None))
             .group_by(_requirements.owner))
_THREAD = (select(_messages.message_id, _messages.direction, _messages.from_addr)
           .where(_messages.requirement_id == bindparam("rid")).order_by(_messages.id))
_HELD_KEY = "mailflow.requirements_held"
_WORKLOAD_KEY = "mailflow.open_workload"
_KNOWN_KEY = "mailflow.known_before"
_ADDED_KEY = "mailflow.messages_added"


@dataclass
class _Known:
    """What the database held when the batch began, for the keys its mails will ask about."""

    message_ids: set[str] = field(default_factory=set)  # asked about
    owners: dict[str, str | None] = field(default_factory=dict)  # of those, the ones stored: their requirement
    digests: set[str] = field(default_factory=set)  # asked about (incoming mail without Message-ID)
    stored_digests: set[str] = field(default_factory=set)


@dataclass
class _Added:
    """The messages this transaction stored, flushed or not: a question must see them too."""

    by_message_id: dict[str, str | None] = field(default_factory=dict)  # -> its requirement
    digests_in: set[str] = field(default_factory=set)


def prefetch(session: Session, *, message_ids: Iterable[str], digests: Iterable[str]) -> None:
    """Ask the database once for what a batch's mails will each ask (seen? which thread?).

    Why: those questions were three or four statements per mail, a tenth of
    ingest's time. The answers hold for the transaction; what it stores
    itself is added by ``note_stored``. Another worker storing the same
    mail meanwhile is caught by the unique keys at commit, as before.
    """
    known = transaction_state(session, _KNOWN_KEY, _Known)
    conn = session.connection()
    for chunk in chunks({m for m in message_ids if m} - known.message_ids):
        known.owners.update(conn.execute(_OWNERS_ALL, {"mids": chunk}).all())
        known.message_ids.update(chunk)
    for chunk in chunks({d for d in digests if d} - known.digests):
        known.stored_digests.update(conn.scalars(_HASHES_IN, {"digests": chunk}))
        known.digests.update(chunk)


def prefetch_requirements(session: Session, requirement_ids: Iterable[str]) -> None:
    """Load the requirements a batch's mails continue, in one statement, for ``requirement`` to find.

    Why: a client's follow-up found by its In-Reply-To asked for its
    requirement on its own, a statement per mail. Loaded once, a requirement
    stays as this transaction first read it either way (the session's
    identity map); staff commands lock and read theirs again.
    """
    held = session.info.setdefault(_HELD_KEY, {})
    with session.no_autoflush:
        for chunk in chunks({r for r in requirement_ids if r} - held.keys()):
            for req in session.scalars(_REQUIREMENTS_IN, {"ids": chunk}):
                held.setdefault(req.id, req)


_OWNERS_ALL = select(_messages.message_id, _messages.requirement_id).where(
    _messages.message_id.in_(bindparam("mids", expanding=True)))


def note_stored(session: Session, *, message_id: str | None, direction: str, content_hash: str,
                requirement_id: str | None) -> None:
    """``store_message`` tells the transaction's questions about each message it adds."""
    added = transaction_state(session, _ADDED_KEY, _Added)
    if message_id:
        added.by_message_id[message_id] = requirement_id
    elif direction == "in":
        added.digests_in.add(content_hash)


def seen_before(session: Session, message_id: str | None, content_hash: str) -> bool:
    """True when this mail was already ingested (by Message-ID, else by content)."""
    added = session.info.get(_ADDED_KEY) or _Added()
    known = session.info.get(_KNOWN_KEY)
    if message_id:
        if message_id in added.by_message_id:
            return True
        if known is not None and message_id in known.message_ids:
            return message_id in known.owners
        return session.connection().scalar(_BY_MESSAGE_ID, {"mid": message_id}) is not None
    if content_hash in added.digests_in:
        return True
    if known is not None and content_hash in known.digests:
        return content_hash in known.stored_digests
    return session.connection().scalar(_BY_CONTENT, {"digest": content_hash}) is not None


def requirement_exists(session: Session, requirement_id: str) -> bool:
    return requirement(session, requirement_id) is not None


def requirement_of_messages(session: Session, message_ids: Iterable[str]) -> str | None:
    """The requirement that owns any of these Message-IDs (newest reference first)."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    added = session.info.get(_ADDED_KEY) or _Added()
    known = session.info.get(_KNOWN_KEY)
    rows: dict[str, str | None] = {}
    unknown = [mid for mid in ids if known is None or mid not in known.message_ids]
    if unknown:
        rows.update(session.connection().execute(_OWNERS_OF, {"mids": unknown}).all())
    if known is not None:
        rows.update((mid, known.owners[mid]) for mid in ids if mid in known.owners)
    rows.update((mid, added.by_message_id[mid]) for mid in ids if mid in added.by_message_id)
    for mid in reversed(ids):
        if rows.get(mid) is not None:
            return rows[mid]
    return None


def thread_of(session: Session, requirement_id: str) -> list[tuple[str | None, str, str]]:
    """The requirement's stored mails in order: (Message-ID, direction, sender), what an answer threads on.

    Plain rows, not ``Requirement.messages``: loading that relationship cost a
    staff command a sixth of its time, to read three columns. The mails of
    this transaction not yet written are ``requirements.thread_mails``'s to add.
    """
    return [tuple(row) for row in session.connection().execute(_THREAD, {"rid": requirement_id})]


def open_workload(session: Session) -> dict[str, int]:
    """Open requirements per owner: what team assignment balances.

    Counted once per transaction (a GROUP BY over every requirement, which
    would otherwise run for every new mail of a backlog) and kept up to date
    by ``counted_new_owner`` and ``moved_workload``. It used to be counted
    again after every command or client reply, a cost that grew with the
    table.
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


def moved_workload(session: Session, before: tuple[str | None, str], after: tuple[str | None, str]) -> None:
    """One requirement went from (owner, status) ``before`` to ``after``: the count follows."""
    cached = session.info.get(_WORKLOAD_KEY)
    if cached is None or before == after:
        return
    for (owner, status), step in ((before, -1), (after, 1)):
        if owner and status in OPEN_STATUSES:
            cached[owner] = cached.get(owner, 0) + step
            if cached[owner] <= 0:
                del cached[owner]  # as the GROUP BY would have it: no row for nobody's work


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


def lock(session: Session, req: Requirement) -> None:
    """Hold ``req``'s row until the transaction ends, and see it as last committed, with this transaction's own
    changes to it kept.

    Two staff mails on one requirement, read by two workers, are then applied
    one after the other. ``session.refresh(req, with_for_update=True)`` did
    the same, but it drops the changes the transaction made to ``req`` (so it
    needed a flush before it) and flushes every other pending row of the
    batch: each staff mail cost a flush of its own, a tenth of a backlog's
    ingest. A requirement added in this transaction needs no lock: no other
    transaction can see it.
    """
    state = inspect(req)
    if state.pending:
        return
    columns = state.mapper.column_attrs.keys()
    mine = {key: getattr(req, key) for key in state.committed_state if key in columns}
    with session.no_autoflush:
        session.execute(_LOCK, {"rid": req.id}).all()  # the rows are loaded into ``req`` as they are read
    for key, value in mine.items():
        setattr(req, key, value)
