"""From the store to the report's ``Item``s: the only part of the report that reads the database.

A handful of set queries per month, not one per requirement, so a month
of thousands of requirements is read in well under a second. What counts:

- acknowledged: the first acknowledgement (or service redirect) we queued
  and did not hold, at the time it went out (queued time while pending);
- planned: the first plan proposed or confirmed;
- closed: ``completed_at``;
- breaches: deadlines missed, as recorded by the SLA clock (escalated at
  the deadline, or found met late).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from mailflow.report.figures import month_bounds
from mailflow.report.model import Item
from mailflow.store.session import chunks
from mailflow.store.tables import Event, Outbox, Requirement, SlaNotice

ACK_TEMPLATES = ("ack_presales", "ack_implementation", "redirect_service")
_DAY = timedelta(days=1)


# Of a request's description, what the report reads (common needs): its gist. A client who pastes a
# megabyte of log into a mail still asks for one thing, and a month of such mails must fit in memory.
DESCRIPTION_CHARS = 4000
_DESCRIPTION = func.substr(Requirement.description, 1, DESCRIPTION_CHARS)


def items_for_month(session: Session, month: str, tz: ZoneInfo, *, descriptions: bool = True) -> list[Item]:
    """Every requirement submitted in ``month`` (YYYY-MM, in the desk's time zone).

    ``descriptions=False`` leaves them out (``descriptions_of`` reads them
    a few hundred at a time): they are most of a busy month's memory.

    The month's requirements are named to the other queries by the same
    condition, not by a list of their ids: PostgreSQL's protocol takes at
    most 65,535 values in one statement (some SQLite builds 32,766), and a
    busy desk's month has more. The rows are read as columns, not as ORM
    objects: half the memory (21 against 43 MB for 6,546 requirements).
    """
    first, last = month_bounds(month)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last, time(0), tzinfo=tz) + _DAY
    r = Requirement
    in_month = select(r.id).where(r.submitted_at >= start, r.submitted_at < end)
    acked = (select(Outbox.requirement_id.label("id"),
                    func.min(func.coalesce(Outbox.sent_at, Outbox.created_at)).label("at"))
             .where(Outbox.requirement_id.in_(in_month), Outbox.status != "blocked",
                    or_(*(Outbox.template.like(f"%/{name}") for name in ACK_TEMPLATES)))
             .group_by(Outbox.requirement_id).subquery())
    planned = (select(Event.requirement_id.label("id"), func.min(Event.at).label("at"))
               .where(Event.requirement_id.in_(in_month), Event.kind.in_(("plan_proposed", "plan_confirmed")))
               .group_by(Event.requirement_id).subquery())
    breaches = (select(SlaNotice.requirement_id.label("id"), func.count().label("n"))
                .where(SlaNotice.requirement_id.in_(in_month), SlaNotice.kind.in_(("escalation", "breach")))
                .group_by(SlaNotice.requirement_id).subquery())
    description = _DESCRIPTION if descriptions else literal("")
    # The first acknowledgement, the first plan and the breaches come joined to each row, not as
    # dictionaries of the whole month beside it: those were a third of the month's memory at its peak.
    rows = session.execute(
        select(r.id, r.status, r.type, r.priority, r.customer, r.customer_key, r.customer_stage, r.customer_tier,
               r.submitter_name, r.submitter_email, r.language, r.subject, description, r.submitted_at,
               acked.c.at, planned.c.at, r.completed_at, breaches.c.n, r.verification, r.satisfaction)
        .outerjoin(acked, acked.c.id == r.id).outerjoin(planned, planned.c.id == r.id)
        .outerjoin(breaches, breaches.c.id == r.id)
        .where(r.submitted_at >= start, r.submitted_at < end).order_by(r.id)
        .execution_options(yield_per=1000))  # read as the items are made: not all the rows, then all the items
    one = _shared()
    return [Item(id=id_, status=one(status), type=one(type_), priority=one(priority), customer=one(customer),
                 customer_key=one(key), stage=one(stage), tier=one(tier), submitter_name=one(name) or "",
                 submitter_email=one(email) or "", language=one(language), subject=subject or "",
                 description=description or "", submitted_at=submitted, acknowledged_at=acked_at,
                 planned_at=planned_at, closed_at=completed, breaches=int(missed or 0),
                 verification=one(verification), satisfaction=one(satisfaction))
            for (id_, status, type_, priority, customer, key, stage, tier, name, email, language, subject,
                 description, submitted, acked_at, planned_at, completed, missed, verification, satisfaction)
            in rows]


def _shared() -> Callable[[str | None], str | None]:
    """One string object for each value of a column of few values (a status, a customer), or of
    values that repeat (a person who writes more than once: 1,500 people sent the generated month's
    6,546 requests, and sharing their names and addresses took 120 of the 750 bytes an item held).

    The driver gives each row its own copies; a busy month's items need one
    of each.
    """
    seen: dict[str, str] = {}

    def one(value: str | None) -> str | None:
        return None if value is None else seen.setdefault(value, value)

    return one


def descriptions_of(session: Session, ids: list[str]) -> dict[str, str]:
    """The descriptions of these requirements, as ``items_for_month`` reads them (the common needs' ``describe``)."""
    found: dict[str, str] = {}
    for chunk in chunks(ids):
        found.update(session.execute(select(Requirement.id, _DESCRIPTION).where(Requirement.id.in_(chunk))).all())
    return {key: value or "" for key, value in found.items()}
