"""A staff mail's subject commands, applied to its requirement: all of them, or none.

Order of checks, each of which refuses the whole subject: is the sender
who the From header says (``auth``), is every token a valid command
(``syntax``), may this person use each one (``permissions``), does each
one make sense for the record now (the command modules, on a snapshot),
and would any mail it sends to the client promise what no confirmed plan
allows (the commitment guard). Only then is anything written. Refusals are
logged on the requirement (as security events when the sender could not be
trusted or had no right) and reported to the sender and the owner.
Runs inside the mail's transaction: the pipeline commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from mailflow.classify.model import Staff
from mailflow.commands import COMMANDS
from mailflow.commands.auth import authenticate
from mailflow.commands.permissions import is_lead, refusal
from mailflow.commands.state import Act, Refused, State
from mailflow.commands.syntax import parse_subject
from mailflow.outgoing import client_thread, guard_hold, queue_event, reply_context
from mailflow.parse.model import ParsedMail
from mailflow.record import lookup
from mailflow.record.requirements import add_event
from mailflow.reply.guard import Plan
from mailflow.reply.model import Draft, ReplyContext
from mailflow.runtime import Runtime
from mailflow.send.outbox import enqueue
from mailflow.sla.tick import forget_steps, refresh_due
from mailflow.store.tables import Requirement
from mailflow.thread import references_for_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandOutcome:
    reason: str  # one line for the ingest log
    queued: int  # mails queued to be sent


def run_commands(session: Session, req: Requirement, mail: ParsedMail, staff: Staff, rt: Runtime,
                 now: datetime) -> CommandOutcome:
    """Apply the subject's commands to ``req`` as ``staff``, or refuse them all and say why."""
    lookup.lock(session, req)  # two staff mails on one requirement: one after the other
    forget_steps(session, req.id)  # its clocks from the log as it is now, under the lock
    parsed = parse_subject(mail.subject)
    security = rt.config.security
    verdict = authenticate(mail.headers, mail.sender.email, trusted_authserv_ids=security.trusted_authserv_ids,
                           required=security.require_authenticated_staff)
    if not verdict.ok:
        return _refuse(session, req, mail, staff, rt, now, [f"the sender could not be authenticated: {verdict.reason}"],
                       security=True)
    if parsed.errors:
        return _refuse(session, req, mail, staff, rt, now, list(parsed.errors))
    own = (req.owner, req.liaison, req.account_owner)
    denied = [reason for command in parsed.commands if (reason := refusal(staff, command, own=own))]
    if denied:
        return _refuse(session, req, mail, staff, rt, now, denied, security=True)

    act = Act(actor=staff, body=mail.reply_text, lead=is_lead(staff), staff={s.handle: s for s in rt.rules.staff},
              now=now, merge_problem=lambda target: _merge_problem(session, req.id, target))
    state, problems = snapshot(req), []
    for command in parsed.commands:
        try:
            state = COMMANDS[command.word](state, command.value, act)
        except Refused as err:
            problems.append(str(err))
    if problems:
        return _refuse(session, req, mail, staff, rt, now, problems)

    held = _guard(req, state, staff, rt)
    if held is not None:
        return _hold(session, req, mail, staff, rt, now, *held)

    _write(session, req, state, staff, now)
    refresh_due(session, req, rt)  # a new priority, an answer or a plan moves the next deadline
    queued = 0
    last_in, references = client_thread(req)
    for out in state.mails:
        ctx = replace(_context(out.event, req, rt), recipient=staff, **out.fields)
        queued += queue_event(session, req, ctx, rt, now, in_reply_to=last_in, references=references)
    result = replace(_context("command_result", req, rt), recipient=staff, command_lines=state.lines)
    queued += queue_event(session, req, result, rt, now, in_reply_to=mail.message_id,
                          references=references_for_reply(mail))
    return CommandOutcome("; ".join(c.raw for c in parsed.commands) + f" by {staff.handle}", queued)


def snapshot(req: Requirement) -> State:
    return State(requirement_id=req.id, status=req.status, owner=req.owner, priority=req.priority, type=req.type,
                 stage=req.customer_stage, plan_version=req.plan_version,
                 plan_date=date.fromisoformat(req.plan_date) if req.plan_date else None,
                 plan_confirmed=bool(req.plan_confirmed), plan_confirmed_by=req.plan_confirmed_by,
                 plan_patch=req.plan_patch, merged_into=req.merged_into)


