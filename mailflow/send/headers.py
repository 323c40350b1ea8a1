"""A draft becomes a complete RFC 5322 message, with the headers that keep threads and stop loops.

The subject carries our tag exactly once (clients and staff reply, forward
and re-tag; the tag is what threads a mail back when In-Reply-To is lost),
In-Reply-To / References follow RFC 5322 §3.6.4, and every mail says it is
automatic (RFC 3834 ``Auto-Submitted``, Microsoft's
``X-Auto-Response-Suppress``) so that auto-responders do not answer it and
two robots never loop.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from mailflow.parse.model import Address
from mailflow.reply.model import Draft

MAX_REFERENCES = 20  # RFC 5322 lets us trim: keep the thread root and the most recent ones
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|fw|fwd|tr)\s*(?:\[\d+\])?\s*[:：]|回复\s*[:：]|回覆\s*[:：]|答复\s*[:：]|转发\s*[:：]|轉寄\s*[:：])\s*",
    re.IGNORECASE,
)
_MSG_ID = re.compile(r"<[^<>\s]+>")
_CONTENT_LANGUAGE = {"zh": "zh-CN", "en": "en"}


def compose(
    draft: Draft,
    *,
    requirement_id: str,
    sender: Address,
    message_id: str,
    in_reply_to: str | None,
    references: tuple[str, ...],
    now: datetime,
) -> bytes:
    """The message as bytes ready for SMTP (CRLF line ends, RFC 2047 encoded words)."""
    if now.tzinfo is None:
        raise ValueError("compose needs an aware datetime for the Date header")
    if not draft.to:
        raise ValueError(f"draft {draft.template} has no recipient")
    replying = _clean_id(in_reply_to) if in_reply_to else None
    msg = EmailMessage(policy=SMTP)
    msg["From"] = HeaderAddress(display_name=_one_line(sender.name), addr_spec=sender.email)
    msg["To"] = _addresses(draft.to)
    if draft.cc:
        msg["Cc"] = _addresses(draft.cc)
    msg["Subject"] = tagged_subject(draft.subject, requirement_id,
                                    reply=replying is not None and draft.kind == "external")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if replying:
        msg["In-Reply-To"] = replying
    refs = thread_references(references, replying)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied" if draft.kind == "external" else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailflow-Requirement"] = requirement_id
    msg["X-Mailflow-Kind"] = draft.kind
    msg.set_content(draft.text, charset="utf-8", cte=_cte(draft.text))
    if draft.html is not None:
        msg.add_alternative(draft.html, subtype="html", charset="utf-8", cte=_cte(draft.html))
    # After the body: set_content() clears every Content-* header it finds.
    msg["Content-Language"] = _CONTENT_LANGUAGE.get(draft.language, draft.language)
    return msg.as_bytes()


def make_message_id(requirement_id: str, domain: str) -> str:
    """``<REQ-202611-001.<random>@domain>``: unique, and names its requirement for threading."""
    domain = domain.strip().strip(".") or "localhost"
    return f"<{requirement_id}.{secrets.token_hex(10)}@{domain}>"


def tagged_subject(subject: str, requirement_id: str, *, reply: bool) -> str:
    """``Re: [REQ-…] words``: stacked Re:/回复:/Fwd: and our own tag removed, then put back once.

    Only mail answering its recipient's own message says ``Re:``; an
    internal notice to an owner is news to them, not a reply.
    """
    tag = f"[{requirement_id}]"
    own_tag = re.compile(r"\[\s*" + re.escape(requirement_id) + r"\s*\]", re.IGNORECASE)
    words = _one_line(own_tag.sub(" ", subject))
    while (stripped := _REPLY_PREFIX.sub("", words, count=1).strip()) != words:
        words = stripped
    head = f"Re: {tag}" if reply else tag
    return f"{head} {words}" if words else head


def thread_references(references: tuple[str, ...], in_reply_to: str | None) -> tuple[str, ...]:
    """References in order, no duplicates, ending with the parent; first and latest kept when long."""
    ids: list[str] = []
    for raw in (*references, in_reply_to):
        mid = _clean_id(raw) if raw else None
        if mid and mid not in ids:
            ids.append(mid)
    if in_reply_to and (parent := _clean_id(in_reply_to)):
        ids.remove(parent)
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
    return tuple(ids)


def _clean_id(value: str) -> str | None:
    """One ``<id@host>`` or None; anything that could break the header is refused."""
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSG_ID.fullmatch(value) else None


def _addresses(values: tuple[str, ...]) -> tuple[HeaderAddress, ...]:
    """Recipients given as ``a@b`` or ``Name <a@b>``; non-ASCII names are encoded by the policy."""
    result = []
    for name, email in getaddresses(list(values)):
        if not email or "@" not in email:
            raise ValueError(f"not a mail address: {values!r}")
        result.append(HeaderAddress(display_name=_one_line(name), addr_spec=email))
    return tuple(result)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cte(text: str) -> str:
    """7bit when plain ASCII; base64 otherwise (compact for CJK, safe through any relay)."""
    return "7bit" if text.isascii() and all(len(line) <= 998 for line in text.splitlines()) else "base64"
