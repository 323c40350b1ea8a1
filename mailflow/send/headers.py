"""A draft becomes a complete RFC 5322 message, with the headers that keep threads and stop loops.

The subject carries our tag exactly once (clients and staff reply, forward
and re-tag; the tag is what threads a mail back when In-Reply-To is lost),
In-Reply-To / References follow RFC 5322 §3.6.4, and every mail says it is
automatic (RFC 3834 ``Auto-Submitted``, Microsoft's
``X-Auto-Response-Suppress``) so that auto-responders do not answer it and
two robots never loop.
"""

from __future__ import annotations

import base64
import os
import random
import re
from datetime import datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr, getaddresses
from functools import lru_cache

from mailflow.parse.model import Address
from mailflow.reply.model import Draft

MAX_REFERENCES = 20  # RFC 5322 lets us trim: keep the thread root and the most recent ones
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|fw|fwd|tr)\s*(?:\[\d+\])?\s*[:：]|回复\s*[:：]|回覆\s*[:：]|答复\s*[:：]|转发\s*[:：]|轉寄\s*[:：])\s*",
    re.IGNORECASE,
)
_MSG_ID = re.compile(r"<[^<>\s]+>")
_ADDR_SPEC = re.compile(r"[^\s<>(),;:\\\"\[\]]+@[^\s<>(),;:\\\"\[\]@]+")  # nothing that could end the header
_CONTENT_LANGUAGE = {"zh": "zh-CN", "en": "en"}


def _date(now: datetime) -> str:
    """The Date header: the same for every mail queued within one second, and formatting it is not free.

    Keyed by the whole second (the header has no finer one; each mail of a
    backlog has its own ``now``, so a key with microseconds never hit) and
    by the offset too: equal instants in two zones are equal datetimes, but
    not the same header.
    """
    return _formatted(now.replace(microsecond=0), now.utcoffset())


