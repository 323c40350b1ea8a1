"""Send the outbox: claim one row, send its stored bytes, record the answer; repeat.

The rule is *never lose, never double-send*, and where the two collide,
never lose. How each step serves it:

- **Claim before sending.** Due rows (``pending``, ``next_attempt_at`` NULL
  or past), up to ``CLAIM_BATCH`` per connection at a time, get
  ``attempts + 1`` and a lease (``next_attempt_at = now + LEASE``) in a
  committed transaction before a byte goes out. The claim is a compare-and-set (``UPDATE …
  RETURNING`` under the due condition) and, on PostgreSQL, the rows are
  selected ``FOR UPDATE SKIP LOCKED``: two workers never take the same row,
  on SQLite or PostgreSQL. Rows claimed but not tried when a batch stops are
  given back at once, with no attempt counted.
- **One row at a time per connection.** Each outcome is committed once the
  server has answered: ``sent`` with ``sent_at`` and the server's reply,
  for up to ``MARK_BATCH`` mails together (a commit that does not wait for
  the disk: ``Store.relaxed``; a crash before it, or of the machine, may
  forget them, and those mails go once more); a temporary failure stays ``pending`` with
  ``next_attempt_at = now + backoff(attempts)`` (1, 2, 4 … minutes, at most
  an hour; after ``smtp.max_attempts`` attempts, about a day, it is
  ``failed``); a permanent failure is ``failed`` with the server's answer.
  A ``sent`` row is never selected again; a ``blocked`` row never at all.
- **Several connections, one person's mail in order.** Up to
  ``smtp.connections`` connections carry a batch side by side, because a
  mail is three or four round trips to the relay and a backlog after an
  outage (thousands of acknowledgements) would otherwise wait on them one
  after another. The others open only after the server has answered the
  first connection's first mail, so a server that is down still costs one
  attempt; one the server will not take (a per-client connection limit)
  is dropped without touching a mail. A mail waits while an earlier mail
  to any of its recipients is on its way or still waiting, so everyone
  gets our mail in the order it was queued.
- **The window that remains (at-least-once).** If the process dies, or the
  database cannot be written, after the server accepted a mail but before
  ``sent`` is committed (at most the ``MARK_BATCH`` mails whose marks were
  waiting, and those on their way), the row is still ``pending`` under its lease and
  is sent again when the lease expires — with the *same* bytes and
  Message-ID, which lets most mail systems and clients drop the copy. The
  same holds when the connection breaks after the message was transmitted
  but before the server's reply arrived: the server may have kept it. No
  protocol over SMTP closes that window; the alternative (mark sent before
  sending) would lose mail instead, which is worse for a support desk.
- **Server down.** The first connection failure stops the batch: the row
  being attempted is deferred by its backoff, every other row is left
  untouched (no attempt was made for it, so none is counted), and the
  report says why. Nothing is lost; the next run retries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses
from time import monotonic

from sqlalchemy import ColumnElement, Select, bindparam, literal_column, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from mailflow.config import SmtpConfig
from mailflow.send.smtp import (
    AsyncSmtpSession,
    ConnectionFailure,
    Delivery,
    PermanentFailure,
    TemporaryFailure,
    envelope_sender,
)
from mailflow.store.session import Store, StoreError, db_reason
from mailflow.store.tables import Outbox

LEASE = timedelta(minutes=10)  # far beyond CLAIM_BATCH mails' connect + send timeouts
CLAIM_BATCH = 10  # rows claimed per transaction, per connection
# ``sent`` marks written per transaction. One transaction a mail was a fifth of sending's time
# (bench/imap.py's 7,730 replies: 186 µs a mail, most of it the transaction's own cost); the price
# is the at-least-once window above, a few mails wide instead of one.
MARK_BATCH = 10
FIRST_RETRY = timedelta(minutes=1)
# A relay that answers 4xx to mail after mail is pushing back (a rate limit, a quota, a full queue), not
# judging each mail: a batch stops after this many deferrals in a row, and the rest waits for the next
# batch instead of each mail spending an attempt. A batch also stops once it has deferred MAX_DEFERRED
# mails, because each claim names them to skip: with 90,000 deferred, every claim of ten rows would
# send 90,000 ids, and PostgreSQL takes at most 65,535 values in one statement.
DEFERRED_IN_A_ROW = 50
MAX_DEFERRED = 1000
LONGEST_RETRY = timedelta(hours=1)

__all__ = ["LEASE", "SendReport", "backoff", "send_pending"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    lines: tuple[str, ...] = ()  # one per mail not sent (deferred or failed) or sent to only some recipients
    stopped: str = ""  # why the batch stopped before the due mail ran out (the server unreachable, or pushing back)

    def summary(self) -> str:
        text = f"{self.sent} sent, {self.deferred} deferred, {self.failed} failed"
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 1, 2, 4, 8 … minutes, never more than an hour."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), LONGEST_RETRY)


@dataclass(frozen=True)
class _Claim:
    id: int
    message_id: str
    attempts: int
    raw: bytes
    recipients: tuple[str, ...] = field(default=())


def send_pending(
    store: Store,
    config: SmtpConfig,
    password: str,
    *,
    now: Callable[[], datetime],
    limit: int | None = None,
    within: float | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send every due outbox row (at most ``limit``), oldest first, over up to ``smtp.connections`` connections.

    ``within``: seconds after which no further mail is begun (the mails on
    their way finish; the rows claimed and not begun are given back), so a
    caller holding a lease can bound a turn of sending whatever the relay's pace.
    ``stop``, once set (a signal), ends the batch the same way: a mail is
    never cut off half sent, and nothing claimed waits out its lease.

    Raises ConfigError (nothing touched) for an unusable configuration and
    StoreError when the database fails; SMTP trouble is reported, not raised.
    """
    mail_from = envelope_sender(config)
    batch = _Batch(store, now, limit, config.connections,
                   until=None if within is None else monotonic() + within, stop=stop)
    try:
        asyncio.run(_send_all(batch, config, password, mail_from))
    finally:
        try:
            batch.record_sent()  # also when the batch stopped: what the server took is recorded
        finally:
            if batch.claimed:  # the batch stopped (server down, a failure): no attempt was made for these
                _release(store, batch.claimed)
    return SendReport(sent=batch.sent, deferred=batch.deferred, failed=batch.failed, lines=tuple(batch.lines),
                      stopped=batch.stopped)


