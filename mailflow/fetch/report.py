"""What a poll did: the outcome of each mail, the lines a person should read, and the errors.

A report survives a failure: ``PollFailed`` carries what was done before
the connection or the server gave out, since all of that is committed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailflow.fetch.connect import FetchError
from mailflow.pipeline import Outcome

__all__ = ["PollFailed", "PollReport", "Tally"]


@dataclass(frozen=True)
class PollReport:
    """What one poll of one mailbox did; reports add up (``a + b``) for a summary over mailboxes."""

    mailboxes: tuple[str, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    lines: tuple[str, ...] = ()  # what a person should read: failed mail, re-syncs, trouble on the server
    errors: tuple[str, ...] = ()  # mailboxes that could not be polled at all (poll_all), one line each

    @property
    def fetched(self) -> int:
        return len(self.outcomes)

    def count(self, *kinds: str) -> int:
        counts = Counter(o.kind for o in self.outcomes)
        return sum(counts[k] for k in kinds)

    def __add__(self, other: PollReport) -> PollReport:
        return PollReport(self.mailboxes + other.mailboxes, self.outcomes + other.outcomes, self.lines + other.lines,
                          self.errors + other.errors)


class PollFailed(FetchError):
    """The connection could not be kept up; ``report`` says what was done before (all of it committed)."""

    def __init__(self, message: str, report: PollReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Tally:
    """Accumulates across a reconnect, so a dropped connection loses no count."""

    outcomes: list[Outcome] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def report(self, mailbox: str) -> PollReport:
        return PollReport((mailbox,), tuple(self.outcomes), tuple(self.lines))
