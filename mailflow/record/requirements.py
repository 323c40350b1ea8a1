"""Create requirements and append to them: the record stage's writes.

Each function adds rows to the caller's session and never commits: the
pipeline commits the record, its events and its outbox rows together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from mailflow.classify.model import Decision
from mailflow.parse.model import ParsedMail, SpooledMail
from mailflow.record.blob_writes import save_blob_soon
from mailflow.record.blobs import blob_path
from mailflow.record.events import add_event
from mailflow.record.lookup import note_stored, requirement, thread_of
from mailflow.store.session import pending, transaction_state, write_kept_rows
from mailflow.store.tables import Attachment, Message, Requirement

SYSTEM_ACTOR = "mailflow"
__all__ = ["SYSTEM_ACTOR", "add_event", "attach_files", "build_requirement", "create_requirement", "follow_up",
           "store_incoming", "store_message", "store_outgoing", "thread_mails", "write_thread"]


def store_message(
    session: Session,
    *,
    raw: bytes,
    direction: str,
    at: datetime,
    content_hash: str,
    message_id: str | None = None,
    from_addr: str = "",
    to_addrs: list[str] | None = None,
    subject: str = "",
    source: str = "",
    status: str = "ok",
    reason: str = "",
    requirement_id: str | None = None,
) -> Message:
    """Keep a mail verbatim; everything else about it can be re-derived from ``raw``.

    A spooled large mail (``SpooledMail``) keeps its light copy here and
    points at the original in the attachment store.
    """
    if requirement_id is not None:
        write_thread(session, requirement_id)  # its mails so far first: ids are the thread's order
    message = Message(
        requirement_id=requirement_id,
        message_id=message_id,
        content_hash=content_hash,
        direction=direction,
        status=status,
        reason=reason,
        from_addr=from_addr,
        to_addrs=to_addrs or [],
        subject=subject,
        at=at,
        source=source,
        raw=bytes(raw),
        raw_blob=raw.original if isinstance(raw, SpooledMail) else None,
    )
    session.add(message)
    note_stored(session, message_id=message_id, direction=direction, content_hash=content_hash,
                requirement_id=requirement_id)
    return message


# --- mail written later: our own, and incoming mail without attachments ------------------------

_LATER_KEY = "mailflow.messages_later"
_INSERT_MESSAGE = insert(Message.__table__)


@dataclass
class _Later:
    rows: list[dict[str, object]] = field(default_factory=list)
    requirements: set[str] = field(default_factory=set)


def store_outgoing(session: Session, *, raw: bytes, at: datetime, content_hash: str, message_id: str,
                   from_addr: str, to_addrs: list[str], subject: str, source: str,
                   requirement_id: str | None) -> None:
    """Keep the copy of a mail we send, as ``store_message`` would, written in one statement later.

    Why: nobody reads these rows back in the transaction that queues them,
    except a thread that grows or is answered again (``write_thread`` writes
    them first then), and an ORM object per row was a tenth of ingest's
    time. They are written, in the order queued, when the transaction
    commits; a rolled-back transaction takes them with it.
    """
    _keep(session, raw=raw, direction="out", at=at, content_hash=content_hash, message_id=message_id,
          from_addr=from_addr, to_addrs=to_addrs, subject=subject, source=source, status="ok", reason="",
          requirement_id=requirement_id)


def _keep(session: Session, *, raw: bytes, direction: str, at: datetime, content_hash: str,
          message_id: str | None, from_addr: str, to_addrs: list[str], subject: str, source: str, status: str,
          reason: str, requirement_id: str | None) -> None:
    """A message row for ``_write_later``, told to ``lookup`` as ``store_message`` does."""
    later = transaction_state(session, _LATER_KEY, _Later)
    later.rows.append({"requirement_id": requirement_id, "message_id": message_id, "content_hash": content_hash,
                       "direction": direction, "status": status, "reason": reason, "from_addr": from_addr,
                       "to_addrs": to_addrs, "subject": subject, "at": at, "source": source, "raw": bytes(raw),
                       "raw_blob": raw.original if isinstance(raw, SpooledMail) else None})
    if requirement_id is not None:
        later.requirements.add(requirement_id)
    note_stored(session, message_id=message_id, direction=direction, content_hash=content_hash,
                requirement_id=requirement_id)


def write_thread(session: Session, requirement_id: str) -> bool:
    """Write now the mails still waiting, if any is this requirement's; True if it did.

    Before the thread grows by a mail with attachments (an ORM object, which
    the commit flushes before the waiting rows), so that the messages' ids
    stay in the order they were said: the client's mail, our answer, the
    client's next mail.
    """
    later = session.info.get(_LATER_KEY)
    if later is not None and requirement_id in later.requirements:
        _write_later(session)
        return True
    return False


def thread_mails(session: Session, requirement_id: str) -> list[tuple[str | None, str, str]]:
    """The requirement's mails in the order they were said, this transaction's own included:
    (Message-ID, direction, sender), what an answer threads on.

    Read without writing anything: the stored rows, then the mails with
    attachments still pending, then the rows waiting for the commit (the
    order ``write_thread`` keeps). Writing them first cost each staff
    command a flush of the whole batch, a tenth of a backlog's ingest.
    """
    rows = thread_of(session, requirement_id)
    rows += [(m.message_id, m.direction, m.from_addr) for m in pending(session, Message)
             if m.requirement_id == requirement_id]
    later = session.info.get(_LATER_KEY)
    if later is not None and requirement_id in later.requirements:
        rows += [(row["message_id"], row["direction"], row["from_addr"]) for row in later.rows  # type: ignore[misc]
                 if row["requirement_id"] == requirement_id]
    return rows


@event.listens_for(Session, "before_commit")
def _write_later(session: Session) -> None:
    # Flushed first: the requirements they belong to, and the mails with attachments (ORM objects) before them.
    write_kept_rows(session, _LATER_KEY, _INSERT_MESSAGE, lambda later: later.rows)


def store_incoming(
    session: Session, mail: ParsedMail, raw: bytes, *, at: datetime, source: str, requirement_id: str | None,
    status: str = "ok", reason: str = "",
) -> Message | None:
    """Keep a client's or colleague's mail; the Message only where its attachments must point at it.

    Most mail has no attachment, and nothing reads its row back in the
    transaction except through ``lookup`` (which ``note_stored`` tells) and a
    thread that is answered (``write_thread``): then the row is kept and
    written with the outgoing ones, in one statement, in the order they came.
    An ORM object and a statement of its own per mail was a twentieth of
    ingest's time.
    """
    fields: dict[str, Any] = {
        "raw": raw, "direction": "in", "at": at, "content_hash": mail.content_hash, "message_id": mail.message_id,
        "from_addr": mail.sender.email, "to_addrs": [a.email for a in (*mail.to, *mail.cc)],
        "subject": mail.subject, "source": source, "status": status, "reason": reason,
        "requirement_id": requirement_id}
    if mail.attachments:
        return store_message(session, **fields)
    _keep(session, **fields)
    return None


def build_requirement(
    requirement_id: str,
    mail: ParsedMail,
    decision: Decision,
    *,
    submitted_at: datetime,
    due_at: datetime | None,
    now: datetime,
) -> Requirement:
    """The record a client's first mail makes, not yet in any session.

    Ingest stores it; ``rules explain`` renders replies from it without
    storing, so both see the very same record. When our own staff forward a
    client's mail, the record is the client's:
    the client is the submitter, their forwarded words are the description,
    and the staff member (who talks to the client) is the liaison.
    """
    forwarded = bool(decision.sender_staff and mail.forwarded_from and mail.forwarded_text)
    submitter = mail.forwarded_from if forwarded and mail.forwarded_from else mail.sender
    description = mail.forwarded_text if forwarded and mail.forwarded_text else mail.reply_text
    notes = f"forwarded by {decision.sender_staff}: {mail.reply_text}" if forwarded else ""
    return Requirement(
        id=requirement_id,
        status="new",
        type=decision.type,
        priority=decision.priority,
        customer=decision.customer,
        customer_key=decision.customer_key,
        customer_stage=decision.stage,
        customer_tier=decision.tier,
        partner=decision.partner,
        submitter_name=submitter.name,
        submitter_email=submitter.email,
        liaison=decision.sender_staff or decision.account_owner,
        account_owner=decision.account_owner,
        owner=decision.owner,
        team=decision.team,
        owner_reason=decision.owner_reason,
        subject=mail.subject,
        description=description,
        language=mail.language,
        tags=list(decision.tags),
        submitted_at=submitted_at,
        due_at=due_at,
        plan_confirmed=False,
        notes=notes,
        created_at=now,
        updated_at=now,
    )


_CREATED_KEY = "mailflow.created"


def created_here(session: Session, requirement_id: str) -> bool:
    """Was this requirement made by this very transaction? Then its outbox rows and log are all in memory.

    Its number was this transaction's alone and the record is invisible to
    every other until the commit, so no other can have written anything of
    it; and this transaction writes outbox rows and process-log steps only at
    its commit. Callers that would ask the database for those (the
    redirect-once check, the SLA clock's log) need not: in a backlog that
    was a query for most new requirements.
    """
    return requirement_id in session.info.get(_CREATED_KEY, ())


def create_requirement(
    session: Session,
    requirement_id: str,
    mail: ParsedMail,
    decision: Decision,
    *,
    submitted_at: datetime,
    due_at: datetime | None,
    now: datetime,
) -> Requirement:
    """A new record from a client's first mail, with the log of how it was routed."""
    req = build_requirement(requirement_id, mail, decision, submitted_at=submitted_at, due_at=due_at, now=now)
    session.add(req)  # flushed before its events and messages: their relationships order the inserts
    transaction_state(session, _CREATED_KEY, set).add(requirement_id)
    add_event(session, req.id, at=now, actor=mail.sender.email, kind="created",
              detail=f"received by email: {mail.subject}")
    fired = ", ".join(f"{h.rule} ({h.origin})" for h in decision.hits) or "no rule fired; defaults"
    add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="classified",
              detail=f"type={decision.type} priority={decision.priority} stage={decision.stage} "
                     f"tier={decision.tier} customer={decision.customer or '-'}; rules: {fired}")
    if decision.owner:
        add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="assigned",
                  detail=f"owner={decision.owner}: {decision.owner_reason}")
    for defect in mail.defects:
        add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="defect", detail=defect)
    return req


