"""One pass of the SLA clock: remind before a deadline, escalate at it, keep clients informed.

``mailflow sla tick`` runs one pass; ``mailflow run`` runs one a minute.
Each requirement is its own transaction: its notice is claimed (a row
whose unique key is the deadline) and its mail queued together, so a
crash, a restart or a second worker can never send the same reminder
twice, and a failure on one requirement does not hold up the others.

A full pass looks at every requirement that may need anything; that cost
about a millisecond each, a core's worth of work a minute at tens of thousands of
open requirements. So the record keeps when the next look is needed
(``tick_at``: the next reminder, deadline or progress mail; set on receipt
by the pipeline and after each look), and the
daemon's minute passes look only at requirements whose time has come, that
were never looked at, or that changed since the pass before (a change can
bring a deadline forward). A full pass still runs when the daemon starts and
every hour, so a changed SLA policy or calendar is picked up; where it finds
nothing to do, it writes nothing (see the end of ``_one``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow.classify.model import Staff
from mailflow.outgoing import notify_in
from mailflow.record.events import pending_events
from mailflow.record.requirements import SYSTEM_ACTOR, add_event, created_here
from mailflow.runtime import Runtime
from mailflow.sla.clock import FINISHED, Deadline, Facts, Step, deadlines, earliest_open, next_due, progress_due
from mailflow.store.session import chunks, transaction_state
from mailflow.store.tables import Event, Requirement, SlaNotice

log = logging.getLogger(__name__)
RECENT = timedelta(days=30)  # finished requirements are looked at this long for late, unrecorded breaches
LOOK_AGAIN = timedelta(days=1)  # a requirement with nothing ahead is still looked at daily: a cheap safety net


@dataclass
class TickReport:
    reminders: int = 0
    escalations: int = 0
    breaches: int = 0  # deadlines missed, recorded (escalated or found met late)
    progress: int = 0  # automatic progress mails to clients
    queued: int = 0  # mails queued
    looked_at: int = 0  # requirements looked at in this pass
    lines: list[str] = field(default_factory=list)  # one per requirement that could not be handled

    def summary(self) -> str:
        return (f"sla tick: {self.reminders} reminders, {self.escalations} escalations, "
                f"{self.breaches} breaches recorded, {self.progress} progress mails, {self.queued} mails queued")


def tick(rt: Runtime, now: datetime | None = None, *, changed_since: datetime | None = None) -> TickReport:
    """Look at every requirement whose clocks may need something now.

    Without ``changed_since``, a full pass. With it, only the requirements
    whose ``tick_at`` has come (or was never set) and those updated since
    ``changed_since``: the caller passes the start of its previous pass, less
    a margin for transactions that were still open then.
    """
    now = now or rt.clock()
    report = TickReport()
    wanted = [Requirement.merged_into.is_(None),
              or_(Requirement.status.not_in(FINISHED), Requirement.updated_at >= now - RECENT)]
    if changed_since is not None:
        wanted.append(or_(Requirement.tick_at.is_(None), Requirement.tick_at <= now,
                          Requirement.updated_at >= changed_since))
    with rt.store.session() as session:
        ids = session.scalars(select(Requirement.id).where(*wanted).order_by(Requirement.id)).all()
    report.looked_at = len(ids)
    for requirement_id in ids:
        try:
            with rt.store.session() as session:
                _one(session, requirement_id, rt, now, report)
        except Exception as err:  # one broken record must not stop the clock for the others
            log.exception("%s: SLA tick failed", requirement_id)
            report.lines.append(f"{requirement_id}: SLA tick failed: {err}")
    return report


def facts_of(session: Session, req: Requirement) -> Facts:
    """The clock's view of a requirement, read fresh from its process log.

    The log as stored (none, for a requirement this transaction made; as
    ``prefetch_steps`` read it, for one a batch asked about) plus the steps
    this transaction logged and has not written yet (``record.events``: in
    the order they were added, after the stored ones of the same time, as
    their ids will be).
    """
    keyed = [((at, 0, pk), Step(kind, at, actor, detail))
             for pk, kind, at, actor, detail in _stored_steps(session, req.id)]
    keyed += [((e["at"], 1, n), Step(e["kind"], e["at"], e["actor"], e["detail"]))
              for n, e in enumerate(pending_events(session, req.id))]
    return Facts(status=req.status, priority=req.priority, tier=req.customer_tier, started_at=req.created_at,
                 steps=tuple(step for _, step in sorted(keyed, key=lambda item: item[0])),
                 merged=req.merged_into is not None)


def _stored_steps(session: Session, requirement_id: str) -> Sequence[Sequence[Any]]:
    """(id, kind, at, actor, detail) of each step stored, in order."""
    if created_here(session, requirement_id):
        return []
    read = session.info.get(_READ_KEY)
    if read is not None and requirement_id in read:
        return read[requirement_id]
    return session.connection().execute(_STEPS, {"rid": requirement_id}).all()


_events = Event.__table__.c
_STEPS = (select(_events.id, _events.kind, _events.at, _events.actor, _events.detail)
          .where(_events.requirement_id == bindparam("rid")).order_by(_events.at, _events.id))
_STEPS_IN = (select(_events.requirement_id, _events.id, _events.kind, _events.at, _events.actor, _events.detail)
             .where(_events.requirement_id.in_(bindparam("rids", expanding=True)))
             .order_by(_events.requirement_id, _events.at, _events.id))
_READ_KEY = "mailflow.steps_read"


def prefetch_steps(session: Session, requirement_ids: Iterable[str]) -> None:
    """Read the stored logs of a batch's requirements in one statement, for ``facts_of`` to use.

    Why: every client follow-up moves its requirement's clocks
    (``refresh_due``), and reading the log was a statement per mail. This
    transaction writes its own steps only at its commit (``facts_of`` adds
    them from memory), so the log read here is what ``facts_of`` would read
    later, unless another worker commits a step in between: a moment earlier
    than a statement per mail, the same race. Staff commands, which lock their
    requirement first, drop what was read (``forget_steps``) and read the log
    after the lock.
    """
    read = transaction_state(session, _READ_KEY, dict)
    wanted = {r for r in requirement_ids if r and not created_here(session, r)} - read.keys()
    conn = session.connection()
    for chunk in chunks(wanted):
        found: dict[str, list[Sequence[Any]]] = {rid: [] for rid in chunk}
        for rid, *step in conn.execute(_STEPS_IN, {"rids": chunk}):
            found[rid].append(step)
        read.update(found)


def forget_steps(session: Session, requirement_id: str) -> None:
    """The requirement's log will be read from the database, not from what ``prefetch_steps`` read."""
    read = session.info.get(_READ_KEY)
    if read is not None:
        read.pop(requirement_id, None)


