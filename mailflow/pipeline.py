"""process(raw bytes) -> Outcome: the one place the stages are chained.

fetch -> parse -> thread -> classify -> record -> reply -> (outbox)

All or nothing per mail: the requirement, its events, its messages and its
outbox rows are committed together or not at all, and only then may a
fetcher mark the source mail as done. ``process_batch`` commits up to
``BATCH_MAILS`` mails in one transaction, because a commit per mail was a
third of ingest's time; when any mail of a batch fails, the batch is rolled
back and done again one mail per transaction, so a bad mail still costs only
itself. Bad input never stops a batch: a mail that cannot be processed is
kept raw with the reason and reported in one line.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from mailflow.classify import classify
from mailflow.classify.model import Decision
from mailflow.commands.auth import authenticate
from mailflow.commands.run import run_commands
from mailflow.commands.syntax import has_tokens
from mailflow.errors import MailflowError
from mailflow.outgoing import FLOOD_WINDOW, prefetch_redirects, queue_event, reply_context
from mailflow.parse import parse
from mailflow.parse.ahead import Parsed, parse_many
from mailflow.parse.model import ParsedMail
from mailflow.record import lookup
from mailflow.record.client_replies import back_to_evaluation, react
from mailflow.record.ids import next_requirement_id
from mailflow.record.requirements import (
    attach_files,
    build_requirement,
    create_requirement,
    follow_up,
    store_incoming,
    store_message,
)
from mailflow.reply import drafts_for
from mailflow.reply.model import Draft, ReplyContext
from mailflow.runtime import Runtime, load_runtime
from mailflow.send.outbox import prefetch_recent
from mailflow.sla.calendar import Duration
from mailflow.sla.clock import Facts, deadlines, earliest_open
from mailflow.sla.tick import next_look, prefetch_steps, refresh_due
from mailflow.store.session import StoreError, db_reason, is_transient
from mailflow.store.tables import Message, Requirement
from mailflow.thread import references_for_reply, strip_tags, thread_keys

__all__ = ["Counts", "Outcome", "Runtime", "load_runtime", "process", "process_batch", "preview", "batches"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# What happened to one mail; the CLI counts these.
NEW, FOLLOW_UP, STAFF, DUPLICATE, AUTOMATED, FAILED = "new", "follow_up", "staff", "duplicate", "automated", "failed"


@dataclass(frozen=True)
class Outcome:
    kind: str
    source: str
    requirement_id: str | None = None
    reason: str = ""
    queued: int = 0  # mails put in the outbox
    quarantined: bool = False  # kept raw as unprocessable (now, or when it was first seen)

    def line(self) -> str:
        """The one line a person reads in a batch log."""
        queued = f"{self.queued} mail(s) queued" if self.queued else ""
        details = " | ".join(x for x in (self.requirement_id, self.reason, queued) if x)
        return f"{self.source}: {self.kind} {details}".rstrip()


@dataclass
class Counts:
    """Outcomes counted, not kept: what a summary line needs, in memory that does not grow with the backlog.

    Each outcome kept cost about 300 bytes with its source and requirement
    id: 30 MB for a backlog of 100,000 mails after an outage, of the 200 MB
    the service may use whatever the backlog. Whoever needs each outcome (the
    demo's list, a benchmark's check) takes them as they come.
    """

    by_kind: Counter[str] = field(default_factory=Counter)
    queued: int = 0  # mails put in the outbox

    def add(self, outcome: Outcome) -> None:
        self.by_kind[outcome.kind] += 1
        self.queued += outcome.queued

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def count(self, *kinds: str) -> int:
        return sum(self.by_kind[kind] for kind in kinds)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.by_kind + other.by_kind, self.queued + other.queued)


# Mails per transaction in process_batch, and their raw bytes. Each transaction costs something
# whatever its size (the commit waiting for the disk, the batch's prefetching statements, the ORM's
# flushes): 100 mails instead of 50 made a backlog of 10,000 generated mails 9-13% faster in three
# alternating pairs on a 2-core machine (2026-12-07), and 200 were no faster than 100 in two more.
# A larger batch holds more at once: with 8 MiB a batch, the backlog's peak went from 168 to 191 MB
# of the 200 MB allowed (``bench/memory.py``); with 4 MiB it is 176 MB. A batch that fails is done
# again one mail per transaction, so a larger one costs more then.
BATCH_MAILS = 100
BATCH_BYTES = 4 * 1024 * 1024  # a backlog of large mails stays within the memory bound


def batches(items: Iterable[T], size: Callable[[T], int]) -> Iterator[list[T]]:
    """Items grouped for ``process_batch``: at most BATCH_MAILS of them and BATCH_BYTES of ``size``."""
    batch: list[T] = []
    total = 0
    for item in items:
        if batch and (len(batch) >= BATCH_MAILS or total + size(item) > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size(item)
    if batch:
        yield batch


def process_batch(items: Sequence[tuple[bytes, str]], rt: Runtime,
                  parsed: Sequence[Parsed] | None = None) -> Iterator[Outcome]:
    """Ingest several mails in one transaction; on any failure, each on its own instead.

    Each mail stays all or nothing: a batch either commits every mail in it
    or none, and then ``process`` takes them one by one (a duplicate from
    another worker, a bad value, a bug: whatever failed costs that mail
    only). Outcomes are yielded as mails are committed, so a caller settles
    (flags, reports) exactly the mails that are safe; when the database
    itself fails one by one, StoreError comes after the mails before it.
    Mail that does not parse is quarantined on its own after the batch.
    ``parsed``: the mails already parsed elsewhere (``parse.ahead``), in order.
    """
    if len(items) <= 1 and parsed is None:
        yield from (process(raw, source, rt) for raw, source in items)
        return
    if parsed is None:
        parsed = parse_many([raw for raw, _ in items])
    mails = [mail if isinstance(mail, ParsedMail) else None for mail in parsed]
    try:
        with rt.store.session() as session:
            _prefetch(session, [mail for mail in mails if mail is not None], rt.clock())
            done = [_process_parsed(session, mail, raw, source, rt, rt.clock()) if mail is not None else None
                    for (raw, source), mail in zip(items, mails)]
    except Exception as err:  # noqa: BLE001 - one by one now; process() sorts out and reports each failure
        log.debug("batch of %d rolled back (%s); processing one by one", len(items), err)
        yield from (process(raw, source, rt) for raw, source in items)
        return
    for outcome, (raw, source) in zip(done, items):
        yield outcome if outcome is not None else process(raw, source, rt)


def process(raw: bytes, source: str, rt: Runtime) -> Outcome:
    """Ingest one mail. Raises (StoreError) only when the database itself is unusable."""
    now = rt.clock()
    try:
        mail = parse(raw)
    except MailflowError as err:
        return _quarantine(raw, source, str(err), rt, now)
    try:
        return _recorded(mail, raw, source, rt, now)
    except IntegrityError as err:
        # Usually another worker committed the same Message-ID between our check
        # and our insert; anything else must not be mistaken for a duplicate.
        with rt.store.session() as session:
            if lookup.seen_before(session, mail.message_id, mail.content_hash):
                return Outcome(DUPLICATE, source, reason="already ingested by another worker")
        return _quarantine(raw, source, f"database refused the record: {db_reason(err)}", rt, now)
    except DataError as err:
        # A value in this mail the database will not hold (e.g. an absurdly long header).
        return _quarantine(raw, source, f"database refused a value: {db_reason(err)}", rt, now)
    except DBAPIError as err:
        # The database is down or broken: stop here, the mail stays where it came from.
        raise StoreError(f"database: {db_reason(err)}; {source} was not ingested") from None
    except MailflowError as err:
        return _quarantine(raw, source, str(err), rt, now)
    except Exception as err:  # a bug must cost one mail, never the batch
        log.exception("processing %s failed", source)
        return _quarantine(raw, source, f"internal error: {type(err).__name__}: {err}", rt, now)


# Tries of one mail's transaction that another worker's transaction broke (``is_transient``).
TRANSIENT_TRIES = 5


def _recorded(mail: ParsedMail, raw: bytes, source: str, rt: Runtime, now: datetime) -> Outcome:
    """One mail in one transaction, done again when the database broke a deadlock by failing it."""
    for attempt in range(1, TRANSIENT_TRIES + 1):
        try:
            with rt.store.session() as session:
                return _process_parsed(session, mail, raw, source, rt, now)
        except DBAPIError as err:
            if attempt == TRANSIENT_TRIES or not is_transient(err):
                raise
            log.info("%s: %s; trying again (%d of %d)", source, db_reason(err), attempt + 1, TRANSIENT_TRIES)
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # apart from the worker it collided with
    raise AssertionError("unreachable")


def _quarantine(raw: bytes, source: str, reason: str, rt: Runtime, now: datetime) -> Outcome:
    """Keep an unprocessable mail raw, with the reason; ingesting it again is a no-op."""
    digest = hashlib.sha256(raw).hexdigest()
    already = Outcome(DUPLICATE, source, reason="already quarantined", quarantined=True)
    try:
        with rt.store.session() as session:
            if lookup.seen_before(session, None, digest):
                return already
            store_message(session, raw=raw, direction="in", at=now, content_hash=digest, source=source,
                          status="failed", reason=reason)
    except IntegrityError:  # another worker quarantined the same bytes a moment ago
        return already
    return Outcome(FAILED, source, reason=reason, quarantined=True)


def _process_parsed(session: Session, mail: ParsedMail, raw: bytes, source: str, rt: Runtime, now: datetime) -> Outcome:
    if lookup.seen_before(session, mail.message_id, mail.content_hash):
        return Outcome(DUPLICATE, source, reason=mail.message_id or "same content")

    requirement_id = _find_thread(session, mail)
    automated = mail.automated
    if automated is None and mail.sender.email in rt.rules.support_addresses:
        automated = "sent from our own support address"

    if requirement_id is not None:
        return _append(session, requirement_id, mail, raw, source, rt, now, automated)
    if automated is not None:
        store_incoming(session, mail, raw, at=now, source=source, requirement_id=None, status="automated",
                       reason=automated)
        return Outcome(AUTOMATED, source, reason=automated)
    return _create(session, mail, raw, source, rt, now)


def _prefetch(session: Session, mails: Sequence[ParsedMail], now: datetime) -> None:
    """What the batch's mails will ask the database (seen? which thread? how many replies to this
    address lately? the requirements they continue, and those requirements' logs), asked once for
    all of them."""
    keys = [thread_keys(mail) for mail in mails]
    lookup.prefetch(session,
                    message_ids=[*(m.message_id for m in mails if m.message_id), *(i for k in keys for i in k.message_ids)],
                    digests=[m.content_hash for m in mails if not m.message_id])
    prefetch_recent(session, [m.sender.email for m in mails], now - FLOOD_WINDOW)
    threads = [lookup.requirement_of_messages(session, k.message_ids) for k in keys]  # answered from the prefetch
    continued = [*(t for t in threads if t), *(tag for k in keys for tag in k.tags)]
    lookup.prefetch_requirements(session, continued)
    prefetch_redirects(session, continued)
    prefetch_steps(session, continued)


def _find_thread(session: Session, mail: ParsedMail) -> str | None:
    keys = thread_keys(mail)
    found = next((tag for tag in keys.tags if lookup.requirement_exists(session, tag)), None)
    if found is None:
        found = lookup.requirement_of_messages(session, keys.message_ids)
    return lookup.continued_in(session, found) if found is not None else None  # a merged duplicate's mail


def _create(session: Session, mail: ParsedMail, raw: bytes, source: str, rt: Runtime, now: datetime) -> Outcome:
    decision = classify(mail, rt.rules, lookup.open_workload(session))
    submitted_at = _submitted_at(mail, now)
    due_local = _answer_by(rt, now)
    requirement_id = next_requirement_id(session, submitted_at.astimezone(rt.tz))
    due, look = _first_clocks(rt, decision, now)
    req = create_requirement(session, requirement_id, _untagged(mail), decision, submitted_at=submitted_at,
                             due_at=due, now=now)
    req.tick_at = look  # a backlog of new requirements need not all be looked at by the next SLA tick
    lookup.counted_new_owner(session, req.owner)
    message = store_incoming(session, mail, raw, at=now, source=source, requirement_id=requirement_id)
    _attach(session, requirement_id, message, mail, rt, now)
    ctx = reply_context("received", req, rules=rt.rules, mail=mail, answer_by=due_local,
                        days=rt.config.general.answer_within_days, liaison=decision.sender_staff)
    ctx = replace(ctx, due_at=req.due_at.astimezone(rt.tz) if req.due_at else None)
    queued = _queue(session, req, ctx, mail, rt, now)
    return Outcome(NEW, source, requirement_id, reason=f"{decision.type}/{decision.priority} -> {decision.owner}",
                   queued=queued)


def _append(session: Session, requirement_id: str, mail: ParsedMail, raw: bytes, source: str, rt: Runtime,
            now: datetime, automated: str | None) -> Outcome:
    message = store_incoming(session, mail, raw, at=now, source=source, requirement_id=requirement_id,
                             status="automated" if automated else "ok", reason=automated or "")
    if automated is not None:
        follow_up(session, requirement_id, mail, now=now, kind="automated_reply")
        return Outcome(AUTOMATED, source, requirement_id, reason=automated)
    _attach(session, requirement_id, message, mail, rt, now)
    req = lookup.requirement(session, requirement_id)
    assert req is not None
    staff = rt.rules.staff_by_email(mail.sender.email)
    if staff is not None:
        follow_up(session, requirement_id, mail, now=now, kind=_staff_kind(mail, req, rt))
        if not has_tokens(mail.subject):
            refresh_due(session, req, rt)  # a colleague's own answer to the client meets the clock
            return Outcome(STAFF, source, requirement_id, reason="staff message appended")
        before = (req.owner, req.status)
        result = run_commands(session, req, mail, staff, rt, now)  # changes this requirement only
        lookup.moved_workload(session, before, (req.owner, req.status))
        return Outcome(STAFF, source, requirement_id, reason=result.reason, queued=result.queued)
    # A client's words: a subject with "#status:closed" in it is still just a client's mail.
    before = (req.owner, req.status)
    follow_up(session, requirement_id, mail, now=now)
    reaction = react(session, req, mail.reply_text, actor=mail.sender.email, now=now)
    due = req.due_at.astimezone(rt.tz) if req.due_at else None
    queued = 0
    for event in (*reaction.events, "service_redirect"):  # the redirect only for a service-stage client, once
        ctx = reply_context(event, req, rules=rt.rules, mail=mail, answer_by=due,
                            days=rt.config.general.answer_within_days, liaison=req.liaison)
        queued += _queue(session, req, ctx, mail, rt, now)
    if reaction.kind == "change_request":
        back_to_evaluation(session, req, mail.reply_text, actor=mail.sender.email, now=now)
    refresh_due(session, req, rt)  # reopened after a failed verification: its clocks run again
    lookup.moved_workload(session, before, (req.owner, req.status))
    return Outcome(FOLLOW_UP, source, requirement_id, reason=reaction.line, queued=queued)


def _staff_kind(mail: ParsedMail, req: Requirement, rt: Runtime) -> str:
    """``staff_to_client`` when our colleague answered the client directly (the client in To or Cc,
    support copied) and the mail is authenticated: an answer that meets the SLA clock. Anything
    else from staff is a ``staff_message``; a forged one must not stop a clock."""
    client = (req.submitter_email or "").lower()
    if not client or all(a.email.lower() != client for a in (*mail.to, *mail.cc)):
        return "staff_message"
    security = rt.config.security
    verdict = authenticate(mail.headers, mail.sender.email, trusted_authserv_ids=security.trusted_authserv_ids,
                           required=security.require_authenticated_staff)
    return "staff_to_client" if verdict.ok else "staff_message"


def _attach(session: Session, requirement_id: str, message: Message | None, mail: ParsedMail, rt: Runtime,
            now: datetime) -> None:
    attach_files(session, requirement_id, message, mail, root=rt.config.path(rt.config.paths.attachments),
                 max_bytes=rt.config.general.max_attachment_bytes, now=now)


def _queue(session: Session, req: Requirement, ctx: ReplyContext, mail: ParsedMail, rt: Runtime,
           now: datetime) -> int:
    """The event's mails, answering this mail (In-Reply-To it, References its thread)."""
    return queue_event(session, req, ctx, rt, now, in_reply_to=mail.message_id,
                       references=references_for_reply(mail))