class _Batch:
    """The rows claimed and not yet tried, what is on its way, and the tally, shared by the connections."""

    def __init__(self, store: Store, now: Callable[[], datetime], limit: int | None, connections: int, *,
                 until: float | None = None, stop: threading.Event | None = None) -> None:
        self.store, self.now, self.limit, self.connections, self.until = store, now, limit, connections, until
        self.stop = stop
        self.claimed: list[_Claim] = []  # taken under a lease, not yet tried, oldest first
        self.sending: set[str] = set()  # recipients of the mails on their way now
        # A row deferred by a minute must not come round again in a long batch. (Rows sent or failed
        # are not pending any more: only the deferred need naming, and MAX_DEFERRED bounds them.)
        self.deferred_ids: set[int] = set()
        self.tried = self.sent = self.deferred = self.failed = 0
        self.deferred_in_a_row = 0  # since the relay last took or refused a mail for good
        self.lines: list[str] = []
        self.stopped = ""  # why the batch stopped early: the server unreachable
        self.broken = False  # a connection failed with an error of ours (the database): stop taking mail
        self.answered = asyncio.Event()  # the server answered a first mail: more connections may open
        self.refused: list[str] = []  # why each extra connection the relay would not take was refused
        self.marks: list[tuple[str, dict[str, object]]] = []  # sent, not yet recorded: (Message-ID, values)
        self._drained = False  # the database had no more due rows
        self._changed = asyncio.Condition()

    async def take(self) -> _Claim | None:
        """The oldest claimed mail none of whose recipients is being sent to; None when the batch is over."""
        while not (self.stopped or self.broken) and (self.limit is None or self.tried < self.limit) \
                and (self.until is None or monotonic() < self.until) and not (self.stop and self.stop.is_set()):
            claim = self._first_free()
            if claim is not None:
                self.claimed.remove(claim)
                self.sending.update(_keys(claim))
                self.tried += 1
                return claim
            if not self._drained and len(self.claimed) < self.connections:  # too few to keep them all busy
                want = CLAIM_BATCH * self.connections - len(self.claimed)
                if self.limit is not None:
                    want = min(want, self.limit - self.tried - len(self.claimed))
                more = _claim(self.store, self.now(), self.deferred_ids, want) if want > 0 else []
                self.claimed += more
                self._drained = not more
                continue
            if not self.claimed:
                return None
            async with self._changed:  # all the claimed go to people a mail is on its way to: wait for it
                await self._changed.wait()
        return None

    def deferred_one(self, claim: _Claim, err: Exception) -> None:
        """The relay said "not now" to ``claim``, which waits for its next attempt."""
        self.deferred_ids.add(claim.id)
        self.deferred += 1
        self.pushed_back(err)

    def pushed_back(self, err: Exception) -> None:
        """A 4xx, whether the mail waits or has spent its last attempt: when it keeps coming, the batch stops.

        A mail on its last attempt counts too: a relay that rate-limits would
        otherwise fail every such mail of a backlog for good, and never stop.
        """
        self.deferred_in_a_row += 1
        if self.deferred_in_a_row >= DEFERRED_IN_A_ROW:
            self.stopped = self.stopped or (f"the relay deferred {self.deferred_in_a_row} mails in a row (the last: "
                                            f"{err}); the rest waits for the next batch")
        elif len(self.deferred_ids) >= MAX_DEFERRED:
            self.stopped = self.stopped or (f"{len(self.deferred_ids)} mails deferred in this batch; "
                                            "the rest waits for the next batch")

    def sent_one(self, claim: _Claim, delivery: Delivery) -> None:
        """The server took ``claim``: recorded with the next few (``MARK_BATCH``)."""
        self.deferred_in_a_row = 0
        self.marks.append((claim.message_id, {"b_id": claim.id, "b_status": "sent", "b_reason": delivery.line(),
                                              "b_next": None, "b_sent_at": self.now()}))
        self.sent += 1
        if len(self.marks) >= MARK_BATCH:
            self.record_sent()

    def record_sent(self) -> None:
        """Write the ``sent`` marks not yet written; raises StoreError naming the mails it could not record."""
        marks, self.marks = self.marks, []
        if marks:
            _record_sent(self.store, marks)

    def _first_free(self) -> _Claim | None:
        """The oldest claim whose recipients have no mail on its way, nor one waiting before it."""
        busy = set(self.sending)
        for claim in self.claimed:
            keys = _keys(claim)
            if busy.isdisjoint(keys):
                return claim
            busy |= keys  # its recipients' later mail waits for it
        return None

    async def done(self, claim: _Claim | None, *, broken: bool = False) -> None:
        """A mail's attempt is over (or, ``broken``, this connection stops the batch): wake the waiting."""
        if claim is not None:
            self.sending.difference_update(_keys(claim))
        self.broken = self.broken or broken
        async with self._changed:
            self._changed.notify_all()


