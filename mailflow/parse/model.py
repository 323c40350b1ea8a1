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
    the content-addressed attachment store.
    """

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False, compare=False)


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
