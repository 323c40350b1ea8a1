"""From a requirement and an event to queued mail: context, drafts, gate, outbox.

Both the ingest pipeline and later callers (staff commands, the SLA clock)
send mail only through ``queue_event``/``notify``, so no mail can reach the
outbox without passing the gate (right recipients, no loops, no floods, no
unconfirmed promises).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, object_session

from mailflow.classify.model import Rules
from mailflow.errors import MailflowError, TemplateError
from mailflow.parse.model import Address, ParsedMail
from mailflow.record.requirements import SYSTEM_ACTOR, add_event, thread_mails
from mailflow.reply import drafts_for
from mailflow.reply.gate import guard_reason, hold_reason
from mailflow.reply.guard import Plan
from mailflow.reply.model import Draft, ReplyContext
from mailflow.runtime import Runtime
from mailflow.send.outbox import enqueue, has_template, prefetch_templates, recent_external
from mailflow.store.tables import Requirement
from mailflow.thread import strip_tags

log = logging.getLogger(__name__)
FLOOD_WINDOW = timedelta(hours=1)  # max_auto_replies_per_hour counts the mails queued in this window
REDIRECT = "redirect_service"  # the template a service-stage client gets once per thread


def queue_event(session: Session, req: Requirement, ctx: ReplyContext, rt: Runtime, now: datetime, *,
                in_reply_to: str | None, references: tuple[str, ...]) -> int:
    """Render the event's mails, pass each through the gate, queue it or hold it.

    Returns how many were queued to be sent. A mail held by the commitment
    guard is kept (status ``blocked``, with the reason) and its owner is told.
    A template that fails to render costs that event's mails, never the
    client's record: the failure is logged on the requirement.
    """
    plan = Plan(version=req.plan_version, date=req.plan_date, patch=req.plan_patch,
                confirmed=bool(req.plan_confirmed))
    try:
        drafts = drafts_for(ctx, rt.templates)
    except TemplateError as err:
        log.error("%s: %s mail not rendered: %s", req.id, ctx.event, err)
        add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="reply_failed", detail=f"{ctx.event}: {err}")
        return 0
    addresses = sorted({a.lower() for d in drafts if d.kind == "external" for a in (*d.to, *d.cc)})
    recent = recent_external(session, addresses, now - FLOOD_WINDOW)
    staff_emails = frozenset(s.email for s in rt.rules.staff)
    own = frozenset((*rt.rules.support_addresses, rt.sender.email))
    queued = 0
    for draft in drafts:
        if draft.template.endswith(f"/{REDIRECT}") and has_template(session, req.id, REDIRECT):
            continue  # the client is redirected once per thread, not at every mail
        reason = hold_reason(draft, plan=plan, commitment=rt.commitment, staff_emails=staff_emails,
                             own_addresses=own, recent_auto_replies=recent,
                             max_auto_replies_per_hour=rt.config.general.max_auto_replies_per_hour,
                             client_words=(ctx.subject, ctx.description))
        enqueue(session, req.id, draft, sender=rt.sender, in_reply_to=in_reply_to, references=references,
                now=now, status="blocked" if reason else "pending", reason=reason or "")
        if reason is None:
            queued += 1
            if draft.kind == "external":
                for address in {a.lower() for a in (*draft.to, *draft.cc)}:
                    recent[address] = recent.get(address, 0) + 1
            continue
        add_event(session, req.id, at=now, actor=SYSTEM_ACTOR, kind="mail_held",
                  detail=f"{draft.template} to {', '.join(draft.to)}: {reason}")
        if reason.startswith("commitment guard") and ctx.event != "blocked_notice":
            notice = replace(ctx, event="blocked_notice", blocked_reason=reason, blocked_text=draft.text)
            queued += queue_event(session, req, notice, rt, now, in_reply_to=in_reply_to, references=references)
    return queued


def prefetch_redirects(session: Session, requirement_ids: list[str]) -> None:
    """Ask once for a batch which of these threads had their one service redirect already."""
    prefetch_templates(session, requirement_ids, REDIRECT)


def guard_hold(ctx: ReplyContext, plan: Plan, rt: Runtime) -> tuple[Draft, str] | None:
    """The first of the event's mails the commitment guard would hold, and why; None when all may go.

    Staff commands ask before they change anything, so a committal ``#reply``
    refuses its whole subject instead of leaving it half applied. A template
    that fails is not the guard's business: ``queue_event`` logs it.
    """
    try:
        drafts = drafts_for(ctx, rt.templates)
    except TemplateError:
        return None
    for draft in drafts:
        reason = guard_reason(draft, plan=plan, commitment=rt.commitment, client_words=(ctx.subject, ctx.description))
        if reason is not None:
            return draft, reason
    return None


def notify(rt: Runtime, requirement_id: str, event: str, *, actor: str = SYSTEM_ACTOR, **fields: object) -> int:
    """Send an event's mails for an existing requirement, through the same gate.

    What staff commands and the SLA clock call: ``fields`` fill the
    ReplyContext (``message``, ``items``, ``workaround`` …). One transaction.
    """
    now = rt.clock()
    with rt.store.session() as session:
        req = session.get(Requirement, requirement_id)
        if req is None:
            raise MailflowError(f"no requirement {requirement_id}")
        return notify_in(session, req, event, rt, now, actor=actor, **fields)


def notify_in(session: Session, req: Requirement, event: str, rt: Runtime, now: datetime, *,
              actor: str = SYSTEM_ACTOR, **fields: object) -> int:
    """``notify`` inside the caller's transaction: the SLA clock claims its notice and queues in one."""
    last_in, references = client_thread(req)
    due = req.due_at.astimezone(rt.tz) if req.due_at else None
    ctx = reply_context(event, req, rules=rt.rules, mail=None, answer_by=due,
                        days=rt.config.general.answer_within_days, liaison=req.liaison)
    ctx = replace(ctx, **fields)  # type: ignore[arg-type]
    add_event(session, req.id, at=now, actor=actor, kind=f"notify:{event}")
    return queue_event(session, req, ctx, rt, now, in_reply_to=last_in, references=references)


