"""Sending while ``poll --once`` works through a backlog, so the first client is answered in seconds.

``poll --once`` used to send only after the whole backlog was processed:
after an outage, 100,000 mails at a few hundred a second meant the first
acknowledgement went out minutes after its mail was read, while the brief
says to acknowledge "at once, on receipt" (§4). The daemon (``mailflow
run``) has a sender thread for this. A one-shot poll sends from the polling
thread instead, between mails: the first reply as soon as its mail is
committed, then every ``smtp.send_while_polling`` seconds of processing. A
second thread was measured and gained nothing (the two cores are already
busy with recording and the parsing process), and one thread keeps the
order plain: a reply is only sent after its mail's transaction committed.

A turn of sending begins no mail after ``TURN_SECONDS``, so an outbox that
was already long before the poll (a relay down since yesterday) cannot hold
the poll up for minutes and let its mailbox lease lapse; the rest goes at
the next turn or after the poll. A relay that stops a turn (down, or
pushing back) is left alone for a minute, as the sender leaves a deferred
mail, during the poll and after it: a short poll against a relay that is
down costs one attempt, not one per turn or one more at the end. A turn
that fails on our side (a missing password, the database) does not stop
the poll; the sending after it tries again and reports the error as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from mailflow.config import SmtpConfig
from mailflow.errors import MailflowError
from mailflow.send.sender import FIRST_RETRY, SendReport, send_pending
from mailflow.store.session import Store

# A turn of sending during the poll sends what is due, but begins no mail after TURN_SECONDS: a turn
# stays well inside the mailbox lease (2 minutes, renewed between mails) whatever the relay's pace.
TURN_SECONDS = 10.0


class WhilePolling:
    """Call ``after`` as each mail is done during the poll, ``finish`` once after it."""

    def __init__(self, store: Store, config: SmtpConfig, password: Callable[[], str], *,
                 now: Callable[[], datetime], monotonic: Callable[[], float] = time.monotonic,
                 stop: threading.Event | None = None) -> None:
        """``password`` is asked for at the first turn: a missing secret must not stop the poll itself
        (the mail is recorded and its replies wait in the outbox), only the sending."""
        self.store, self.config, self.password, self.now, self.monotonic = store, config, password, now, monotonic
        self.stop = stop  # set (a signal): a turn under way begins no further mail, and no turn starts
        self._last = -float("inf")  # the first reply goes at once; then a turn every send_while_polling s
        self._waiting = False  # a reply was queued since the last turn
        self._stopped_at: float | None = None  # when the relay last stopped a turn
        self._failed = False  # a turn failed on our side: no more turns; ``finish`` tries again
        self._turns: list[SendReport] = []

    def after(self, queued: int) -> None:
        """A mail is done and committed, ``queued`` replies with it: send when it is time.

        It is time when something was queued since the last turn,
        ``send_while_polling`` seconds have gone by, and the relay is not resting.
        """
        self._waiting = self._waiting or queued > 0
        if (not self._waiting or self._failed or self._resting() or (self.stop and self.stop.is_set())
                or self.monotonic() - self._last < self.config.send_while_polling):
            return
        try:
            report = send_pending(self.store, self.config, self.password(), now=self.now, within=TURN_SECONDS,
                                  stop=self.stop)
        except MailflowError as err:  # a secret or setting missing, the database down: ``finish`` raises it
            report, self._failed = SendReport(stopped=str(err)), True
        self._turns.append(report)
        self._stopped_at = self.monotonic() if report.stopped and not self._failed else None
        self._waiting = False
        self._last = self.monotonic()  # seconds of processing between turns, not counting the sending

    def finish(self) -> SendReport:
        """Send the rest; the report counts every turn. Raises what ``send_pending`` raises."""
        if self._resting():  # the relay stopped the last turn less than a minute ago: that is the answer
            return self.so_far()
        return self._sum(self._turns, send_pending(self.store, self.config, self.password(), now=self.now))

    def so_far(self) -> SendReport:
        """What the turns sent, sending nothing more (the poll was stopped)."""
        return self._sum(self._turns[:-1], self._turns[-1]) if self._turns else SendReport()

    @staticmethod
    def _sum(earlier: list[SendReport], last: SendReport) -> SendReport:
        """One report of the turns: ``last``'s stop is the answer, an earlier turn's stop a line."""
        lines: list[str] = []
        for report in earlier:
            lines += report.lines
            if report.stopped:
                lines.append(f"sending stopped during the poll ({report.stopped}); tried again later")
        turns = [*earlier, last]
        return SendReport(sent=sum(r.sent for r in turns), deferred=sum(r.deferred for r in turns),
                          failed=sum(r.failed for r in turns), lines=(*lines, *last.lines), stopped=last.stopped)

    def _resting(self) -> bool:
        return self._stopped_at is not None and self.monotonic() - self._stopped_at < FIRST_RETRY.total_seconds()

    @property
    def turns(self) -> int:
        """Turns of sending made during the poll, for tests and the curious."""
        return len(self._turns)
