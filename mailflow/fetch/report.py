"""What a poll did: its mails counted by outcome, the lines a person should read, and the errors.

A report survives a failure: ``PollFailed`` carries what was done before
the connection or the server gave out, since all of that is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailflow.fetch.connect import FetchError
from mailflow.pipeline import Counts

__all__ = ["PollFailed", "PollReport", "Tally"]


@dataclass(frozen=True)
class PollReport:
    """What one poll of one mailbox did; reports add up (``a + b``) for a summary over mailboxes."""

    mailboxes: tuple[str, ...] = ()
    counts: Counts = field(default_factory=Counts)  # counted, not kept: a backlog of 100,000 stays small
    lines: tuple[str, ...] = ()  # what a person should read: failed mail, re-syncs, trouble on the server
    errors: tuple[str, ...] = ()  # mailboxes that could not be polled at all (poll_all), one line each

    @property
    def fetched(self) -> int:
        return self.counts.total

    def count(self, *kinds: str) -> int:
        return self.counts.count(*kinds)

    def __add__(self, other: PollReport) -> PollReport:
        return PollReport(self.mailboxes + other.mailboxes, self.counts + other.counts, self.lines + other.lines,
                          self.errors + other.errors)


class PollFailed(FetchError):
    """The connection could not be kept up; ``report`` says what was done before (all of it committed)."""

    def __init__(self, message: str, report: PollReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Tally:
    """Accumulates across a reconnect, so a dropped connection loses no count."""

    counts: Counts = field(default_factory=Counts)
    lines: list[str] = field(default_factory=list)

    def report(self, mailbox: str) -> PollReport:
        return PollReport((mailbox,), self.counts + Counts(), tuple(self.lines))
