"""Header values to text: encoded words, raw 8-bit bytes, addresses, ids, dates.

The standard library decodes RFC 2047 words one at a time, so a GBK
character that Foxmail or Outlook split across two encoded words comes out
as two halves of garbage, and an unknown charset raises.  Here adjacent
words of one charset are joined as bytes first, then decoded once through
:func:`mailflow.parse.charset.decode_bytes`, which never raises.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from email.utils import getaddresses, parsedate_to_datetime

from mailflow.parse.charset import decode_bytes
from mailflow.parse.model import Address

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def unfold(raw: str) -> str:
    """Undo header folding (RFC 5322 2.2.3): drop the line break, keep the blank."""
    return _FOLD.sub("", raw).replace("\r", "").replace("\n", "")


def raw_bytes(text: str) -> bytes:
    """The bytes a compat32 header str stands for (8-bit bytes arrive as surrogates;
    a value the library already decoded may hold real characters: UTF-8 those)."""
    return text.encode("utf-8", "surrogateescape")


def plain(raw: str) -> str:
    """A raw value made safe to store: stray 8-bit bytes become U+FFFD, not surrogates."""
    return raw_bytes(raw).decode("utf-8", "replace")


def header_text(raw: str, where: str) -> tuple[str, list[str]]:
    """Decode one raw header value; defects are prefixed with ``where`` (the header name)."""
    value = unfold(raw)
    chunks: list[list] = []  # [bytes, charset or None]; None marks unencoded text
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos:match.start()]
        # RFC 2047 6.2: blanks between two adjacent encoded words are not text.
        after_word = bool(chunks) and chunks[-1][1] is not None and (not between or between.isspace())
        charset = match.group(1).split("*", 1)[0].lower()
        data = _decode_word(match.group(2), match.group(3))
        if after_word and chunks[-1][1] == charset:
            chunks[-1][0] += data  # a character split across two words is whole again
        else:
            if between and not after_word:
                chunks.append([raw_bytes(between), None])
            chunks.append([data, charset])
        pos = match.end()
    if pos < len(value):
        chunks.append([raw_bytes(value[pos:]), None])
    parts: list[str] = []
    defects: list[str] = []
    for data, charset in chunks:
        text, defect = decode_bytes(data, charset)
        if defect:
            defects.append(f"{where}: {defect}")
        parts.append(text)
    return "".join(parts), defects


def folded(text: str) -> str:
    """Whitespace runs (folding, tabs, stray newlines) as single blanks."""
    return " ".join(text.split())


def _decode_word(kind: str, payload: str) -> bytes:
    """Lenient B/Q decoding: missing padding and stray characters are forgiven."""
    data = raw_bytes(payload)
    if kind in "bB":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        try:
            return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return b""
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))


def addresses(raw_values: list[str], where: str) -> tuple[tuple[Address, ...], list[str]]:
    """Parse address headers; display names decoded after splitting, so a
    decoded name containing a comma cannot split one mailbox into two."""
    found: list[Address] = []
    defects: list[str] = []
    for name, email in getaddresses([unfold(v) for v in raw_values]):
        email = email.strip().strip("<>").lower()
        if not _looks_like_address(email):
            if email or name:
                defects.append(f"{where}: unparseable address {plain(folded(name + ' ' + email))!r}")
            continue
        if not email.isascii():
            email, defect = decode_bytes(raw_bytes(email), None)
            if defect:
                defects.append(f"{where}: {defect}")
            email = email.lower()
        text, more = header_text(name, where)
        defects.extend(more)
        found.append(Address(name=folded(text).strip("\"' "), email=email))
    return tuple(found), defects


def _looks_like_address(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and domain and " " not in email)


def message_ids(raw: str | None) -> tuple[str, ...]:
    """All ids in a References / In-Reply-To value, bracketed, in order, once each."""
    if not raw:
        return ()
    value = plain(unfold(raw))
    ids = [f"<{m}>" for m in _MSG_ID.findall(value)]
    if not ids:  # some clients drop the brackets
        ids = [f"<{token.strip('<>,;')}>" for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(ids))


def message_id(raw: str | None) -> str | None:
    """The first id of a Message-ID value, bracketed; None when absent or blank."""
    ids = message_ids(raw)
    if ids:
        return ids[0]
    token = plain(unfold(raw or "")).strip().strip("<>")
    return f"<{token.split()[0]}>" if token else None


def date_value(raw: str | None) -> tuple[datetime | None, str | None]:
    """An aware datetime, or None plus a defect; ``-0000`` (zone unknown) is read as UTC."""
    if raw is None:
        return None, None
    value = folded(plain(unfold(raw)))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, f"Date: unparseable {value!r}"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when, None
