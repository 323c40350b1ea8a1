"""Which deadlines a requirement has, from its process log: pure, so it can be tested by table.

A clock starts when the desk received the mail (``started_at``) and is met
by something the client actually hears from a person: a ``#reply``, a plan,
a decline, the solution, or a colleague's own authenticated mail to the
client with support copied (``staff_to_client``). An assignment or an internal note is work, not an
answer, so it meets nothing. Once a requirement is finished (waiting for
verification, done, closed, cancelled, merged) its open clocks stop.
Everything here is computed from the record each time, never stored, so a
changed priority or policy simply gives new deadlines — and each deadline
is reminded and escalated once (``sla.tick`` keys its notices by clock and
due time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailflow.record.requirements import SYSTEM_ACTOR
from mailflow.sla.calendar import Duration, WorkCalendar
from mailflow.sla.policy import SlaPolicy

FINISHED = frozenset({"pending_verification", "done", "closed", "cancelled"})
# Process-log kinds that reach the client from a person (commands write these).
ANSWERS = frozenset({"reply", "staff_to_client", "plan_proposed", "plan_confirmed", "declined", "done", "merged",
                     "notify:staff_reply", "notify:need_info", "notify:plan_proposed", "notify:plan_confirmed",
                     "notify:declined", "notify:resolved"})
PLANS = frozenset({"plan_proposed", "plan_confirmed", "declined", "done", "merged"})
# What counts as news for the weekly progress rhythm: a person's answer, or our own progress mail.
NEWS = ANSWERS | {"sla:progress"}
MEETS = {"first_response": ANSWERS, "feedback": ANSWERS, "plan": PLANS}


@dataclass(frozen=True)
class Step:
    """One line of the process log, as the clock reads it."""

    kind: str
    at: datetime
    actor: str
    detail: str = ""


@dataclass(frozen=True)
class Facts:
    """What the clocks of one requirement depend on."""

    status: str
    priority: str
    tier: str
    started_at: datetime  # when the desk received the first mail
    steps: tuple[Step, ...] = ()  # oldest first
    merged: bool = False


@dataclass(frozen=True)
class Deadline:
    clock: str  # first_response | feedback | plan
    due_at: datetime
    remind_at: datetime
    met_at: datetime | None  # when it was met, or when the requirement finished; None while open

    @property
    def open(self) -> bool:
        return self.met_at is None

    @property
    def missed(self) -> bool:
        """Met late: a breach even if nobody was there to escalate it."""
        return self.met_at is not None and self.met_at > self.due_at


def deadlines(facts: Facts, policy: SlaPolicy, calendar: WorkCalendar) -> list[Deadline]:
    """Every clock of the requirement, earliest due first."""
    stopped = _finished_at(facts)
    found = []
    for clock, duration in policy.clocks_for(facts.priority, facts.tier).items():
        due = calendar.add(facts.started_at, duration)
        met = next((s.at for s in facts.steps if s.kind in MEETS[clock] and s.actor != SYSTEM_ACTOR), None)
        if met is None:
            met = stopped
        found.append(Deadline(clock, due, _remind_at(facts.started_at, due, policy.remind_at, calendar), met))
    return sorted(found, key=lambda d: (d.due_at, d.clock))


def next_due(facts: Facts, policy: SlaPolicy, calendar: WorkCalendar) -> datetime | None:
    """The requirement's ``due_at``: its earliest deadline still open, None when all are met."""
    return earliest_open(deadlines(facts, policy, calendar))


def earliest_open(clocks: list[Deadline]) -> datetime | None:
    """The first due time among clocks still open (``deadlines`` sorts them), None when all are met."""
    return next((d.due_at for d in clocks if d.open), None)


def progress_due(facts: Facts, policy: SlaPolicy, calendar: WorkCalendar) -> datetime | None:
    """When the client is next owed news, while the work is in progress; None otherwise.

    The rhythm restarts at every answer a person sent and at our own
    progress mail, so staff who write weekly never see an automatic one.
    """
    if facts.status != "in_progress" or facts.merged:
        return None
    last = facts.started_at
    for step in facts.steps:
        if step.kind in NEWS or (step.kind == "status" and _status_after(step.detail) == "in_progress"):
            last = max(last, step.at)
    return calendar.add(last, policy.progress_every)


def _remind_at(start: datetime, due: datetime, share: float, calendar: WorkCalendar) -> datetime:
    """When ``share`` of the clock has run, counted in the same working time as the clock."""
    total = calendar.elapsed_hours(start, due)
    return calendar.add(start, Duration(total * share, "hours")) if total > 0 else due


def _finished_at(facts: Facts) -> datetime | None:
    """When the requirement first stopped needing an answer (it may have been reopened since)."""
    if facts.status not in FINISHED and not facts.merged:
        return None
    for step in facts.steps:
        if step.kind in ("done", "declined", "merged"):
            return step.at
        if step.kind == "status" and _status_after(step.detail) in FINISHED:
            return step.at
    return facts.steps[-1].at if facts.steps else facts.started_at


def _status_after(detail: str) -> str:
    """``"new -> closed: reason"`` → ``"closed"``."""
    _, arrow, rest = detail.partition("->")
    return rest.split()[0].rstrip(":") if arrow and rest.split() else ""
