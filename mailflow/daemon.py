"""`mailflow run`: watch every mailbox, send what is queued, stop cleanly.

One thread per mailbox waits in IMAP IDLE (the poller falls back to a
timed wait when the server has no IDLE) and polls when mail arrives; it
holds a lease on its mailbox so a second instance waits instead of
processing the same mail. One sender thread sends the outbox, woken the
moment a poll queued something, so an acknowledgement leaves within about
a second of the mail's arrival. One SLA thread ticks the clock every
minute: reminders, escalations, weekly progress mails. Network trouble is retried with backoff,
forever; database trouble too. SIGTERM/SIGINT set ``stop``: each poller
finishes the mail in hand (committed, flagged, checkpointed), gives its
lease back, and the process exits.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailflow.config import ImapConfig, secret
from mailflow.errors import MailflowError
from mailflow.fetch.imap import ImapMailbox, PollFailed
from mailflow.fetch.lease import MAILBOX_LEASE, LeaseLost, MailboxLease
from mailflow.pipeline import FAILED, Outcome
from mailflow.runtime import Runtime
from mailflow.send.sender import send_pending
from mailflow.sla.tick import tick

log = logging.getLogger("mailflow.daemon")
CHANGE_MARGIN = timedelta(minutes=5)  # SLA: a change committed late is still seen by the next minute pass


@dataclass(frozen=True)
class DaemonOptions:
    lease_seconds: float = MAILBOX_LEASE.total_seconds()  # a dead instance's mailbox is taken over after this long
    send_seconds: float = 30.0  # the sender also looks for due retries this often
    sla_seconds: float = 60.0  # the SLA clock ticks this often (deadlines are minutes apart at best)
    sla_full_every: timedelta = timedelta(hours=1)  # a full pass (every requirement), besides the one at start

    @property
    def idle_seconds(self) -> float:
        """One IDLE command (RFC 2177 allows 29 min): short enough that the lease is renewed twice per term."""
        return self.lease_seconds / 3
    max_backoff_seconds: float = 300.0  # reconnect waits double up to this


class _Stopping(Exception):
    """Raised after the mail in hand is done, to leave a poll early."""


class _LeaseLost(Exception):
    """Another instance holds this mailbox now; stand back and wait for the lease."""


def run(rt: Runtime, stop: threading.Event, options: DaemonOptions = DaemonOptions()) -> None:
    """Run until ``stop`` is set; returns once every thread has finished its mail in hand."""
    wake_sender = threading.Event()
    holder = f"{socket.gethostname()}:{os.getpid()}"
    threads = [threading.Thread(target=_watch, name=f"imap:{box.name}", daemon=True,
                                args=(rt, box, what, holder, stop, wake_sender, options))
               for box, what in _mailboxes(rt)]
    if rt.config.smtp.host:
        threads.append(threading.Thread(target=_send_loop, name="sender", daemon=True,
                                        args=(rt, stop, wake_sender, options)))
    else:
        log.warning("[smtp] host is not set: replies stay in the outbox (mailflow outbox list)")
    if threads:
        threads.append(threading.Thread(target=_sla_loop, name="sla", daemon=True,
                                        args=(rt, stop, wake_sender, options)))
    if not threads:
        raise MailflowError("nothing to do: no [imap] host or [[mailboxes]] and no [smtp] host configured")
    log.info("mailflow running: %s", ", ".join(t.name for t in threads))
    for thread in threads:
        thread.start()
    stop.wait()
    wake_sender.set()
    for thread in threads:
        thread.join()
    log.info("mailflow stopped")


def _mailboxes(rt: Runtime) -> list[tuple[ImapConfig, str]]:
    return [(box, "imap" if box is rt.config.imap else f"mailboxes[{box.name}]") for box in rt.config.imap_mailboxes]


def _watch(rt: Runtime, config: ImapConfig, what: str, holder: str, stop: threading.Event,
           wake_sender: threading.Event, options: DaemonOptions) -> None:
    """Hold the mailbox's lease, and poll whenever IDLE says mail arrived; reconnect on trouble."""
    lease = MailboxLease(rt.store, config, f"{holder}:{threading.current_thread().name}", rt.clock,
                         timedelta(seconds=options.lease_seconds))
    backoff = 1.0
    waiting_said = False
    while not stop.is_set():
        try:
            if not lease.take():
                if not waiting_said:
                    log.info("%s: another instance polls this mailbox; waiting", config.name)
                    waiting_said = True
                stop.wait(options.lease_seconds / 4)
                continue
            waiting_said = False
            with ImapMailbox(config, what=what) as box:
                log.info("%s: connected", config.name)
                backoff = 1.0
                while not stop.is_set():
                    _poll(rt, box, stop, wake_sender, lease)
                    if not lease.take():
                        raise _LeaseLost
                    box.idle_wait(options.idle_seconds, stop)
        except _Stopping:
            break
        except _LeaseLost:
            log.warning("%s: lease lost to another instance; standing back", config.name)
        except (PollFailed, MailflowError) as err:  # server down, login refused, database down: all retried
            log.warning("%s: %s; retrying in %.0f s", config.name, err, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, options.max_backoff_seconds)
        except Exception:  # a bug must not end the watch of a mailbox silently
            log.exception("%s: unexpected error; retrying in %.0f s", config.name, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, options.max_backoff_seconds)
    lease.give_back()  # a database down now: it runs out