def refresh_due(session: Session, req: Requirement, rt: Runtime) -> None:
    """Set ``due_at`` to the earliest open deadline: after a priority change, an answer, a new policy."""
    req.due_at = next_due(facts_of(session, req), rt.sla, rt.calendar)


def _one(session: Session, requirement_id: str, rt: Runtime, now: datetime, report: TickReport) -> None:
    req = session.get(Requirement, requirement_id, with_for_update={"skip_locked": True})
    if req is None:  # another worker is on it right now: its tick covers it
        return
    facts = facts_of(session, req)
    sent = _sent(session, req.id)

    def claim(deadline: Deadline, kind: str) -> bool:
        key = (deadline.clock, deadline.due_at, kind)
        if key in sent or not _claim(session, req.id, deadline, kind, now):
            return False
        sent.add(key)
        return True

    clocks = deadlines(facts, rt.sla, rt.calendar)
    for deadline in clocks:
        escalated = (deadline.clock, deadline.due_at, "escalation") in sent  # its breach is recorded already
        if deadline.missed and not escalated and claim(deadline, "breach"):
            add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="sla_breach",
                      detail=f"{deadline.clock} due {_local(deadline.due_at, rt)}, met {_local(deadline.met_at, rt)}")
            report.breaches += 1
        if not deadline.open:
            continue
        if now >= deadline.due_at:
            if claim(deadline, "escalation"):
                add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="sla_breach",
                          detail=f"{deadline.clock} due {_local(deadline.due_at, rt)}: escalated")
                report.escalations += 1
                report.breaches += 1
                report.queued += _send(session, req, "sla_escalation", deadline, rt, now)
        elif now >= deadline.remind_at and claim(deadline, "reminder"):
            report.reminders += 1
            report.queued += _send(session, req, "sla_reminder", deadline, rt, now)
    progress = progress_due(facts, rt.sla, rt.calendar)
    if progress is not None and now >= progress:
        if claim(Deadline("progress", progress, progress, None), "progress"):
            add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="sla:progress",
                      detail=f"weekly progress mail: nothing sent to the client for {rt.sla.progress_every}")
            report.progress += 1
            report.queued += notify_in(session, req, "progress", rt, now)
    due = earliest_open(clocks)  # next_due, without computing the clocks again
    if due != req.due_at:
        req.due_at = due
    if progress is not None and now >= progress:  # just handled: the rhythm restarts from its own mail
        progress = progress_due(facts_of(session, req), rt.sla, rt.calendar)
    look = next_look(clocks, progress, sent, now)
    # ``tick_at`` is "look again no later than": one still ahead that is not later than needed is kept,
    # so a pass that finds nothing to do writes nothing. Rewriting it (a day on, each pass) was an
    # UPDATE and a commit waiting for the disk per open requirement, half of a full pass's time.
    if req.tick_at is None or req.tick_at <= now or look < req.tick_at:
        req.tick_at = look


