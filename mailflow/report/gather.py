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

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.report.figures import month_bounds
from mailflow.report.model import Item
from mailflow.store.tables import Event, Outbox, Requirement, SlaNotice

ACK_TEMPLATES = ("ack_presales", "ack_implementation", "redirect_service")
_DAY = timedelta(days=1)


def items_for_month(session: Session, month: str, tz: ZoneInfo) -> list[Item]:
    """Every requirement submitted in ``month`` (YYYY-MM, in the desk's time zone)."""
    first, last = month_bounds(month)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last, time(0), tzinfo=tz) + _DAY
    reqs = session.scalars(select(Requirement).where(Requirement.submitted_at >= start,
                                                     Requirement.submitted_at < end)
                           .order_by(Requirement.id)).all()
    ids = [r.id for r in reqs]
    if not ids:
        return []
    acked = _first(session, select(Outbox.requirement_id, func.min(func.coalesce(Outbox.sent_at, Outbox.created_at)))
                   .where(Outbox.requirement_id.in_(ids), Outbox.status != "blocked",
                          or_(*(Outbox.template.like(f"%/{name}") for name in ACK_TEMPLATES)))
                   .group_by(Outbox.requirement_id))
    planned = _first(session, select(Event.requirement_id, func.min(Event.at))
                     .where(Event.requirement_id.in_(ids), Event.kind.in_(("plan_proposed", "plan_confirmed")))
                     .group_by(Event.requirement_id))
    breaches = dict(session.execute(
        select(SlaNotice.requirement_id, func.count())
        .where(SlaNotice.requirement_id.in_(ids), SlaNotice.kind.in_(("escalation", "breach")))
        .group_by(SlaNotice.requirement_id)).all())
    return [Item(id=r.id, status=r.status, type=r.type, priority=r.priority, customer=r.customer,
                 customer_key=r.customer_key, stage=r.customer_stage, tier=r.customer_tier,
                 submitter_name=r.submitter_name or "", submitter_email=r.submitter_email or "",
                 language=r.language, subject=r.subject or "", description=r.description or "",
                 submitted_at=r.submitted_at, acknowledged_at=acked.get(r.id), planned_at=planned.get(r.id),
                 closed_at=r.completed_at, breaches=int(breaches.get(r.id, 0)), verification=r.verification,
                 satisfaction=r.satisfaction)
            for r in reqs]


def _first(session: Session, query) -> dict[str, datetime]:  # type: ignore[no-untyped-def]
    """requirement -> earliest time; SQLite returns MIN() of a timestamp as text, so parse it back."""
    found: dict[str, datetime] = {}
    for requirement_id, value in session.execute(query).all():
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        found[requirement_id] = value
    return found
