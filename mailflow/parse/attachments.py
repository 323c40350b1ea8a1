"""Attached files: decoded names made safe, bytes hashed.

A file name in mail is attacker-controlled text that later becomes part of a
path on our disk and a name in an outgoing mail, so it is reduced to a plain
base name here, once, and every change is noted as a defect.  Inline images
referenced by the HTML are attachments too: they are what the client
pasted (screenshots), and they must be kept with the record.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from email import errors
from email.message import Message

from mailflow.parse.headers import plain
from mailflow.parse.model import CUT_WORD, SPOOLED_HEADER, Attachment
from mailflow.parse.parts import filename, is_attachment, payload, sections

MAX_NAME_BYTES = 200  # well under the 255-byte limit of common file systems
_RESERVED = re.compile(r'[<>:"|?*]')
# Names Windows refuses whatever the extension; a file copied there must not vanish.
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def collect_attachments(msg: Message, spooled: Mapping[str, int] | None = None
                        ) -> tuple[tuple[Attachment, ...], list[str]]:
    """Every attachment-like leaf part, in order, with defects for names changed.

    ``spooled``: the files a spooler already put in the store (sha256 ->
    size, ``SpooledMail.parts``); a part naming one of them in its
    X-Mailflow-Spooled header is that file. The header alone proves nothing.
    """
    found: list[Attachment] = []
    defects: list[str] = []
    for number, part in sections(msg):
        if not is_attachment(part):
            whole = _spooled(part, spooled or {}) if _is_cut(part) else None
            if whole is not None:  # a long text whose beginning is the body read here
                sha256, size = whole
                name = "message-text.html" if part.get_content_type() == "text/html" else "message-text.txt"
                found.append(Attachment(filename=name, content_type=plain(part.get_content_type()), size=size,
                                        sha256=sha256, data=None))
                defects.append(f"part {number}: text of {size:,} bytes; only its first "
                               f"{len(payload(part)):,} are read as the mail, the whole is kept as {name}")
            continue
        where = f"part {number}"
        name, more = filename(part, where)
        defects.extend(more)
        safe = safe_filename(name or "", len(found) + 1)
        if name and safe != name:
            defects.append(f"{where}: unsafe file name {name!r} saved as {safe!r}")
        stored = _spooled(part, spooled or {})
        if stored is not None:
            sha256, size = stored
            found.append(Attachment(filename=safe, content_type=plain(part.get_content_type()), size=size,
                                    sha256=sha256, data=None))
            continue
        data = payload(part)
        found.append(Attachment(
            filename=safe,
            content_type=plain(part.get_content_type()),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        ))
    return tuple(found), defects


def _spooled(part: Message, spooled: Mapping[str, int]) -> tuple[str, int] | None:
    """The stored file this part's body was moved to, when the spooler says so.

    What the spooler found broken in the body is put on the part as the
    parser would have put it, so the defect is reported the same way.
    """
    if not spooled:
        return None
    words = str(part.get(SPOOLED_HEADER) or "").split()  # "<sha256> <size> [defect class names]"
    sha256 = words[0].lower() if words else ""
    if sha256 not in spooled:
        return None
    for name in words[2:]:
        if name in _BASE64_DEFECTS:
            part.defects.append(getattr(errors, name)())
    return sha256, spooled[sha256]


_BASE64_DEFECTS = ("InvalidBase64CharactersDefect", "InvalidBase64LengthDefect", "InvalidBase64PaddingDefect")


def _is_cut(part: Message) -> bool:
    words = str(part.get(SPOOLED_HEADER) or "").split()
    return len(words) > 2 and words[2] == CUT_WORD


def safe_filename(name: str, index: int) -> str:
    """A base name safe on any file system: no directories, no ``..``, no controls.

    ``index`` (1-based position among the attachments) names the file when
    nothing usable is left: ``attachment-<index>.bin``.
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Cc: controls and NUL; Cf: invisible formatting such as U+202E, which
    # makes "gpj.exe" display as "exe.jpg"; Cs/Co: nothing a person names a file.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _RESERVED.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if name.split(".", 1)[0].lower() in _WINDOWS_DEVICES:
        name = f"_{name}"
    name = _cap(name)
    return name or f"attachment-{index}.bin"


def _cap(name: str) -> str:
    """Shorten to MAX_NAME_BYTES of UTF-8, keeping a short extension."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    while len(stem.encode("utf-8")) > budget:
        stem = stem[:-1]
    return stem.rstrip(" .") + suffix