def client_thread(req: Requirement) -> tuple[str | None, tuple[str, ...]]:
    """What a mail about the requirement answers: the client's last mail, in the thread of all we have.

    Not a staff member's mail (a command, a forward): the client never saw those.
    """
    session = object_session(req)
    if session is None:  # a record outside any transaction: nothing to thread on
        return None, ()
    thread = thread_mails(session, req.id)
    references = tuple(mid for mid, _, _ in thread if mid)
    last_in = next((mid for mid, direction, sender in reversed(thread)
                    if direction == "in" and mid and sender == req.submitter_email), None)
    return last_in, references


def reply_context(event: str, req: Requirement, *, rules: Rules, mail: ParsedMail | None,
                  answer_by: datetime | None, days: int, liaison: str | None) -> ReplyContext:
    """The facts templates may use. ``liaison`` is set on a new requirement only
    when our own staff wrote in (the acknowledgement then goes to them), and on
    a follow-up it is whoever talks to the client (they are kept informed)."""
    staff = rules.staff_by_handle
    return ReplyContext(
        event=event,
        requirement_id=req.id,
        # The requirement's own subject: a thread's "RE: 回复: 请验证:…" would pile up in every later mail.
        subject=req.subject or (strip_tags(mail.subject) if mail is not None else ""),
        description=mail.reply_text if mail is not None and event != "received" else req.description,
        language=req.language,
        stage=req.customer_stage,
        tier=req.customer_tier,
        customer=req.customer,
        partner=req.partner,
        type=req.type,
        priority=req.priority,
        submitter=Address(req.submitter_name, req.submitter_email),
        owner=staff(req.owner) if req.owner else None,
        account_owner=staff(req.account_owner) if req.account_owner else None,
        liaison=staff(liaison) if liaison else None,
        answer_by=answer_by,
        answer_within_days=days,
        # After receipt callers pass the record's due_at as answer_by; on receipt answer_by is the
        # client's promise (3 working days) and the pipeline sets the SLA's own deadline itself.
        due_at=answer_by if event != "received" else None,
        attachments=tuple(a.filename for a in mail.attachments) if mail is not None else (),
        owner_reason=req.owner_reason or "",
        plan_version=req.plan_version,
        plan_date=date.fromisoformat(req.plan_date) if req.plan_date else None,
        plan_patch=req.plan_patch,
        plan_confirmed=bool(req.plan_confirmed),
        mail_text=mail.text if mail is not None else req.description,
    )