def _keys(claim: _Claim) -> set[str]:
    return {address.lower() for address in claim.recipients}


async def _send_all(batch: _Batch, config: SmtpConfig, password: str, mail_from: str) -> None:
    """One connection until the server has answered a mail, then up to ``smtp.connections`` side by side.

    The first session is made before anything is claimed, so an unusable
    configuration (clear text to a remote relay, a CA file that will not
    load) raises ConfigError with nothing touched.
    """
    session = AsyncSmtpSession(config, password)
    first = asyncio.create_task(_connection(batch, session, mail_from, opened=False))
    answered = asyncio.create_task(batch.answered.wait())
    await asyncio.wait({first, answered}, return_when=asyncio.FIRST_COMPLETED)
    answered.cancel()
    tasks = [first]
    if batch.answered.is_set() and not first.done():  # as many more as there is mail waiting for them
        tasks += [asyncio.create_task(_connection(batch, session.another(), mail_from, opened=True))
                  for _ in range(min(config.connections - 1, len(batch.claimed)))]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    if batch.refused:  # once per batch: a relay that limits clients refuses the same way every time
        log.info("the relay refused %d of %d extra connection(s) (%s); sent over the other %d",
                 len(batch.refused), len(tasks) - 1, batch.refused[0], len(tasks) - len(batch.refused))
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _connection(batch: _Batch, smtp: AsyncSmtpSession, mail_from: str, *, opened: bool) -> None:
    """Send mail after mail over one connection until the batch is over.

    ``opened``: connect before taking a mail, so a connection the server
    refuses (beyond its limit per client) simply does not join the batch.
    """
    try:
        if opened:
            try:
                await smtp.open()
            except TemporaryFailure as err:
                batch.refused.append(str(err))
                return
        while (claim := await batch.take()) is not None:
            try:
                await _send_one(batch, smtp, claim, mail_from)
            except BaseException:
                await batch.done(claim, broken=True)  # the others finish the mail they hold and stop
                raise
            await batch.done(claim)
    except BaseException:
        await batch.done(None, broken=True)
        raise
    finally:
        await smtp.close()


