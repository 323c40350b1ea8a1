"""Large mail goes to disk as it is read, so memory stays bounded whatever its size.

Why: parsing holds a mail several times over (the bytes, the parser's
lines, the decoded files); a 34 MB mail peaked at 196 MB, a 100 MB one
would not fit the memory a small server gives us. A mail over
``SPOOL_OVER`` bytes is therefore read once, as a stream, in pieces of at
most 64 KB:

- every byte is copied to the attachment store as received
  (``SpooledMail.original``): the mail itself is never lost or altered;
- the body of each attached file over ``KEEP_PART`` bytes is decoded
  straight into the store, and its part keeps only its headers plus
  ``X-Mailflow-Spooled: <sha256> <size>``.

What the pipeline gets is that light copy, a few KB, which it parses,
threads and records like any other mail. Only what the parser itself calls
an attachment is moved (``parse.parts.is_attachment``, asked of the part's
own headers), and only a body in a transfer encoding decoded here exactly
as the parser decodes it (base64, quoted-printable, 7bit, 8bit, binary);
a forwarded mail (``message/rfc822``) is such a file too, stored as the
bytes that came. Text to read over ``KEEP_TEXT`` (a pasted log) keeps its
beginning in the light copy and goes to the store whole, as a file the
parse stage attaches (``message-text.txt``). What no reader looks at (a
preamble, an epilogue, the rest of a header section that never ends) is
cut at ``KEEP_TEXT``. Anything unusual (a rare transfer encoding, a
boundary that never closes) is copied as it is: the light copy may then
be larger, never wrong.
"""

from __future__ import annotations

import base64
import binascii
import io
import quopri
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import BinaryIO

from mailflow.errors import MailflowError
from mailflow.parse.model import CUT_WORD, SPOOLED_HEADER, SpooledMail
from mailflow.parse.parts import is_attachment
from mailflow.record.blobs import BlobWriter

__all__ = ["SPOOL_OVER", "KEEP_PART", "KEEP_TEXT", "SpoolError", "read_mail", "spool", "spool_download"]

SPOOL_OVER = 4 * 1024 * 1024  # mails larger than this are spooled
KEEP_PART = 64 * 1024  # an attached file up to this size stays in the light copy
KEEP_TEXT = 1024 * 1024  # text to read: so much of it stays in the light copy, the whole is stored as a file
_PIECE = 64 * 1024  # the most read at once: one line, or a piece of a longer one
_HEADER_LIMIT = 256 * 1024  # a part's header section longer than this is not looked into
_DECODED = ("base64", "quoted-printable", "7bit", "8bit", "binary", "")
_IDENTITY = ("7bit", "8bit", "binary", "")  # the only encodings a message/rfc822 part may have (RFC 2046 5.2.1)
_TEXT_BODIES = ("text/plain", "text/html")  # text to read, cut past KEEP_TEXT
_OURS = SPOOLED_HEADER.lower().encode("ascii") + b":"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")))


def read_mail(fh: BinaryIO, store: Path | None, *, max_file: int | None = None) -> bytes:
    """The mail in ``fh`` (a seekable file): its bytes, or a SpooledMail when it is large.

    ``store`` is the attachment store; None reads every mail whole.
    ``max_file``: attached files larger than this are not kept (the record
    stage would not link them: ``max_attachment_bytes``), only measured and
    hashed; the original mail still holds them.
    """
    fh.seek(0, io.SEEK_END)
    size = fh.tell()  # measured, not read: a 4 MB read buffer per mail left the heap fragmented
    fh.seek(0)
    if size <= SPOOL_OVER or store is None:
        return fh.read()
    with _disk(store):
        return spool(fh, store, max_file=max_file)


class SpoolError(MailflowError):
    """A large mail could not be written to the store (full, not writable); one line. The mail stays where it was."""