@lru_cache(maxsize=16)
def _formatted(now: datetime, _offset: timedelta | None) -> str:
    return format_datetime(now)


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
    """The message as bytes ready for SMTP (CRLF line ends, RFC 2047 encoded words).

    Written out directly rather than through ``email.policy`` header
    objects: those cost about 4 ms a mail, most of a new requirement's
    processing time, for headers whose shape never changes. The result is
    checked by parsing it back with the standard library in the tests.
    """
    if now.tzinfo is None:
        raise ValueError("compose needs an aware datetime for the Date header")
    if not draft.to:
        raise ValueError(f"draft {draft.template} has no recipient")
    replying = _clean_id(in_reply_to) if in_reply_to else None
    clean_mid = _clean_id(message_id)
    if clean_mid is None:
        raise ValueError(f"not a Message-ID: {message_id!r}")
    head = [
        _address_header("From", (formataddr((_one_line(sender.name), sender.email), charset="utf-8"),)),
        _address_header("To", _addresses(draft.to)),
    ]
    if draft.cc:
        head.append(_address_header("Cc", _addresses(draft.cc)))
    subject = tagged_subject(draft.subject, requirement_id, reply=replying is not None and draft.kind == "external")
    head += [
        _text_header("Subject", subject),
        f"Date: {_date(now)}",
        f"Message-ID: {clean_mid}",
    ]
    if replying:
        head.append(f"In-Reply-To: {replying}")
    refs = thread_references(references, replying)
    if refs:
        head.append(_fold("References:", refs))
    head += [
        f"Auto-Submitted: {'auto-replied' if draft.kind == 'external' else 'auto-generated'}",
        "X-Auto-Response-Suppress: All",
        _text_header("X-Mailflow-Requirement", requirement_id),
        f"X-Mailflow-Kind: {draft.kind}",
        "MIME-Version: 1.0",
    ]
    language = _CONTENT_LANGUAGE.get(draft.language, _one_line(draft.language))
    if draft.html is None:
        head += _part_headers("plain", draft.text)
        body = _encode_body(draft.text)
    else:
        boundary = f"===============mailflow{_token(96)}=="
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = "\r\n".join([
            f"--{boundary}", *_part_headers("plain", draft.text), "", _encode_body(draft.text),
            f"--{boundary}", *_part_headers("html", draft.html), "", _encode_body(draft.html),
            f"--{boundary}--", "",
        ])
    head.append(f"Content-Language: {language}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode("ascii")


def _part_headers(subtype: str, text: str) -> list[str]:
    return [f'Content-Type: text/{subtype}; charset="utf-8"', f"Content-Transfer-Encoding: {_cte(text)}"]


def _encode_body(text: str) -> str:
    """CRLF lines, ending in one; base64 in 76-column lines when not plain short-lined ASCII."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if _cte(text) == "7bit":
        return text.replace("\n", "\r\n")
    return base64.encodebytes(text.replace("\n", "\r\n").encode("utf-8")).decode("ascii").replace("\n", "\r\n")


def _text_header(name: str, value: str) -> str:
    """An unstructured header, RFC 2047-encoded when not ASCII, folded at 78 columns."""
    value = _one_line(value)
    if value.isascii() and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    if value.isascii():  # long plain words: folded at spaces
        return f"{name}: " + Header(value, "us-ascii", maxlinelen=78, header_name=name).encode(linesep="\r\n")
    return f"{name}: " + "\r\n ".join(_encoded_words(value, first=78 - len(name) - 2))


def _encoded_words(value: str, *, first: int) -> list[str]:
    """RFC 2047 ``=?utf-8?b?…?=`` words of whole characters, one per line, each line within 78 columns.

    ``email.header.Header`` does the same in about 0.2 ms a subject, which a
    backlog pays for every acknowledgement. The text is encoded once and cut
    between characters (never before a UTF-8 continuation byte): a loop over
    each character was a third of composing a Chinese mail's headers.
    """
    data = value.encode("utf-8")
    words: list[str] = []
    start, room = 0, first
    while True:
        limit = (min(75, room) - 12) // 4 * 3  # 12: "=?utf-8?b?" "?="
        cut = start + limit
        if cut >= len(data):
            words.append(f"=?utf-8?b?{base64.b64encode(data[start:]).decode('ascii')}?=")
            return words
        while cut > start and data[cut] & 0xC0 == 0x80:  # back to the first byte of a character
            cut -= 1
        if cut <= start:  # not even one character fits the room: it goes alone
            cut = start + 1
            while cut < len(data) and data[cut] & 0xC0 == 0x80:
                cut += 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:cut]).decode('ascii')}?=")
        start, room = cut, 77  # continuation lines start with one space
        if start >= len(data):
            return words


def _address_header(name: str, addresses: tuple[str, ...]) -> str:
    return _fold(f"{name}:", addresses, separator=",")


def _fold(head: str, items: tuple[str, ...], separator: str = "") -> str:
    """``head item item …`` on lines of at most 78 columns where the items allow it."""
    lines = [head]
    for index, item in enumerate(items):
        piece = item + (separator if index < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(piece) > 78 and lines[-1] != head:
            lines.append(" " + piece)
        else:
            lines[-1] += " " + piece
    return "\r\n".join(lines)


def make_message_id(requirement_id: str, domain: str) -> str:
    """``<REQ-202611-001.<random>@domain>``: unique, and names its requirement for threading."""
    domain = domain.strip().strip(".") or "localhost"
    return f"<{requirement_id}.{_token(80)}@{domain}>"


# Message-IDs and boundaries need to be unique, not secret: the requirement's id is in every subject
# anyway. A generator seeded from the system's randomness, and again in every forked child, gives
# that without a system call per mail, which (waiting to get the interpreter lock back) was 2% of
# ingest.
_RANDOM = random.Random()
os.register_at_fork(after_in_child=_RANDOM.seed)


def _token(bits: int) -> str:
    return f"{_RANDOM.getrandbits(bits):0{bits // 4}x}"


_BRACKETED = re.compile(r"\[\s*([^\[\]\s]+)\s*\]")  # "[REQ-…]"-like; only our own tag is taken out


def tagged_subject(subject: str, requirement_id: str, *, reply: bool) -> str:
    """``Re: [REQ-…] words``: stacked Re:/回复:/Fwd: and our own tag removed, then put back once.

    Only mail answering its recipient's own message says ``Re:``; an
    internal notice to an owner is news to them, not a reply.
    """
    tag = f"[{requirement_id}]"
    own = requirement_id.casefold()
    words = _one_line(_BRACKETED.sub(lambda m: " " if m[1].casefold() == own else m[0], subject))
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


def _addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    """Recipients given as ``a@b`` or ``Name <a@b>``, each formatted for the header (names RFC 2047)."""
    if all(value.isascii() and value.count("@") == 1 and _ADDR_SPEC.fullmatch(value) for value in values):
        return tuple(values)  # bare addresses, as the engine gives them: nothing to parse or encode
    result = []
    for name, address in getaddresses(list(values)):
        if not address or "@" not in address or not _ADDR_SPEC.fullmatch(address):
            raise ValueError(f"not a mail address: {values!r}")
        result.append(formataddr((_one_line(name), address), charset="utf-8"))
    return tuple(result)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cte(text: str) -> str:
    """7bit when plain ASCII; base64 otherwise (compact for CJK, safe through any relay)."""
    return "7bit" if text.isascii() and all(len(line) <= 998 for line in text.splitlines()) else "base64"