def attach_files(
    session: Session, requirement_id: str, message: Message | None, mail: ParsedMail, *, root: Path,
    max_bytes: int, now: datetime,
) -> list[Attachment]:
    """Write attachments to the blob store; an oversized one is logged, not saved.

    Nothing is lost either way: the raw message, attachment included, is kept
    in ``messages.raw`` (for a spooled large mail, in the store at
    ``messages.raw_blob``).
    """
    saved = []
    for att in mail.attachments:
        assert message is not None, "store_incoming gives a Message to every mail with attachments"
        if att.size > max_bytes:
            add_event(session, requirement_id, at=now, actor=SYSTEM_ACTOR, kind="attachment_skipped",
                      detail=f"{att.filename}: {att.size} bytes exceeds the {max_bytes}-byte limit; kept in the raw message")
            continue
        if att.data is None:  # spooled: already in the store
            rel = blob_path(att.sha256)
        else:
            rel = save_blob_soon(session, root, att.sha256, att.data)
        row = Attachment(requirement_id=requirement_id, message=message, filename=att.filename,
                         content_type=att.content_type, size=att.size, sha256=att.sha256, path=rel)
        session.add(row)
        saved.append(row)
    return saved


def follow_up(session: Session, requirement_id: str, mail: ParsedMail, *, now: datetime, kind: str = "follow_up") -> None:
    """Log that someone wrote again on an existing requirement."""
    req = requirement(session, requirement_id)
    if req is not None:
        req.updated_at = now
    add_event(session, requirement_id, at=now, actor=mail.sender.email, kind=kind, detail=mail.reply_text[:500])