@contextmanager
def _disk(store: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise SpoolError(f"large mail not spooled to {store}: {err.strerror or err}") from err


def spool(fh: BinaryIO, store: Path, *, max_file: int | None = None) -> SpooledMail:
    """Read one mail from ``fh`` to its end: the original and its large files into ``store``."""
    original = BlobWriter(store)
    try:
        light = io.BytesIO()
        parts: dict[str, int] = {}
        _entity(_Reader(fh, original), light, [], _Files(store, parts, max_file))
        rel, _ = original.keep()
        assert rel is not None  # the original has no limit
    except BaseException:
        original.discard()
        raise
    return SpooledMail(light.getvalue(), rel, parts)


def spool_download(store: Path, fetch: Callable[[int, int], bytes], *, max_file: int | None = None,
                   piece: int = 4 * 1024 * 1024) -> SpooledMail | None:
    """A mail fetched in pieces (``fetch(offset, length)``, an IMAP partial fetch), spooled; None when there is none.

    The pieces go to a temporary file in the store, which is read back as a
    stream; the mail is never whole in memory. The end is where a piece
    comes back short: the size a server announces is not trusted. What
    ``fetch`` raises (a dropped connection) passes through; the store
    failing is SpoolError.
    """
    with _disk(store):
        store.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.TemporaryFile(dir=store)
    with tmp:
        offset = 0
        while True:
            data = fetch(offset, piece)
            if not data and offset == 0:
                return None  # gone from the server since it was listed
            with _disk(store):
                tmp.write(data)
            offset += len(data)
            if len(data) < piece:
                break
        with _disk(store):
            tmp.seek(0)
            return spool(tmp, store, max_file=max_file)  # type: ignore[arg-type]  (a binary temporary file)


class _Reader:
    """The mail in pieces: each a whole line or a part of a long one, each also copied to the original."""

    def __init__(self, fh: BinaryIO, copy: BlobWriter) -> None:
        self._fh = fh
        self._copy = copy
        self._at_line_start = True

    def next(self) -> tuple[bytes, bool] | None:
        """The next piece and whether it starts a line; None at the end."""
        piece = self._fh.readline(_PIECE)
        if not piece:
            return None
        self._copy.write(piece)
        starts = self._at_line_start
        self._at_line_start = piece.endswith(b"\n")
        return piece, starts


class _Files:
    """Where attached files go: the store, and the record of what was put there."""

    def __init__(self, store: Path, parts: dict[str, int], max_file: int | None) -> None:
        self.store = store
        self.parts = parts
        self.max_file = max_file


def _delimiter(piece: bytes, boundaries: list[bytes]) -> tuple[int, bool] | None:
    """Which boundary (index, innermost last) this line delimits and whether it closes; None for content.

    The same test as the stdlib parser: ``--boundary``, ``--`` to close,
    spaces or tabs, the line ending. Any enclosing boundary ends a part.
    """
    if not piece.startswith(b"--"):
        return None
    for index in range(len(boundaries) - 1, -1, -1):
        boundary = boundaries[index]
        if piece.startswith(boundary, 2):
            rest = piece[2 + len(boundary):]
            closes = rest.startswith(b"--")
            if closes:
                rest = rest[2:]
            rest = rest.rstrip(b"\r\n")
            if not rest.strip(b" \t") and rest.count(b"\r") == 0:
                return index, closes
    return None


def _entity(reader: _Reader, out: io.BytesIO, boundaries: list[bytes], files: _Files) -> bytes | None:
    """Copy one entity (headers, body) into ``out``; the delimiter line that ended it, or None at the end."""
    head: list[tuple[bytes, bool]] = []
    size = 0
    while True:
        item = reader.next()
        if item is None:
            out.write(_headers(head))
            return None
        piece, starts = item
        if starts and boundaries and _delimiter(piece, boundaries) is not None:  # ended inside its headers
            out.write(_headers(head))
            return piece
        head.append(item)
        size += len(piece)
        if starts and piece in (b"\n", b"\r\n"):
            break
        if size > _HEADER_LIMIT:
            out.write(_headers(head))
            return _copy_until(reader, out, boundaries)
    part = BytesHeaderParser(policy=policy.compat32).parsebytes(b"".join(p for p, _ in head))
    boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
    if boundary:
        out.write(_headers(head))
        return _multipart(reader, out, [*boundaries, boundary.encode("ascii", "surrogateescape")], files)
    return _leaf(reader, out, head, part, boundaries, files)


def _multipart(reader: _Reader, out: io.BytesIO, boundaries: list[bytes], files: _Files) -> bytes | None:
    """Preamble, parts, epilogue; returns an enclosing multipart's delimiter, or None at the end."""
    mine = len(boundaries) - 1
    line = _copy_until(reader, out, boundaries)  # the preamble
    while line is not None:
        index, closes = _delimiter(line, boundaries) or (-1, False)
        if index != mine:  # an enclosing boundary: this multipart never closed
            return line
        out.write(line)
        if closes:
            return _copy_until(reader, out, boundaries[:-1])  # the epilogue
        line = _entity(reader, out, boundaries, files)
    return None


def _copy_until(reader: _Reader, out: io.BytesIO, boundaries: list[bytes]) -> bytes | None:
    """Copy lines as they are up to a delimiter of ``boundaries``, which is returned unwritten.

    What no reader looks at (a preamble, an epilogue, the rest of a header
    section that never ends) is copied up to KEEP_TEXT bytes and the rest
    left out of the light copy: megabytes of it would be held whole by the
    parser for nothing. The original in the store has it all.
    """
    room = KEEP_TEXT
    while (item := reader.next()) is not None:
        piece, starts = item
        if starts and boundaries and _delimiter(piece, boundaries) is not None:
            return piece
        if len(piece) <= room:
            out.write(piece)
            room -= len(piece)
        else:
            room = 0
    return None


def _leaf(reader: _Reader, out: io.BytesIO, head: list[tuple[bytes, bool]], part: Message,
          boundaries: list[bytes], files: _Files) -> bytes | None:
    """A body: kept in the light copy, or, for a large attached file, decoded into the store."""
    encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
    attached = is_attachment(part)
    if part.get_content_maintype() == "message":
        # A forwarded mail: stored as the bytes that came, where a mail held whole stores the
        # stdlib's rewrite of its parsed tree (the same mail; its line ends and folding may differ).
        # Other message/* parts (delivery reports) are a few lines the parser reads as fields.
        movable = attached and part.get_content_type() == "message/rfc822" and encoding in _IDENTITY
    else:
        movable = attached and encoding in _DECODED
    # Text to read longer than KEEP_TEXT (a pasted log): the whole text is stored as a file, and
    # the light copy keeps its beginning, so the mail still reads as what the client wrote.
    cut = not attached and encoding in _DECODED and part.get_content_type() in _TEXT_BODIES
    kept: list[bytes] = []
    kept_size = 0
    sink: _Decoder | None = None
    beginning = b""  # the encoded body up to where a text is cut
    last = b""
    ended = None
    try:
        while (item := reader.next()) is not None:
            piece, starts = item
            if starts and boundaries and _delimiter(piece, boundaries) is not None:
                ended = piece
                break
            if sink is not None:
                sink.feed(last)
                last = piece
                continue
            kept.append(piece)
            kept_size += len(piece)
            if (movable and kept_size > KEEP_PART) or (cut and kept_size > KEEP_TEXT):
                sink = _Decoder(encoding, BlobWriter(files.store, files.max_file))
                for earlier in kept[:-1]:
                    sink.feed(earlier)
                last = kept[-1]
                beginning = b"".join(kept) if cut else b""
                kept = []
    except BaseException:
        if sink is not None:  # no half-written file left in the store
            sink.discard()
        raise
    if sink is None:
        out.write(_headers(head))
        out.write(b"".join(kept))
        return ended
    if ended is not None:  # the line ending before a delimiter belongs to the delimiter
        last = last[:-2] if last.endswith(b"\r\n") else last[:-1] if last.endswith(b"\n") else last
    sink.feed(last)
    sha256, size, defects = sink.keep()
    files.parts[sha256] = size
    blank = head[-1][0]
    out.write(_headers(head[:-1]))
    words = [f"{SPOOLED_HEADER}: {sha256} {size}", *([CUT_WORD] if cut else []), *defects]
    out.write(" ".join(words).encode("ascii") + blank + blank)
    if cut:
        out.write(_beginning(beginning, encoding, blank))
    return ended


def _beginning(encoded: bytes, encoding: str, eol: bytes) -> bytes:
    """The first KEEP_TEXT bytes of a text, ending where a line of it ends, in its own transfer encoding.

    Decoded and encoded again rather than cut where it stands: a cut inside
    a base64 group or a quoted-printable character would leave half a
    character, and a charset guessed from broken text can be wrong for all
    of it.
    """
    if encoding == "base64":
        clean = encoded.translate(None, _NOT_BASE64)
        text = _unbase64(clean[:len(clean) // 4 * 4])
    elif encoding == "quoted-printable":
        text = binascii.a2b_qp(encoded)
    else:
        text = encoded
    text = text[:KEEP_TEXT]
    end = text.rfind(b"\n")
    if end <= 0:  # one endless line: at least not inside a word
        end = text.rfind(b" ")
    text = text[:end + 1] if end > 0 else text
    if encoding == "base64":
        return base64.encodebytes(text).replace(b"\n", eol)
    if encoding == "quoted-printable":
        return quopri.encodestring(text.replace(b"\r\n", b"\n")).replace(b"\n", eol)
    return text


def _headers(head: list[tuple[bytes, bool]]) -> bytes:
    """The header lines as written, except that our own spool header from outside is renamed.

    It names nothing outside ``SpooledMail.parts``, but the mail a person
    reads later should not show it as ours.
    """
    return b"".join(b"X-Original-" + piece if starts and piece[:len(_OURS)].lower() == _OURS else piece
                    for piece, starts in head)


class _Decoder:
    """A body's transfer encoding undone as it streams past, the way the stdlib parser undoes it.

    Broken base64 is named with the stdlib's defect classes, which the
    parse stage reports for the part as it would for a mail held whole. One
    difference: base64 cut off one character into a group is decoded up to
    there, where the stdlib keeps the undecoded text.
    """

    def __init__(self, encoding: str, blob: BlobWriter) -> None:
        self._encoding = encoding
        self._blob = blob
        self._pending = b""
        self._length = 0  # base64 characters and padding seen
        self._stray = False  # anything else in a base64 body (line ends aside)

    def feed(self, piece: bytes) -> None:
        if self._encoding == "base64":
            clean = piece.translate(None, _NOT_BASE64)
            self._length += len(clean)
            self._stray = self._stray or len(clean) != len(piece.rstrip(b"\r\n"))
            self._pending += clean
            if len(self._pending) >= _PIECE:
                whole = len(self._pending) // 4 * 4
                self._blob.write(_unbase64(self._pending[:whole]))
                self._pending = self._pending[whole:]
        elif self._encoding == "quoted-printable":
            self._pending += piece
            if len(self._pending) >= _PIECE and self._pending.endswith(b"\n"):  # soft breaks end with the line
                self._blob.write(binascii.a2b_qp(self._pending))
                self._pending = b""
        else:
            self._blob.write(piece)

    def discard(self) -> None:
        self._blob.discard()

    def keep(self) -> tuple[str, int, list[str]]:
        """The decoded file moved into the store: its sha256, size and defects (``email.errors`` names)."""
        defects = []
        try:
            if self._encoding == "base64":
                self._blob.write(_unbase64(self._pending))
                if self._stray:
                    defects.append("InvalidBase64CharactersDefect")
                if self._length % 4 == 1:
                    defects.append("InvalidBase64LengthDefect")
                elif self._length % 4:
                    defects.append("InvalidBase64PaddingDefect")
            elif self._encoding == "quoted-printable":
                self._blob.write(binascii.a2b_qp(self._pending))
            _, sha256 = self._blob.keep()
        except BaseException:
            self._blob.discard()
            raise
        return sha256, self._blob.size, defects


def _unbase64(data: bytes) -> bytes:
    """Decode, forgiving missing padding at the end as the stdlib does; a lone last character is dropped."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        body = data.rstrip(b"=")
        body = body[:len(body) - len(body) % 4] if len(body) % 4 == 1 else body + b"=" * (-len(body) % 4)
        return binascii.a2b_base64(body)
