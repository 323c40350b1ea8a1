"""A staff member forwarding a client's mail: whose words they are.

Implementation and service staff forward what clients sent them to the
support inbox (BRIEF: "escalate a customer's request").  The sender is then
our staff member, the liaison, while the customer and the original words
belong to the forwarded mail; later stages need both, so the forwarded From
and the forwarded text (its own quotes stripped) are extracted here.
Explicit forward markers always count; a plain quoted header block counts
only when the subject says it is a forward (FW:, Fwd:, 转发:), because in a
reply the same block introduces our own earlier mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.parse.model import Address
from mailflow.parse.quotes import header_block_at, strip_quotes

_MARK = re.compile(
    r"^(?:-{2,}\s*(?:Forwarded message|转发邮件信息|转发的邮件|转发邮件|轉寄郵件)\s*-{2,}"
    r"|Begin forwarded message:|以下是转发的邮件[:：]?)$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^(?:-{2,}|_{10,})\s*(?:原始邮件|Original Message)?\s*-*$", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:(?:re|回复|答复)\s*[:：]\s*)*(?:fwd?|转发|轉寄)\s*[:：]", re.IGNORECASE)
_FIELD = re.compile(
    r"^\*?(From|Date|Sent|To|Cc|Subject|发件人|发送时间|日期|时间|收件人|抄送|主题)\*?\s*[:：]\s*(.*)$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


@dataclass(frozen=True)
class Forward:
    """The forwarded mail inside a forward: its author (when readable) and words."""

    sender: Address | None
    text: str


def find_forward(text: str, subject: str, language: str) -> Forward | None:
    """The first forwarded mail in ``text``, or None when this is no forward."""
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    start = _start(stripped, subject)
    if start is None:
        return None
    j = start + 1 if not _FIELD.match(stripped[start]) else start
    while j < len(lines) and not stripped[j]:
        j += 1
    fields: dict[str, str] = {}
    while j < len(lines) and (field := _FIELD.match(stripped[j])):
        fields.setdefault(field.group(1).lower(), field.group(2))
        j += 1
    author = fields.get("from") or fields.get("发件人")
    return Forward(sender=_address(author) if author else None, text=strip_quotes("\n".join(lines[j:]), language))


def _start(stripped: list[str], subject: str) -> int | None:
    for i, line in enumerate(stripped):
        if _MARK.match(line):
            return i
    if not _FORWARD_SUBJECT.match(subject):
        return None
    for i, line in enumerate(stripped):
        if header_block_at(stripped, i):
            return i - 1 if i > 0 and _SEPARATOR.match(stripped[i - 1]) else i
    return None


def _address(value: str) -> Address | None:
    """"Name <a@b>", "\"名字\"<a@b>;", "Name [mailto:a@b]" or a bare address."""
    found = _EMAIL.search(value)
    if not found:
        return None
    name = value[:found.start()].replace("mailto:", "").strip(" \t\"'<[(;,")
    return Address(name=name, email=found.group(0).lower())