def _answer_by(rt: Runtime, now: datetime) -> datetime:
    """When the first real answer is due, in the desk's local time: what the ack promises.

    The client is told the general promise (BRIEF §4: 3 working days); a
    high-priority or strategic clock may be tighter, and that stays internal.
    """
    return rt.calendar.add(now, Duration(rt.config.general.answer_within_days, "working_days"))


def _first_clocks(rt: Runtime, decision: Decision, now: datetime) -> tuple[datetime | None, datetime]:
    """The new requirement's ``due_at`` (its earliest SLA deadline: the clocks start on receipt) and
    when the SLA tick first needs to look at it (its first reminder)."""
    clocks = deadlines(Facts(status="new", priority=decision.priority, tier=decision.tier, started_at=now),
                       rt.sla, rt.calendar)
    return earliest_open(clocks), next_look(clocks, None, set(), now)


def _submitted_at(mail: ParsedMail, now: datetime) -> datetime:
    """The mail's own Date, unless missing or in the future (clocks lie)."""
    if mail.date is None or mail.date > now + timedelta(minutes=5):
        return now
    return mail.date.astimezone(timezone.utc)


def _untagged(mail: ParsedMail) -> ParsedMail:
    subject = strip_tags(mail.subject)
    return mail if subject == mail.subject else replace(mail, subject=subject)  # a copy only when it differs


def preview(mail: ParsedMail, rt: Runtime) -> tuple[Decision, list[Draft]]:
    """What processing this mail as new would decide and send, writing nothing."""
    with rt.store.session() as session:
        workload = lookup.open_workload(session)
    decision = classify(mail, rt.rules, workload)
    if mail.automated:
        return decision, []
    now = rt.clock()
    due_local = _answer_by(rt, now)
    req = build_requirement("REQ-PREVIEW", _untagged(mail), decision, submitted_at=_submitted_at(mail, now),
                            due_at=due_local, now=now)
    ctx = reply_context("received", req, rules=rt.rules, mail=mail, answer_by=due_local,
                        days=rt.config.general.answer_within_days, liaison=decision.sender_staff)
    return decision, drafts_for(ctx, rt.templates)