def _write(session: Session, req: Requirement, state: State, staff: Staff, now: datetime) -> None:
    if state.owner != req.owner:
        detail = next((d for kind, d in state.events if kind == "assigned"), "")
        req.owner_reason = f"assigned by {staff.handle} on {now.date().isoformat()} ({detail})"
    req.status, req.owner, req.priority, req.type = state.status, state.owner, state.priority, state.type
    req.customer_stage = state.stage
    req.plan_version, req.plan_patch = state.plan_version, state.plan_patch
    req.plan_date = state.plan_date.isoformat() if state.plan_date else None
    req.plan_confirmed, req.plan_confirmed_by = state.plan_confirmed, state.plan_confirmed_by
    if state.merged_into and state.merged_into != req.merged_into:
        add_event(session, state.merged_into, at=now, actor=staff.handle, kind="merged_from", detail=req.id)
    req.merged_into = state.merged_into
    req.updated_at = now
    for kind, detail in state.events:
        add_event(session, req.id, at=now, actor=staff.handle, kind=kind, detail=detail)


def _guard(req: Requirement, state: State, staff: Staff, rt: Runtime) -> tuple[str, Draft, str] | None:
    """(command event, draft, reason) for the first client mail the guard would hold under the new plan."""
    plan = Plan(version=state.plan_version, date=state.plan_date.isoformat() if state.plan_date else None,
                patch=state.plan_patch, confirmed=state.plan_confirmed)
    for out in state.mails:
        ctx = replace(_context(out.event, req, rt), recipient=staff, plan_version=state.plan_version,
                      plan_date=state.plan_date, plan_confirmed=state.plan_confirmed, plan_patch=state.plan_patch,
                      **out.fields)
        held = guard_hold(ctx, plan, rt)
        if held is not None:
            return out.event, held[0], held[1]
    return None


def _hold(session: Session, req: Requirement, mail: ParsedMail, staff: Staff, rt: Runtime, now: datetime,
          event: str, draft: Draft, reason: str) -> CommandOutcome:
    """Keep the mail the guard held (status blocked, for the record) and refuse the commands with it."""
    last_in, references = client_thread(req)
    enqueue(session, req.id, draft, sender=rt.sender, in_reply_to=last_in, references=references, now=now,
            status="blocked", reason=reason)
    add_event(session, req.id, at=now, actor=staff.handle, kind="mail_held",
              detail=f"{draft.template} to {', '.join(draft.to)}: {reason}")
    note = ("计划确认(#confirm)之前,给客户的邮件不能说或暗示“会做”。被拦下的原文:\n" + draft.text)
    return _refuse(session, req, mail, staff, rt, now, [f"{event}: the mail to the client was held: {reason}"],
                   message=note)


def _refuse(session: Session, req: Requirement, mail: ParsedMail, staff: Staff, rt: Runtime, now: datetime,
            lines: list[str], *, security: bool = False, message: str = "") -> CommandOutcome:
    actor = staff.handle if not security else f"{mail.sender.email} (as {staff.handle})"
    kind = "security:command_refused" if security else "command_refused"
    add_event(session, req.id, at=now, actor=actor, kind=kind, detail=f"{mail.subject} | {'; '.join(lines)}")
    if security:
        log.warning("%s: commands refused from %s: %s", req.id, mail.sender.email, "; ".join(lines))
    ctx = replace(_context("command_refused", req, rt), recipient=staff, command_lines=tuple(lines),
                  message=message)
    queued = queue_event(session, req, ctx, rt, now, in_reply_to=mail.message_id,
                         references=references_for_reply(mail))
    return CommandOutcome(f"commands refused: {'; '.join(lines)}", queued)


def _context(event: str, req: Requirement, rt: Runtime) -> ReplyContext:
    due = req.due_at.astimezone(rt.tz) if req.due_at else None
    return reply_context(event, req, rules=rt.rules, mail=None, answer_by=due,
                         days=rt.config.general.answer_within_days, liaison=req.liaison)


def _merge_problem(session: Session, requirement_id: str, target: str) -> str | None:
    if not lookup.requirement_exists(session, target):
        return f"there is no {target}"
    if lookup.continued_in(session, target) == requirement_id:
        return f"{target} is already merged into {requirement_id}"
    return None
