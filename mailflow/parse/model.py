"""The result type of the parse stage.

Later stages see a mail only through ``ParsedMail``: they never touch MIME,
charsets or raw headers again, so every decoding decision is made (and
tested) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    """A mailbox. ``email`` is lower-cased so comparisons are trivial."""

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    """One attached file, already decoded.

    ``filename`` is a safe base name (no directories, no control characters);
    the bytes are kept in memory only until the record stage writes them to
    the content-addressed attachment store. ``data`` is None for a file of a
    large mail that went to that store as it arrived (``SpooledMail``).
    """

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes | None = field(repr=False, compare=False)


SPOOLED_HEADER = "X-Mailflow-Spooled"
CUT_WORD = "cut"  # third word of that header on text to read: the light copy keeps its beginning only


class SpooledMail(bytes):
    """A large mail as the pipeline sees it: its structure, with its files already on disk.

    Why: a mail of any size must be ingested in bounded memory, so its
    large attached files are decoded to the attachment store while the mail
    is read (``fetch.spool``) and never held whole. These bytes are the mail
    with each such file's body left empty and a ``X-Mailflow-Spooled:
    <sha256> <size>`` header on its part; every stage reads them as any
    other mail. ``parts`` is what the spooler itself wrote, and only those
    headers are believed: the same header arriving in mail from outside
    names nothing. ``original`` is the whole mail as received, kept in the
    store under that relative path, so nothing is lost.
    """

    original: str
    parts: dict[str, int]  # sha256 -> size of each file moved to the store

    def __new__(cls, light: bytes, original: str, parts: dict[str, int]) -> SpooledMail:
        mail = super().__new__(cls, light)
        mail.original = original
        mail.parts = dict(parts)
        return mail

    def __reduce__(self) -> tuple[type, tuple[bytes, str, dict[str, int]]]:
        return (SpooledMail, (bytes(self), self.original, self.parts))


@dataclass(frozen=True)
class ParsedMail:
    """Everything the pipeline needs to know about one incoming mail."""

    message_id: str | None  # with angle brackets, e.g. "<abc@host>"; None when absent
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str  # decoded (RFC 2047), whitespace-folded
    sender: Address  # From
    reply_to: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None  # timezone-aware when the Date header parses
    headers: tuple[tuple[str, str], ...]  # decoded (name, value) in order; names as written
    text: str  # full readable text (HTML-only mail converted)
    reply_text: str  # the client's own words: quoted history and signature removed
    html: str | None
    language: str  # "zh" or "en"
    attachments: tuple[Attachment, ...]
    automated: str | None  # why this is machine mail (never auto-answer it); None for a person
    defects: tuple[str, ...]  # one line per decoding problem noticed (charset guessed, ...)
    content_hash: str  # sha256 over sender, subject, date and text: de-duplicates mail without Message-ID
    # A forward (staff passing on a client's mail): the forwarded mail's author
    # and own words; None when this mail forwards nothing.
    forwarded_from: Address | None = None
    forwarded_text: str | None = None

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively; None when absent."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None
