"""The MIME tree as numbered parts, shared by body and attachment extraction.

Parts are named by IMAP section numbers ("1", "1.2", ...) so a defect line
("part 1.2: ...") points at the same part a mail client's "show source"
would.  A message/rfc822 part is a leaf: a forwarded mail is an attachment
of this one, not more body.
"""

from __future__ import annotations

import binascii

from collections.abc import Iterator
from email.message import Message

from mailflow.parse.charset import decode_bytes
from mailflow.parse.headers import header_text

_BODY_TYPES = ("text/plain", "text/html")
_NAME_PARAMS = (("filename", "content-disposition"), ("name", "content-type"))

# compat32 defect classes, in words a support engineer understands.
_DEFECT_WORDS = {
    "NoBoundaryInMultipartDefect": "multipart without a boundary parameter",
    "StartBoundaryNotFoundDefect": "multipart start boundary not found",
    "CloseBoundaryNotFoundDefect": "multipart closing boundary missing",
    "FirstHeaderLineIsContinuationDefect": "header section starts with a continuation line",
    "MisplacedEnvelopeHeaderDefect": "envelope 'From ' line inside the headers",
    "MissingHeaderBodySeparatorDefect": "header line without a colon (blank line missing?)",
    "MultipartInvariantViolationDefect": "multipart content type without parts",
    "InvalidMultipartContentTransferEncodingDefect": "invalid transfer encoding on a multipart",
    "InvalidBase64PaddingDefect": "base64 padding missing (truncated?)",
    "InvalidBase64CharactersDefect": "invalid characters in base64",
    "InvalidBase64LengthDefect": "base64 data truncated",
    "UndecodableBytesDefect": "undecodable bytes",
}


def sections(msg: Message) -> Iterator[tuple[str, Message]]:
    """Every part with its section number, containers too ("" is a multipart message)."""
    yield from _walk(msg, "" if msg.is_multipart() else "1")


def _walk(part: Message, number: str) -> Iterator[tuple[str, Message]]:
    yield number, part
    for child_number, child in children(part, number):
        yield from _walk(child, child_number)


def children(part: Message, number: str) -> list[tuple[str, Message]]:
    """Direct sub-parts of a multipart with their section numbers."""
    if is_leaf(part):
        return []
    payload = part.get_payload()  # a multipart's list of parts (never re-decoded)
    if not isinstance(payload, list):
        return []
    return [(f"{number}.{i}" if number else str(i), child)
            for i, child in enumerate(payload, start=1) if isinstance(child, Message)]


def is_leaf(part: Message) -> bool:
    """Text, a file, or a message/* part (a mail or a delivery report kept whole)."""
    return not part.is_multipart() or part.get_content_maintype() == "message"


def is_attachment(part: Message) -> bool:
    """A file rather than text to read: declared so, named, or not text at all."""
    if not is_leaf(part):
        return False
    disposition = str(part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    if disposition == "attachment" or raw_filename(part):
        return True
    if part.get_content_maintype() == "multipart":
        return False  # declared multipart but the boundary is gone: its text is the body
    return part.get_content_type() not in _BODY_TYPES


def raw_filename(part: Message) -> str | None:
    """The file name parameter as written (RFC 2231 values percent-decoded)."""
    for param, header in _NAME_PARAMS:
        value = _param(part, param, header)
        text = value[2] if isinstance(value, tuple) else value
        if text and str(text).strip():
            return str(text)
    return None


def filename(part: Message, where: str) -> tuple[str | None, list[str]]:
    """The decoded file name: RFC 2231 with its charset, encoded words, or raw 8-bit."""
    for param, header in _NAME_PARAMS:
        value = _param(part, param, header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, text as latin-1)
            charset, _language, text = value
            if not text:
                continue
            name, defect = decode_bytes(_latin1_bytes(text), charset or None)
            return name, [f"{where}: file name {defect}"] if defect else []
        if value and str(value).strip():
            return header_text(str(value).strip('"'), f"{where}: file name")
    return None, []


def _latin1_bytes(text: str) -> bytes:
    """The percent-decoded bytes the library hands back as a latin-1 str."""
    try:
        return text.encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:  # a value the library already decoded with replacement
        return text.encode("utf-8", "surrogateescape")


def _param(part: Message, param: str, header: str) -> str | tuple | None:
    try:
        return part.get_param(param, header=header)
    except (ValueError, IndexError, TypeError, LookupError, UnicodeError):
        return None


def param_text(part: Message, name: str, header: str = "content-type") -> str | None:
    """A header parameter as plain text (an RFC 2231 value's text), None when absent."""
    value = _param(part, name, header)
    if isinstance(value, tuple):
        value = value[2]
    return str(value) if value else None


def charset_label(part: Message) -> str | None:
    return param_text(part, "charset")


def payload(part: Message) -> bytes:
    """Transfer-decoded bytes; never raises (truncated base64 gives what is there)."""
    if part.get_content_maintype() == "message" and part.is_multipart():
        return b"\n".join(_as_bytes(block) for block in part.get_payload() if isinstance(block, Message))
    data = _large_base64(part)
    if data is not None:
        return data
    try:
        data = part.get_payload(decode=True)
    except (ValueError, LookupError, UnicodeError, TypeError):  # e.g. an RFC 2231 charset tuple
        data = None
    if data is None:
        # get_payload() without decode re-decodes 8-bit text with the charset
        # parameter and can raise on a broken one; the stored str cannot.
        raw = getattr(part, "_payload", None)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


_LARGE = 1024 * 1024
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def _large_base64(part: Message) -> bytes | None:
    """A big, clean base64 part decoded in one step; None to use the stdlib's path.

    The stdlib splits the payload into one object per line and joins them
    again before decoding (a 25 MB attachment peaked at 187 MB). Anything
    not perfectly clean (stray characters, broken padding) goes the stdlib
    way, which records the defect on the part.
    """
    raw = getattr(part, "_payload", None)
    if not isinstance(raw, str) or len(raw) < _LARGE:
        return None
    if (part.get("content-transfer-encoding") or "").strip().lower() != "base64":
        return None
    try:
        data = raw.encode("ascii")
    except UnicodeEncodeError:
        return None
    if data.translate(None, _BASE64):
        return None
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return None


def _as_bytes(msg: Message) -> bytes:
    for render in (msg.as_bytes, lambda: msg.as_string().encode("utf-8", "surrogateescape")):
        try:
            return render()
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    return b""


def defects_of(number: str, part: Message) -> list[str]:
    """The parser's complaints about one part, one line each."""
    where = f"part {number}" if number else "message"
    lines = []
    for defect in part.defects:
        name = type(defect).__name__
        lines.append(f"{where}: {_DEFECT_WORDS.get(name, name)}")
    return lines
