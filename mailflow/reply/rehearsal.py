"""Render everything once, before any client is waiting.

``StrictUndefined`` only fails at render time, so ``rules check`` renders
sample facts through the real engine, for every event, stage, type and
language, to catch a misspelt variable before a real mail does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from itertools import product

from mailflow.classify.model import STAGES, TYPES, Origin, Staff
from mailflow.errors import TemplateError
from mailflow.parse.model import Address
from mailflow.reply.engine import LANGUAGES, drafts_for
from mailflow.reply.model import EVENTS, Alternative, ReplyContext
from mailflow.reply.render import Templates

# variant 0: nobody to tell, bare facts; 1: an owner, some facts; 2: everything known;
# 3: our own staff raised it, bare facts
VARIANTS = range(4)


def rehearse(templates: Templates) -> list[str]:
    """Problems found rendering every template, one ``file:line: what`` each; [] when all render."""
    problems: list[str] = []
    for ctx in samples():
        for internal in LANGUAGES:
            try:
                drafts_for(ctx, templates, internal_language=internal)
            except TemplateError as err:
                if str(err) not in problems:
                    problems.append(str(err))
    return problems


def samples() -> list[ReplyContext]:
    """One context per event × stage × language × type × variant, each with the facts its event needs."""
    def staff(handle: str, name: str) -> Staff:
        return Staff(handle=handle, name=name, email=f"{handle}@vendor.example.com", roles=(), team=None,
                     manager=None, origin=Origin("<sample>", 0))

    owner, contact, liaison = staff("s.owner", "李伟"), staff("s.contact", "张敏"), staff("s.liaison", "陈杰")
    result = []
    for event, stage, language, type_, variant in product(EVENTS, STAGES, LANGUAGES, TYPES, VARIANTS):
        full = variant == 2
        ctx = ReplyContext(
            event=event, requirement_id="REQ-202611-001", subject="示例 / sample" if full else "",
            description="一行 / one line" if full else "第一行\nsecond line\n" * 3, language=language,
            stage=stage, tier="standard", customer="示例客户" if full else None,
            partner="示例伙伴" if full else None, type=type_, priority="medium",
            submitter=(Address(liaison.name, liaison.email) if variant == 3
                       else Address("王五" if full else "", "x@example.com")),
            owner=owner if variant else None, account_owner=contact if full else None,
            liaison=liaison if variant >= 2 else None,
            answer_by=datetime(2026, 11, 26, 18, 0) if full else None, answer_within_days=3,
            due_at=datetime(2026, 11, 24, 10, 0) if variant == 1 else None,
            attachments=("a.png",) if full else (), owner_reason="sample" if full else "")
        result.append(replace(ctx, **_facts(event, variant, staff("s.staff", "赵磊"))))
    return result


def _facts(event: str, variant: int, sender: Staff) -> dict[str, object]:
    """What each event needs (always); some optional facts (variant 1); everything (variant 2).

    The variants take every branch of the shipped templates: a template
    fails only in the branch that is rendered.
    """
    facts: dict[str, object] = {
        "need_info": {"items": ("一项 / one item",)},
        "declined": {"message": "原因 / reason", "workaround": "" if variant == 2 else "变通 / workaround"},
        "plan_confirmed": {"plan_confirmed": True, "plan_version": "v2.3", "plan_date": date(2026, 12, 15)},
        "resolved": {"resolution": "方法 / method"},
        "staff_reply": {"message": "答复 / answer"},
        "merged": {"merged_into": "REQ-202611-002"},
        "command_result": {"recipient": sender,
                           "command_lines": ("#assign:li.wei", "#help") if variant == 1 else ("#assign:li.wei",)},
        "command_refused": {"recipient": sender, "command_lines": ("#status:x: 未知状态 / unknown status",)},
        "blocked_notice": {"blocked_reason": "commitment guard: '保证'", "blocked_text": "我们保证。"},
        "sla_reminder": {"deadline": ("first_response", "feedback", "plan")[variant % 3],
                         "deadline_at": datetime(2026, 11, 26, 10, 0)},
        "sla_escalation": {"deadline": ("plan", "first_response", "feedback")[variant % 3],
                           "deadline_at": datetime(2026, 11, 26, 10, 0),
                           "escalate_to": (sender,) if variant else ()},
    }.get(event, {})
    if variant == 1:
        facts = {"message": "说明 / note", "plan_patch": "KB-1024", "resolved_at": datetime(2026, 12, 10, 15, 0),
                 **facts}
    if variant == 2:
        facts = {
            "plan_version": "v2.3", "plan_date": date(2026, 12, 15), "plan_patch": "KB-1024",
            "message": "说明 / note", "workaround": "变通 / workaround", "items": ("一 / one", "二 / two"),
            "alternatives": (Alternative("甲 / A", "1 人天 / 1 day", "1 周 / 1 week", "低 / low"), Alternative("乙 / B")),
            "resolution": "方法 / method", "resolved_at": datetime(2026, 12, 10, 15, 0),
            "install_steps": ("下载 / download", "安装 / install"), "merged_into": "REQ-202611-002",
            "command_lines": ("#assign:li.wei", "#priority:high"), "recipient": sender,
            "blocked_reason": "commitment guard: '保证'", "blocked_text": "我们保证。", **facts,
        }
    return facts
