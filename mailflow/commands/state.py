"""What commands work on: a snapshot of the record, and what applying them would do.

Commands are pure functions ``State -> State``: the runner applies every
command of a subject to a snapshot first, and writes to the record only if
all of them were accepted. That is how "all or nothing" holds without
undoing half-written rows, and why each command can be tested with a table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from mailflow.classify.model import Staff


class Refused(Exception):
    """A command that cannot be applied; the message is one line for the staff member."""


@dataclass(frozen=True)
class Mail:
    """A reply-engine event to queue after the commands are written, with its context fields."""

    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    """The record's fields that commands may change, and what the commands did so far."""

    requirement_id: str
    status: str
    owner: str | None
    priority: str
    type: str
    stage: str
    plan_version: str | None
    plan_date: date | None
    plan_confirmed: bool
    plan_confirmed_by: str | None
    plan_patch: str | None
    merged_into: str | None = None
    events: tuple[tuple[str, str], ...] = ()  # (kind, detail), in order
    mails: tuple[Mail, ...] = ()
    lines: tuple[str, ...] = ()  # what was done, one line per command, for the result mail

    def did(self, line: str, *, event: tuple[str, str] | None = None, mail: Mail | None = None,
            also: tuple[Mail, ...] = (), **changes: Any) -> State:
        """The state after one command: fields changed, and its event, mails and result line added."""
        return replace(self, **changes, lines=(*self.lines, line),
                       events=(*self.events, event) if event else self.events,
                       mails=(*self.mails, *((mail,) if mail else ()), *also))


@dataclass(frozen=True)
class Act:
    """Who commands, with what text, and what they may look up."""

    actor: Staff
    body: str  # the mail's own words, quoted history stripped
    lead: bool  # a lead (or manager): may assign others and override the status machine
    staff: Mapping[str, Staff]  # by handle
    now: datetime
    merge_problem: Callable[[str], str | None] = lambda _target: None  # why a merge target will not do

    @property
    def reason(self) -> str:
        """The body's first line: the reason logged with a change."""
        return next((line.strip() for line in self.body.splitlines() if line.strip()), "")


def because(act: Act) -> str:
    return f": {act.reason}" if act.reason else ""