def _poll(rt: Runtime, box: ImapMailbox, stop: threading.Event, wake_sender: threading.Event,
          lease: MailboxLease) -> None:
    """One poll; a long backlog keeps renewing the lease as it goes.

    A lost lease is raised as ``_LeaseLost``, which the poll lets through
    (``LeaseLost`` is a fetch error, which it would report as a failed poll
    to retry): the watch then stands back instead.
    """

    def done(outcome: Outcome) -> None:
        (log.warning if outcome.kind == FAILED else log.info)("%s", outcome.line())
        if outcome.queued:
            wake_sender.set()  # answer now, not at the next sender round
        if stop.is_set():
            raise _Stopping
        try:
            lease.keep()
        except LeaseLost:
            raise _LeaseLost from None  # after the batch in hand, which is committed and settled

    report = box.poll(rt, on_outcome=done)
    for line in report.lines:
        log.warning("%s", line)


def _sla_loop(rt: Runtime, stop: threading.Event, wake_sender: threading.Event, options: DaemonOptions) -> None:
    """Tick the SLA clock every ``sla_seconds``; a tick that fails is simply tried again next time.

    Several instances may tick at once: each deadline's notice is claimed
    with a unique row, so only one of them sends it. Between full passes (at
    start, then every ``sla_full_every``) a pass looks only at requirements
    whose time has come or that changed since the pass before; the margin
    covers a transaction that was still open when that pass began.
    """
    last: dict[str, datetime] = {}

    def once() -> None:
        start = rt.clock()
        full = "full" not in last or start - last["full"] >= options.sla_full_every
        report = tick(rt, start, changed_since=None if full else last["start"] - CHANGE_MARGIN)
        last["start"] = start
        if full:
            last["full"] = start
        if report.queued or report.breaches:
            log.info("%s", report.summary())
            wake_sender.set()
        for line in report.lines:
            log.warning("sla: %s", line)

    _repeat("sla", once, lambda: stop.wait(options.sla_seconds), stop)


def _send_loop(rt: Runtime, stop: threading.Event, wake: threading.Event, options: DaemonOptions) -> None:
    """Send due mail whenever woken, and every ``send_seconds`` for retries."""
    password = secret(rt.config.smtp, "smtp")

    def once() -> None:
        wake.clear()
        # A long outbox does not hold up a SIGTERM: the mails on their way finish, the rest is given back.
        report = send_pending(rt.store, rt.config.smtp, password, now=rt.clock, stop=stop)
        if report.sent or report.deferred or report.failed:
            log.info("outbox: %s", report.summary())
        for line in report.lines:
            log.warning("outbox: %s", line)

    _repeat("outbox", once, lambda: wake.wait(options.send_seconds), stop)


def _repeat(name: str, once: Callable[[], None], wait: Callable[[], object], stop: threading.Event) -> None:
    """Do ``once`` until stopped; trouble (a database or server down, a bug) is logged and tried again."""
    while not stop.is_set():
        try:
            once()
        except MailflowError as err:
            log.warning("%s: %s", name, err)
        except Exception:
            log.exception("%s: unexpected error", name)
        wait()