async def _send_one(batch: _Batch, smtp: AsyncSmtpSession, claim: _Claim, mail_from: str) -> None:
    store, config = batch.store, smtp.config
    try:
        if not claim.recipients:
            raise PermanentFailure("no recipient address in the outbox row")
        delivery = await smtp.send(claim.raw, mail_from=mail_from, recipients=claim.recipients)
    except PermanentFailure as err:
        _finish(store, claim, status="failed", reason=str(err))
        batch.failed += 1
        batch.deferred_in_a_row = 0  # an answer about this mail: the relay is judging mail, not pushing back
        batch.lines.append(f"{claim.message_id}: failed: {err}")
    except TemporaryFailure as err:
        if claim.attempts >= config.max_attempts:
            reason = f"gave up after {claim.attempts} attempts: {err}"
            _finish(store, claim, status="failed", reason=reason)
            batch.failed += 1
            batch.lines.append(f"{claim.message_id}: failed: {reason}")
            batch.pushed_back(err)
        else:
            retry_at = batch.now() + backoff(claim.attempts)
            _finish(store, claim, status="pending", reason=str(err), next_attempt_at=retry_at)
            batch.lines.append(f"{claim.message_id}: deferred to {retry_at.isoformat(timespec='seconds')} "
                               f"(attempt {claim.attempts}): {err}")
            batch.deferred_one(claim, err)
        if isinstance(err, ConnectionFailure):
            batch.stopped = batch.stopped or str(err)
            return
    else:
        batch.sent_one(claim, delivery)
        if delivery.refused:
            batch.lines.append(f"{claim.message_id}: sent, but {delivery.line()}")
    batch.answered.set()  # sent, or refused for this mail alone: the server takes mail from us


def _claim(store: Store, now: datetime, skip: set[int], want: int) -> list[_Claim]:
    """Take up to ``want`` of the oldest due rows under a lease, committed before anything is sent.

    One transaction for several rows: a commit per claimed row was half of
    sending's time. ``UPDATE … RETURNING`` with the due condition is the
    compare-and-set: a row another worker took in between is simply not
    returned.
    """
    due = _due(now)
    try:
        with store.session() as session:
            ids = session.scalars(due_rows(now, skip, want)).all()
            if not ids:
                return []
            rows = session.execute(
                update(Outbox).where(Outbox.id.in_(ids), *due)
                .values(attempts=Outbox.attempts + 1, next_attempt_at=now + LEASE)
                .returning(Outbox.id, Outbox.message_id, Outbox.attempts, Outbox.raw, Outbox.to_addrs,
                           Outbox.cc_addrs)
                .execution_options(synchronize_session=False)
            ).all()
    except SQLAlchemyError as err:
        raise StoreError(f"outbox: cannot claim a mail to send: {db_reason(err)}") from None
    return [_Claim(id=row.id, message_id=row.message_id, attempts=row.attempts, raw=row.raw,
                   recipients=_recipients([*(row.to_addrs or []), *(row.cc_addrs or [])]))
            for row in sorted(rows, key=lambda row: row.id)]


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    # 'pending' as a literal, as ix_outbox_pending's condition says it: a planner proves from it that the
    # partial index holds every row wanted, also in a plan made before the values are known.
    return (Outbox.status == literal_column("'pending'"),
            or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now))


