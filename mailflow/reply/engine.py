"""Which mails an event produces, for whom, and from which template.

The choice follows the client's stage (BRIEF §1): a prospect gets a careful
acknowledgement; a client in implementation gets the same plus a numbered
request for what we still need; a client after acceptance is answered only
by their assigned service contact, so the client gets a polite redirect and
the contact an internal note. That last rule holds for every later mail
meant for the client too: it goes to the contact, worded for them to pass on.
Whoever owns the work is always told. The wording itself lives in
``reply_templates/`` where admins can change it; this module only decides,
so it stays testable without reading any prose.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailflow.classify.model import STAGES, Staff
from mailflow.parse.model import Address
from mailflow.reply.missing import missing_items
from mailflow.reply.model import EVENTS, Draft, ReplyContext
from mailflow.reply.render import Templates

LANGUAGES = ("zh", "en")
FALLBACK_LANGUAGE = "en"  # a client writing in neither language reads English more often than Chinese
INTERNAL_LANGUAGE = "zh"  # our staff's language

# Events whose mail is meant for the client, and the template that words it.
CLIENT_TEMPLATES = {
    "need_info": "need_info",
    "progress": "progress",
    "plan_proposed": "plan_proposed",
    "plan_confirmed": "plan_confirmed",
    "declined": "declined",
    "resolved": "resolved",
    "verification_request": "verification_request",
    "satisfaction_request": "satisfaction_request",
    "staff_reply": "staff_reply",
    "merged": "merged",
}
# Events that tell the owner about the client, copying whoever else talks to them.
OWNER_TEMPLATES = {
    "follow_up": "follow_up",
    "verification_failed": "verification_failed",
    "verification_passed": "verification_passed",
    "client_reply": "client_reply",
    "change_request": "change_request",
}
STAFF_TEMPLATES = ("command_result", "command_refused", "blocked_notice", "sla_reminder", "sla_escalation")
TEMPLATE_NAMES = ("ack_presales", "ack_implementation", "redirect_service", "new_requirement",
                  "service_request", *CLIENT_TEMPLATES.values(), *OWNER_TEMPLATES.values(), *STAFF_TEMPLATES)
REQUIRED = tuple(f"{lang}/{name}" for lang in LANGUAGES for name in TEMPLATE_NAMES)
# Templates whose words reach a client, directly or passed on by our staff: the
# commitment guard checks these whatever the envelope says.
CLIENT_FACING = frozenset({"ack_presales", "ack_implementation", "redirect_service", *CLIENT_TEMPLATES.values()})
# The only templates that may say something will be / has been done (BRIEF §2).
COMMITTAL_TEMPLATES = frozenset({"plan_confirmed", "resolved"})

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "zh": {
        "type": {"improvement": "功能优化", "bug": "问题修复", "feature": "新功能开发", "service": "服务支持",
                 "other": "其他"},
        "priority": {"high": "高", "medium": "中", "low": "低"},
        "stage": {"presales": "售前", "implementation": "实施中", "service": "已验收(服务期)"},
        "tier": {"strategic": "战略客户", "core": "核心客户", "standard": "普通客户"},
    },
    "en": {
        "type": {"improvement": "improvement", "bug": "bug fix", "feature": "new feature", "service": "service",
                 "other": "other"},
        "priority": {"high": "high", "medium": "medium", "low": "low"},
        "stage": {"presales": "pre-sales", "implementation": "in implementation", "service": "accepted (service)"},
        "tier": {"strategic": "strategic", "core": "core", "standard": "standard"},
    },
}


@dataclass(frozen=True)
class _Mail:
    """One mail decided, not yet worded."""

    kind: str  # external | internal
    name: str  # template name
    language: str
    to: Staff | Address
    cc: tuple[Staff, ...] = ()
    greet: str | None = None  # whom the text greets, when not the addressee (a mail to pass on)
    forward_for: str | None = None  # set when our staff get a client's mail to pass on: to whom


def drafts_for(ctx: ReplyContext, templates: Templates, *,
               internal_language: str = INTERNAL_LANGUAGE) -> list[Draft]:
    """Every mail this event sends, rendered; raises TemplateError rather than send a broken one.

    An event without the facts it needs (a decline with no reason, a
    confirmation with no confirmed plan) is the caller's mistake, and a
    ValueError: better no mail than one that breaks the careful-reply rule.
    """
    if ctx.event not in EVENTS:
        raise ValueError(f"unknown reply event {ctx.event!r}")
    lacking = missing_facts(ctx)
    if lacking:
        raise ValueError(f"reply event {ctx.event!r} needs {', '.join(lacking)}")
    language = ctx.language if ctx.language in LANGUAGES else FALLBACK_LANGUAGE
    if ctx.event == "received":
        plan = _received(ctx, language, internal_language)
    elif ctx.event in CLIENT_TEMPLATES:
        plan = _to_client(ctx, CLIENT_TEMPLATES[ctx.event], language)
    elif ctx.event in OWNER_TEMPLATES:
        plan = _to_owner(ctx, OWNER_TEMPLATES[ctx.event], internal_language)
    elif ctx.event == "service_redirect":
        plan = _redirect(ctx, language)
    else:
        plan = _to_staff(ctx, internal_language)
    return [_render(mail, ctx, templates) for mail in plan]


def missing_facts(ctx: ReplyContext) -> tuple[str, ...]:
    """What the event needs that the context lacks, in words; () when it can be sent.

    Staff commands check this first, so a ``#decline`` without a workaround
    is refused with a reason instead of reaching the client half-said.
    """
    need: list[str] = []
    event = ctx.event
    if event == "need_info" and not any(i.strip() for i in ctx.items):
        need.append("items (what to ask the client for)")
    if event == "declined":
        if not ctx.message.strip():
            need.append("message (the reason it cannot be done)")
        if not ctx.workaround.strip() and not ctx.alternatives:
            need.append("workaround or alternatives")
    if event == "plan_confirmed" and not (ctx.plan_confirmed and ctx.plan_version and ctx.plan_date):
        need.append("a confirmed plan (plan_confirmed, plan_version, plan_date)")
    if event == "resolved" and not ctx.resolution.strip():
        need.append("resolution (how it was solved)")
    if event == "staff_reply" and not ctx.message.strip():
        need.append("message (the text for the client)")
    if event == "merged" and not ctx.merged_into:
        need.append("merged_into")
    if event in ("command_result", "command_refused"):
        if ctx.recipient is None:
            need.append("recipient")
        if not ctx.command_lines:
            need.append("command_lines")
    if event == "blocked_notice" and not (ctx.blocked_reason and ctx.blocked_text):
        need.append("blocked_reason and blocked_text")
    if event in ("sla_reminder", "sla_escalation") and not (ctx.deadline and ctx.deadline_at):
        need.append("deadline and deadline_at")
    return tuple(need)


def _received(ctx: ReplyContext, language: str, internal: str) -> list[_Mail]:
    stage = _stage(ctx)
    contact = (ctx.account_owner or ctx.owner) if stage == "service" else None
    ack = "ack_implementation" if stage == "implementation" else "ack_presales"
    mails: list[_Mail] = []
    if ctx.liaison is not None:
        # Our own staff wrote in: they talk to the client, so they get the careful
        # acknowledgement (worded for forwarding) instead of the client.
        mails.append(_Mail("internal", ack, language, ctx.liaison))
    elif ctx.submitter.email:
        if stage == "service":
            mails.append(_Mail("external", "redirect_service", language, ctx.submitter))
        else:
            mails.append(_Mail("external", ack, language, ctx.submitter))
    told: set[str] = set()
    if contact is not None and not _same(contact, ctx.liaison):
        mails.append(_Mail("internal", "service_request", internal, contact))
        told.add(contact.email)
    if ctx.owner is not None and ctx.owner.email not in told:
        mails.append(_Mail("internal", "new_requirement", internal, ctx.owner))
    return mails


def _to_client(ctx: ReplyContext, name: str, language: str) -> list[_Mail]:
    """The client's mail, or, when the client is not ours to write to, our person who is.

    After acceptance only the account owner writes to the client (BRIEF §1);
    when our own staff raised the requirement, the client is theirs. Either
    way the text stays in the client's language, ready to pass on.
    """
    by_staff = _raised_by_staff(ctx)
    if _stage(ctx) == "service":
        target = ctx.account_owner or ctx.owner
    elif by_staff or not ctx.submitter.email:
        target = ctx.liaison
    else:
        return [_Mail("external", name, language, ctx.submitter)]
    if target is None:
        return []
    client = not by_staff and bool(ctx.submitter.email)
    cc = (ctx.liaison,) if ctx.liaison is not None and not _same(ctx.liaison, target) else ()
    return [_Mail("internal", name, language, target, cc, greet=ctx.submitter.name if client else "",
                  forward_for=str(ctx.submitter) if client else (ctx.customer or ""))]


def _redirect(ctx: ReplyContext, language: str) -> list[_Mail]:
    """The redirect alone, for a client after acceptance who wrote to us directly."""
    by_staff = _raised_by_staff(ctx)
    if _stage(ctx) != "service" or by_staff or not ctx.submitter.email:
        return []  # a client we answer ourselves, or our own staff, needs no redirect
    return [_Mail("external", "redirect_service", language, ctx.submitter)]


def _to_owner(ctx: ReplyContext, name: str, internal: str) -> list[_Mail]:
    """News from the client: the owner hears it, the others who talk to the client are copied."""
    target = ctx.owner or ctx.account_owner or ctx.liaison
    if target is None:
        return []
    others = [ctx.liaison, ctx.account_owner if _stage(ctx) == "service" else None]
    return [_Mail("internal", name, internal, target, _others(target, others))]


def _to_staff(ctx: ReplyContext, internal: str) -> list[_Mail]:
    """Command results go to who sent the commands; held mail and deadlines to the owner."""
    if ctx.event == "assigned":
        return [_Mail("internal", "new_requirement", internal, ctx.owner)] if ctx.owner is not None else []
    if ctx.event == "command_result":
        assert ctx.recipient is not None  # missing_facts checked it
        return [_Mail("internal", "command_result", internal, ctx.recipient)]
    if ctx.event == "command_refused":
        # Someone tried to change the owner's requirement and could not: the owner should know.
        assert ctx.recipient is not None
        return [_Mail("internal", "command_refused", internal, ctx.recipient, _others(ctx.recipient, [ctx.owner]))]
    if ctx.event in ("sla_reminder", "sla_escalation"):
        # The owner answers for the deadline; at it, their manager hears too (BRIEF §4).
        managers = list(ctx.escalate_to) if ctx.event == "sla_escalation" else []
        target = ctx.owner or ctx.account_owner or (managers[0] if managers else None)
        if target is None:
            return []
        return [_Mail("internal", ctx.event, internal, target, _others(target, managers))]
    target = ctx.owner or ctx.account_owner or ctx.liaison or ctx.recipient
    if target is None:
        return []
    return [_Mail("internal", "blocked_notice", internal, target, _others(target, [ctx.recipient]))]


def _others(target: Staff, people: list[Staff | None]) -> tuple[Staff, ...]:
    """The people to copy: each once, never the addressee."""
    cc: list[Staff] = []
    for person in people:
        if person is not None and not _same(person, target) and all(not _same(person, c) for c in cc):
            cc.append(person)
    return tuple(cc)


def _render(mail: _Mail, ctx: ReplyContext, templates: Templates) -> Draft:
    labels = LABELS.get(mail.language, LABELS["en"])
    values: dict[str, object] = {
        "ctx": ctx,
        "kind": mail.kind,
        "recipient": mail.to.name if mail.greet is None else mail.greet,
        "forward_for": mail.forward_for,
        "type_label": labels["type"].get(ctx.type, ctx.type),
        "priority_label": labels["priority"].get(ctx.priority, ctx.priority),
        "stage_label": labels["stage"].get(ctx.stage, ctx.stage),
        "tier_label": labels["tier"].get(ctx.tier, ctx.tier),
        "missing": _missing(ctx) if mail.name == "ack_implementation" else (),
        "service_contact": (ctx.account_owner or ctx.owner) if ctx.stage == "service" else ctx.account_owner,
    }
    subject, text, html = templates.render(mail.name, mail.language, values)
    return Draft(kind=mail.kind, template=f"{mail.language}/{mail.name}", to=(mail.to.email,),
                 cc=tuple(c.email for c in mail.cc), subject=subject, text=text, html=html,
                 language=mail.language)


def _raised_by_staff(ctx: ReplyContext) -> bool:
    """Our own colleague wrote in for a client: there is no client address to write to."""
    return ctx.liaison is not None and ctx.submitter.email.lower() == ctx.liaison.email.lower()


def _stage(ctx: ReplyContext) -> str:
    return ctx.stage if ctx.stage in STAGES else "presales"


def _missing(ctx: ReplyContext) -> tuple[str, ...]:
    return missing_items("\n".join((ctx.description, ctx.mail_text)), ctx)


def _same(a: Staff | None, b: Staff | None) -> bool:
    return a is not None and b is not None and a.email == b.email

