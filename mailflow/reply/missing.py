"""What we still need from a client in implementation, and nothing more.

A requirement raised during rollout is only useful with a contact we can
call, the customer (and partner/agent) it belongs to, and where the rollout
stands (modules live, modules remaining). Asking a client for what they
already wrote reads as not having read their mail, so each item is asked
only when neither the mail nor the customer rules supply it.
"""

from __future__ import annotations

import re

from mailflow.reply.model import ReplyContext

CONTACT = "contact"  # contact name and phone
CUSTOMER = "customer"  # customer name, and partner/agent when sold through one
PHASE = "phase"  # implementation phase: modules done, modules remaining
ITEMS = (CONTACT, CUSTOMER, PHASE)

_CC = r"(?:(?:\+|00)\s?86[\s-]?)?"
_PHONE = re.compile(
    r"(?<![\d+])(?:"
    + _CC + r"1[3-9]\d(?:[\s-]?\d{4}){2}"  # mobile: 13800138000, 138-0013-8000, +86 138 0013 8000
    + r"|\(?0\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}"  # landline: 010-62345678, (021) 6234 5678
    + r"|(?:\+|00)\s?86[\s-]?\(?\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}"  # +86 10 6234 5678
    + r"|400[\s-]?\d{3}[\s-]?\d{4}"  # hotline
    + r")(?!\d)"
)
_PHONE_LABEL = re.compile(
    r"(?:电话|手机|座机|联系方式|Tel|Phone|Mobile|Mob|Cell)\s*[.:：]?\s*\+?[\d(][\d\s()-]{5,}",
    re.IGNORECASE,
)
_COMPANY = re.compile(
    r"有限公司|有限责任公司|股份公司|集团|"
    r"\b(?:Co\.?,?\s*Ltd|Ltd|Limited|Inc|Corp|Corporation|LLC|GmbH)\b\.?",
    re.IGNORECASE,
)
# Where the rollout stands. Naming a module is not enough ("考勤模块能否增加…"
# says which module the ask concerns, not which modules are live).
_PHASE = re.compile(
    r"已上线|上线了|已经上线|未上线|已实施|实施了|正在实施|实施阶段|实施进度|未实施|未开始|正在测试|"
    r"[一二三四]期|试运行|并行运行|"
    r"\b(?:modules? (?:live|done|remaining)|phase\s*\d+|go[- ]live|went live|gone live|live since|"
    r"rolled out|roll-?out|pilot)\b",
    re.IGNORECASE,
)


def missing_items(text: str, ctx: ReplyContext) -> tuple[str, ...]:
    """The items of ``ITEMS`` to ask for, in that order; () when nothing is missing."""
    missing = []
    if not has_phone(text):
        missing.append(CONTACT)
    if not ctx.customer and not _COMPANY.search(text):
        missing.append(CUSTOMER)
    if not _PHASE.search(text):
        missing.append(PHASE)
    return tuple(missing)


def has_phone(text: str) -> bool:
    """A mainland mobile, landline (with area code), 400 hotline, or a labelled number."""
    return bool(_PHONE.search(text) or _PHONE_LABEL.search(text))