def due_rows(now: datetime, skip: set[int], want: int) -> Select[tuple[int]]:
    """The ids of the ``want`` oldest due rows not in ``skip``, locked, others' locks skipped.

    Read through ``ix_outbox_pending`` (the pending rows alone): without it
    PostgreSQL walked past every mail ever sent, 119 ms a claim after
    900,000 of them.
    """
    stmt = select(Outbox.id).where(*_due(now))
    if skip:
        stmt = stmt.where(Outbox.id.not_in(sorted(skip)))
    return stmt.order_by(Outbox.id).limit(want).with_for_update(skip_locked=True)


def _release(store: Store, claims: list[_Claim]) -> None:
    """Give back rows claimed but never tried: due again at once, and no attempt counted."""
    try:
        with store.session() as session:
            for claim in claims:
                session.execute(update(Outbox).where(Outbox.id == claim.id, Outbox.status == "pending",
                                                     Outbox.attempts == claim.attempts)
                                .values(attempts=claim.attempts - 1, next_attempt_at=None)
                                .execution_options(synchronize_session=False))
    except SQLAlchemyError as err:  # their lease runs out and they are sent then: nothing is lost
        raise StoreError(f"outbox: cannot give back {len(claims)} claimed mail(s): {db_reason(err)}") from None


def _finish(store: Store, claim: _Claim, *, status: str, reason: str,
            next_attempt_at: datetime | None = None) -> None:
    """Commit a failure or a deferral at once, so a crash later in the batch cannot undo it."""
    values = {"b_id": claim.id, "b_status": status, "b_reason": reason, "b_next": next_attempt_at}
    try:
        with store.session() as session:
            session.connection().execute(_MARK, values)
    except SQLAlchemyError as err:
        raise StoreError(f"outbox {claim.message_id}: cannot record '{status}': {db_reason(err)}; "
                         "it will be retried when its lease ends") from None


def _record_sent(store: Store, marks: list[tuple[str, dict[str, object]]]) -> None:
    """Commit mails the server took, in one transaction that does not wait for the disk.

    Losing it (a crash of the machine) would only send them once more, with
    the same Message-ID; waiting for the disk there was half of sending's time.
    """
    try:
        with store.relaxed() as conn:
            conn.execute(_MARK_SENT, [values for _, values in marks])
    except SQLAlchemyError as err:
        names = ", ".join(message_id for message_id, _ in marks)
        raise StoreError(f"outbox {names}: cannot record 'sent': {db_reason(err)}; "
                         f"{'it was' if len(marks) == 1 else f'these {len(marks)} were'} sent but not recorded, "
                         "and will be sent again (same Message-ID) when the lease ends") from None


_outbox = Outbox.__table__
_MARK = (update(_outbox).where(_outbox.c.id == bindparam("b_id"))  # built once: it runs for every mail
         .values(status=bindparam("b_status"), reason=bindparam("b_reason"), next_attempt_at=bindparam("b_next")))
_MARK_SENT = _MARK.values(sent_at=bindparam("b_sent_at"))


def _recipients(values: list[str]) -> tuple[str, ...]:
    """Bare envelope addresses from ``a@b`` / ``Name <a@b>``, each once (case-insensitively)."""
    seen: dict[str, str] = {}
    for _name, address in getaddresses(values):
        if "@" in address:
            seen.setdefault(address.lower(), address)
    return tuple(seen.values())