def next_look(clocks: list[Deadline], progress: datetime | None, sent: set[tuple[str, datetime, str]],
              now: datetime) -> datetime:
    """When this requirement next needs the tick: the earliest notice not yet given that lies ahead.

    A notice whose time has passed was given in this pass, or by the worker
    that holds its row. With nothing ahead, the tick still looks again after
    LOOK_AGAIN; a change to the requirement brings the look forward anyway.
    """
    ahead: list[datetime] = []
    for deadline in clocks:
        if not deadline.open or (deadline.clock, deadline.due_at, "escalation") in sent:
            continue
        ahead.append(deadline.due_at)
        if (deadline.clock, deadline.due_at, "reminder") not in sent:
            ahead.append(deadline.remind_at)
    if progress is not None:
        ahead.append(progress)
    return min((t for t in ahead if t > now), default=now + LOOK_AGAIN)


def _sent(session: Session, requirement_id: str) -> set[tuple[str, datetime, str]]:
    """The notices already given: looked up first, so a minute's tick does not keep hitting the unique key."""
    return {(clock, due, kind) for clock, due, kind in session.connection().execute(_NOTICES, {"rid": requirement_id})}


_notices = SlaNotice.__table__.c
# Built once: building the statement anew for each requirement was a fifth of a full pass.
_NOTICES = select(_notices.clock, _notices.due_at, _notices.kind).where(_notices.requirement_id == bindparam("rid"))


def _claim(session: Session, requirement_id: str, deadline: Deadline, kind: str, now: datetime) -> bool:
    """Insert the notice row; False when it exists (given by another worker just now)."""
    try:
        with session.begin_nested():
            session.add(SlaNotice(requirement_id=requirement_id, clock=deadline.clock, due_at=deadline.due_at,
                                  kind=kind, created_at=now))
    except IntegrityError:
        return False
    return True


def _send(session: Session, req: Requirement, event: str, deadline: Deadline, rt: Runtime, now: datetime) -> int:
    managers = _managers(req, rt) if event == "sla_escalation" else ()
    return notify_in(session, req, event, rt, now, deadline=deadline.clock,
                     deadline_at=deadline.due_at.astimezone(rt.tz), escalate_to=managers)


def _managers(req: Requirement, rt: Runtime) -> tuple[Staff, ...]:
    """Whom an overdue requirement is escalated to: the owner's manager, else the lead of the team."""
    owner = rt.rules.staff_by_handle(req.owner) if req.owner else None
    team_name = owner.team if owner is not None and owner.team else req.team
    team = next((t for t in rt.rules.teams if t.name == team_name), None)
    for handle in (owner.manager if owner is not None else None, team.lead if team is not None else None):
        person = rt.rules.staff_by_handle(handle) if handle else None
        if person is not None and (owner is None or person.handle != owner.handle):
            return (person,)
    return ()


def _local(at: datetime | None, rt: Runtime) -> str:
    return at.astimezone(rt.tz).strftime("%Y-%m-%d %H:%M") if at is not None else "-"
