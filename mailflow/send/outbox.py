"""The outbox: rendered mail, committed with the record, sent later.

Queuing writes each mail twice on purpose: the outbox row (what to send and
its state) and a ``messages`` row (direction out), so a client's reply to
our acknowledgement threads back by its In-Reply-To.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.orm import Session, defer

from mailflow.parse.model import Address
from mailflow.record.requirements import created_here, store_outgoing
from mailflow.reply.model import Draft
from mailflow.send.headers import compose, make_message_id
from mailflow.store.session import chunks, transaction_state, write_kept_rows
from mailflow.store.tables import Outbox

_QUEUED_KEY = "mailflow.outbox_queued"


@dataclass(frozen=True)
class Queued:
    """A mail this transaction put in the outbox; its row is written when the transaction commits."""

    message_id: str
    requirement_id: str | None
    kind: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    template: str
    status: str  # pending | blocked
    reason: str
    created_at: datetime
    raw: bytes

    @property
    def recipient(self) -> str:
        """The first To, lower-case: what the flood count counts by."""
        return self.to[0].lower() if self.to else ""

    def row(self) -> dict[str, object]:
        return {"message_id": self.message_id, "requirement_id": self.requirement_id, "kind": self.kind,
                "recipient": self.recipient, "to_addrs": list(self.to), "cc_addrs": list(self.cc),
                "subject": self.subject, "template": self.template, "status": self.status, "reason": self.reason,
                "attempts": 0, "next_attempt_at": None, "created_at": self.created_at, "sent_at": None,
                "raw": self.raw}


@dataclass
class _Queued:
    """This transaction's outbox rows, and what it already asked the database.

    Why: the flood count and the redirect-once check run for nearly every
    mail queued; asking the database once per address (per batch, see
    ``prefetch_recent``) and once per requirement, then counting this
    transaction's own rows here, was a twentieth of ingest's time. The rows
    themselves are written in one statement at commit (``_write_rows``):
    nothing reads them back before, and an ORM object per row cost as much
    again. None of them is in the database while this is asked.
    """

    rows: list[Queued] = field(default_factory=list)
    # External, not held, created at or after ``since``: address -> when each such stored mail was queued.
    recent: dict[str, list[datetime]] = field(default_factory=dict)
    since: datetime | None = None
    # This transaction's own external rows not held, by first recipient: when each was queued. The
    # flood count looked for them among all the transaction's rows, once per mail queued (2% of ingest).
    own_recent: dict[str, list[datetime]] = field(default_factory=dict)
    templates: dict[tuple[str, str], bool] = field(default_factory=dict)  # (requirement, "/name") -> stored?


def _queued(session: Session) -> _Queued:
    return transaction_state(session, _QUEUED_KEY, _Queued)


_INSERT = insert(Outbox.__table__)


@event.listens_for(Session, "before_commit")
def _write_rows(session: Session) -> None:
    write_kept_rows(session, _QUEUED_KEY, _INSERT, lambda queued: [row.row() for row in queued.rows])


def enqueue(
    session: Session,
    requirement_id: str,
    draft: Draft,
    *,
    sender: Address,
    in_reply_to: str | None,
    references: tuple[str, ...],
    now: datetime,
    status: str = "pending",
    reason: str = "",
) -> Queued:
    """Compose one draft and queue it; a held draft is kept as ``blocked`` with its reason."""
    domain = sender.email.rpartition("@")[2] or "localhost"
    mid = make_message_id(requirement_id, domain)
    raw = compose(draft, requirement_id=requirement_id, sender=sender, message_id=mid,
                  in_reply_to=in_reply_to, references=references, now=now)
    queued = Queued(message_id=mid, requirement_id=requirement_id, kind=draft.kind, to=draft.to, cc=draft.cc,
                    subject=draft.subject, template=draft.template, status=status, reason=reason, created_at=now,
                    raw=raw)
    _keep(_queued(session), queued)
    if status != "blocked":  # a held mail was never said; it must not thread replies
        store_outgoing(session, raw=raw, at=now, content_hash=_digest(raw), message_id=mid,
                       from_addr=sender.email, to_addrs=[*draft.to, *draft.cc], subject=draft.subject,
                       source=f"outbox:{draft.template}", requirement_id=requirement_id)
    return queued


def _digest(raw: bytes) -> str:
    """sha256 of ``raw``, fed in pieces the hash takes without letting go of the interpreter lock.

    Why: for 2 KiB or more at once, hashlib lets the lock go and must then
    wait to take it back from the threads beside the recording (parsing's
    result reader, the attachment writers). A reply's few kilobytes cost
    about 90 µs that way instead of 10: 4% of a backlog's ingest.
    """
    digest, view = hashlib.sha256(), memoryview(raw)
    for start in range(0, len(view), _UNDER_GIL_LIMIT):
        digest.update(view[start:start + _UNDER_GIL_LIMIT])
    return digest.hexdigest()


_UNDER_GIL_LIMIT = 2047  # CPython's HASHLIB_GIL_MINSIZE is 2048


def enqueue_raw(session: Session, raw: bytes, *, message_id: str, to: tuple[str, ...], subject: str,
                template: str, now: datetime) -> Queued:
    """Queue a composed internal mail that belongs to no requirement (the monthly report).

    It goes through the same sender, retries and ``outbox list`` as every other mail.
    """
    queued = Queued(message_id=message_id, requirement_id=None, kind="internal", to=to, cc=(), subject=subject,
                    template=template, status="pending", reason="", created_at=now, raw=raw)
    _keep(_queued(session), queued)
    return queued


def _keep(queued: _Queued, row: Queued) -> None:
    queued.rows.append(row)
    if row.kind == "external" and row.status != "blocked":
        queued.own_recent.setdefault(row.recipient, []).append(row.created_at)


def prefetch_recent(session: Session, addresses: Iterable[str], since: datetime) -> None:
    """Read, once for a batch, what the flood count will ask about these addresses from ``since`` on."""
    _stored_recent(session, _queued(session), {a.lower() for a in addresses if a}, since)


def recent_external(session: Session, addresses: list[str], since: datetime) -> dict[str, int]:
    """Automatic mails queued to each address since ``since`` (held ones do not count)."""
    if not addresses:
        return {}
    queued = _queued(session)
    _stored_recent(session, queued, set(addresses), since)
    wanted = set(addresses)
    counts = {a: sum(at >= since for at in queued.recent[a])  # stored before this transaction
              + sum(at >= since for at in queued.own_recent.get(a, ()))  # this transaction's own
              for a in wanted}
    return {a: count for a, count in counts.items() if count}


def _stored_recent(session: Session, queued: _Queued, addresses: set[str], since: datetime) -> None:
    """Fill ``queued.recent`` for ``addresses``: all of them again when asked about an earlier time."""
    if queued.since is None or since < queued.since:
        queued.recent.clear()
        queued.since = since
    for chunk in chunks(addresses - queued.recent.keys()):
        for address in chunk:
            queued.recent[address] = []
        for recipient, at in session.connection().execute(
                _RECENT_EXTERNAL, {"addresses": chunk, "since": queued.since}):
            queued.recent[recipient].append(at)


_outbox = Outbox.__table__.c
_RECENT_EXTERNAL = (  # built once, on the table
    select(_outbox.recipient, _outbox.created_at)
    .where(_outbox.recipient.in_(bindparam("addresses", expanding=True)), _outbox.kind == "external",
           _outbox.created_at >= bindparam("since"), _outbox.status != "blocked"))


def prefetch_templates(session: Session, requirement_ids: Iterable[str], template_name: str) -> None:
    """Read, once for a batch, which of these requirements already queued a mail from ``template_name``.

    Why: ``has_template`` asked once per requirement, and in a backlog
    nearly every follow-up is on a requirement of its own.
    """
    queued, suffix = _queued(session), f"/{template_name}"
    wanted = {r for r in requirement_ids if r and (r, suffix) not in queued.templates}
    made_here = {r for r in wanted if created_here(session, r)}  # nothing of theirs is stored: no need to ask
    queued.templates.update(((rid, suffix), False) for rid in made_here)
    for chunk in chunks(wanted - made_here):
        found = set(session.connection().scalars(_WITH_TEMPLATE, {"ids": chunk, "like": f"%{suffix}"}))
        queued.templates.update(((rid, suffix), rid in found) for rid in chunk)


def has_template(session: Session, requirement_id: str, template_name: str) -> bool:
    """Whether this requirement already queued a mail from ``template_name`` (any language)."""
    suffix = f"/{template_name}"
    queued = _queued(session)
    if any(row.requirement_id == requirement_id and row.status != "blocked" and row.template.endswith(suffix)
           for row in queued.rows):
        return True
    # The database is asked once per transaction (a batch asks for all its threads at once); the
    # transaction's own rows are the ones above.
    prefetch_templates(session, [requirement_id], template_name)
    return queued.templates[(requirement_id, suffix)]


_WITH_TEMPLATE = (
    select(_outbox.requirement_id).distinct()
    .where(_outbox.requirement_id.in_(bindparam("ids", expanding=True)), _outbox.status != "blocked",
           _outbox.template.like(bindparam("like"))))


def list_outbox(session: Session, status: str | None = None, *, per: int = 200) -> Iterator[Outbox]:
    """The rows without the mails' bytes (``raw`` is read only when asked for, row by row), ``per`` at a time.

    Why: after a backlog the outbox holds tens of thousands of mails; listing
    7,730 of them with their bytes took the process to 137 MB, and a busy
    month adds hundreds of thousands.
    """
    return _rows(session, status, per, defer(Outbox.raw))


def stream_outbox(session: Session, status: str | None = None, *, per: int = 200) -> Iterator[Outbox]:
    """The rows with their bytes, ``per`` at a time: exporting a large outbox holds a few hundred mails."""
    return _rows(session, status, per)


def _rows(session: Session, status: str | None, per: int, *options: Any) -> Iterator[Outbox]:
    stmt = select(Outbox).options(*options).order_by(Outbox.id).execution_options(yield_per=per)
    if status:
        stmt = stmt.where(Outbox.status == status)
    yield from session.scalars(stmt)


def export_eml(rows: Iterable[Outbox], directory: Path) -> list[Path]:
    """Write queued mail as .eml files (the demo's stand-in for SMTP)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        name = f"{row.id:04d}-{row.requirement_id or 'none'}-{row.kind}-{row.template.replace('/', '_')}.eml"
        path = directory / name
        path.write_bytes(row.raw)
        written.append(path)
    return written
