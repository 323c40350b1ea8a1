"""Raw bytes to headers and readable text, tolerating whatever clients send.

The parser runs with the ``compat32`` policy: it keeps raw header strings
(8-bit bytes as surrogates) instead of building header objects that can
raise on malformed input, so every decoding decision is ours
(:mod:`~mailflow.parse.headers`, :mod:`~mailflow.parse.charset`) and is
reported as a defect instead of an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.message import Message
from email.feedparser import BytesFeedParser
from html import unescape

from inscriptis import get_text

from mailflow.errors import ParseError
from mailflow.parse.charset import decode_bytes
from mailflow.parse.headers import (
    addresses,
    date_value,
    folded,
    header_text,
    message_id,
    message_ids,
    plain,
    raw_bytes,
    unfold,
)
from mailflow.parse.lift import lift
from mailflow.parse.model import Address
from mailflow.parse.parts import charset_label, children, is_attachment, is_leaf, param_text, payload

_TAG = re.compile(r"<[^>]*>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_ROOT_ONLY = ("related", "report", "signed", "encrypted")  # the first sub-part is the readable one
MAX_DEPTH = 64  # real clients nest 3-5 levels; far deeper is an attack on the recursion below


@dataclass(frozen=True)
class Head:
    """What the header section says, decoded."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: Address
    reply_to: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    headers: tuple[tuple[str, str], ...]
    defects: tuple[str, ...]


@dataclass(frozen=True)
class Body:
    """The readable text of a mail (HTML converted when there is no plain part)."""

    text: str
    html: str | None
    defects: tuple[str, ...]


def read_message(raw: bytes) -> Message:
    """Parse bytes into a message tree; ParseError only when there is no mail at all."""
    if not raw or not raw.strip():
        raise ParseError("empty message: no bytes to parse")
    try:
        msg = _parse_in_chunks(raw)
    except RecursionError as err:
        raise ParseError(f"not a usable mail: MIME parts nested deeper than {MAX_DEPTH} levels") from err
    except (MessageError, ValueError, TypeError, IndexError, LookupError, UnicodeError) as err:
        raise ParseError(f"not a mail: the MIME parser gave up ({err})") from err
    if not list(msg.raw_items()):
        raise ParseError("not a mail: no header section")
    if _depth(msg) > MAX_DEPTH:
        raise ParseError(f"not a usable mail: MIME parts nested deeper than {MAX_DEPTH} levels")
    return msg


_FEED = 64 * 1024


def _parse_in_chunks(raw: bytes) -> Message:
    """The stdlib parser, fed 64 KB at a time, with long base64 bodies lifted out (``lift``).

    ``parsebytes`` first decodes the whole mail into one string and then
    splits it; feeding slices gives the same tree with a third of the peak
    memory (a 34 MB mail: 93 MB instead of 295 MB).
    """
    lifted = lift(raw)
    if lifted is not None:
        msg = _feed(lifted.raw)
        if lifted.put_back(msg):
            return msg
    return _feed(raw)


def _feed(raw: bytes) -> Message:
    parser = BytesFeedParser(policy=policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED):
        parser.feed(bytes(view[start:start + _FEED]))
    return parser.close()


def _depth(msg: Message) -> int:
    """Nesting depth, counted without recursion (the tree is hostile input)."""
    deepest = 0
    stack = [(msg, 0)]
    while stack:
        part, level = stack.pop()
        deepest = max(deepest, level)
        if not is_leaf(part):
            stack.extend((child, level + 1) for _, child in children(part, ""))
    return deepest


# Structured headers that RFC 2047 never applies to. Decoding "=?…?=" in them would let
# a sender smuggle text into our own MTA's verdict (an encoded local part of MAIL FROM
# copied into Authentication-Results could read "dkim=pass header.d=<our domain>").
KEPT_AS_WRITTEN = frozenset({"authentication-results", "arc-authentication-results", "received-spf",
                             "dkim-signature", "arc-seal", "arc-message-signature", "received"})


def _header_value(key: str, value: str) -> str:
    if key.lower() in KEPT_AS_WRITTEN:
        return folded(plain(unfold(value)))
    return folded(header_text(value, key)[0])


