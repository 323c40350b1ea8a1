"""The development plan of a requirement: proposed, then confirmed.

Only a confirmed plan (version, date, and who confirmed it) unlocks
committal wording in mail to the client, so confirming is its own step with
its own event, never a side effect of proposing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from mailflow.errors import MailflowError
from mailflow.record.requirements import add_event
from mailflow.store.tables import Requirement


def _get(session: Session, requirement_id: str) -> Requirement:
    req = session.get(Requirement, requirement_id)
    if req is None:
        raise MailflowError(f"no requirement {requirement_id}")
    return req


def propose_plan(session: Session, requirement_id: str, *, version: str, planned: date, actor: str,
                 now: datetime) -> Requirement:
    """Record a possible plan; replies stay non-committal until it is confirmed.

    A new proposal after a confirmation withdraws the confirmation: the
    client may only be promised what is confirmed now.
    """
    req = _get(session, requirement_id)
    changed = req.plan_confirmed and (req.plan_version != version or req.plan_date != planned.isoformat())
    req.plan_version, req.plan_date = version, planned.isoformat()
    if changed:
        req.plan_confirmed, req.plan_confirmed_by = False, None
    req.updated_at = now
    add_event(session, requirement_id, at=now, actor=actor, kind="plan_proposed",
              detail=f"{version} @ {planned.isoformat()}" + ("; earlier confirmation withdrawn" if changed else ""))
    return req


def confirm_plan(session: Session, requirement_id: str, *, actor: str, now: datetime) -> Requirement:
    """Confirm the proposed plan; from now on mail may name its version and date."""
    req = _get(session, requirement_id)
    if not req.plan_version or not req.plan_date:
        raise MailflowError(f"{requirement_id}: no plan to confirm; propose a version and date first")
    req.plan_confirmed, req.plan_confirmed_by = True, actor
    req.updated_at = now
    add_event(session, requirement_id, at=now, actor=actor, kind="plan_confirmed",
              detail=f"{req.plan_version} @ {req.plan_date}")
    return req


def set_patch(session: Session, requirement_id: str, *, patch: str, actor: str, now: datetime) -> Requirement:
    req = _get(session, requirement_id)
    req.plan_patch = patch
    req.updated_at = now
    add_event(session, requirement_id, at=now, actor=actor, kind="patch", detail=patch)
    return req