def read_head(msg: Message) -> Head:
    """Ids, subject, addresses and date; ParseError when no From address parses."""
    defects: list[str] = []
    senders, more = addresses(_all(msg, "From"), "From")
    defects.extend(more)
    if not senders:
        raise ParseError("not a usable mail: no From address that parses")
    reply_to, more = addresses(_all(msg, "Reply-To"), "Reply-To")
    defects.extend(more)
    to, more = addresses(_all(msg, "To"), "To")
    defects.extend(more)
    cc, more = addresses(_all(msg, "Cc"), "Cc")
    defects.extend(more)
    subject, more = header_text(_first(msg, "Subject") or "", "Subject")
    defects.extend(more)
    date, defect = date_value(_first(msg, "Date"))
    if defect:
        defects.append(defect)
    in_reply_to = message_ids(_first(msg, "In-Reply-To"))
    return Head(
        message_id=message_id(_first(msg, "Message-ID")),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids(" ".join(_all(msg, "References"))),
        subject=folded(subject),
        sender=senders[0],
        reply_to=reply_to[0] if reply_to else None,
        to=to,
        cc=cc,
        date=date,
        headers=tuple((_name(key), _header_value(key, value)) for key, value in msg.raw_items()),
        defects=tuple(defects),
    )


def read_body(msg: Message) -> Body:
    """Prefer text/plain; convert HTML only when a mail has nothing else to read."""
    plain_parts, html_parts = _choose(msg, "" if msg.is_multipart() else "1")
    defects: list[str] = []
    plain_texts = [_decoded(number, part, defects) for number, part in plain_parts]
    html_texts = [_decoded(number, part, defects) for number, part in html_parts]
    html_text = "\n".join(html_texts) if html_texts else None
    if any(t.strip() for t in plain_texts):
        text = "\n".join(plain_texts)
    elif html_text:  # HTML only, or a blank plain part beside real HTML (some mobile clients)
        try:
            text = html_to_text(html_text)
        except Exception as err:  # noqa: BLE001 - a third-party HTML parser on hostile input
            text = unescape(_TAG.sub(" ", html_text))
            defects.append(f"HTML body: converter failed ({type(err).__name__}), tags stripped instead")
    else:
        text = ""
    return Body(text=text.strip(), html=html_text, defects=tuple(defects))


def html_to_text(html: str) -> str:
    """Readable text from HTML (tables laid out, <br> kept) via inscriptis."""
    text = get_text(html)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _choose(part: Message, number: str) -> tuple[list, list]:
    """(plain parts, html parts) that make up the body, in reading order."""
    if is_leaf(part):
        if is_attachment(part):
            return [], []
        if part.get_content_type() == "text/html":
            return [], [(number, part)]
        return [(number, part)], []  # text/plain, or a "multipart" that lost its boundary
    kids = children(part, number)
    subtype = part.get_content_subtype()
    if subtype == "alternative":
        options = [_choose(child, child_number) for child_number, child in kids]
        plain = next((p for p, _ in options if p), [])
        html = next((h for _, h in reversed(options) if h), [])  # the last is the richest
        return plain, html
    if subtype in _ROOT_ONLY:
        kids = kids[:1]
    plain: list = []
    html: list = []
    for child_number, child in kids:
        more_plain, more_html = _choose(child, child_number)
        plain.extend(more_plain)
        html.extend(more_html)
    return plain, html


def _decoded(number: str, part: Message, defects: list[str]) -> str:
    data = payload(part)
    label = charset_label(part)
    if label is None and part.get_content_type() == "text/html":
        meta = _META_CHARSET.search(data[:2048])
        label = meta.group(1).decode("ascii") if meta else None
    text, defect = decode_bytes(data, label)
    if defect:
        defects.append(f"part {number}: {defect}")
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if (param_text(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (param_text(part, "delsp") or "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676: join soft-broken lines so quotes and words read as written."""
    out: list[tuple[int, str]] = []
    joining = False
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if joining and out and out[-1][0] == depth:
            out[-1] = (depth, out[-1][1] + content)
        else:
            out.append((depth, content))
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            out[-1] = (depth, out[-1][1][:-1])
        joining = soft
    return "\n".join((">" * depth + (" " if depth else "") + content) for depth, content in out)


def _all(msg: Message, name: str) -> list[str]:
    lname = name.lower()
    return [value for key, value in msg.raw_items() if key.lower() == lname]


def _first(msg: Message, name: str) -> str | None:
    values = _all(msg, name)
    return values[0] if values else None


def _name(key: str) -> str:
    return key if key.isascii() else raw_bytes(key).decode("utf-8", "replace")
