"""Which requirement a mail belongs to, decided from the mail alone.

Pure: it returns the keys to look up (subject tags, referenced Message-IDs);
the pipeline asks the store. A subject tag wins over headers because staff
and clients forward and re-address mail, and the tag survives that while
In-Reply-To often does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.parse.model import ParsedMail

TAG_RE = re.compile(r"\[\s*(REQ-\d{6}-\d{3,})\s*\]", re.IGNORECASE)
_SPACES = re.compile(r"\s{2,}")


@dataclass(frozen=True)
class ThreadKeys:
    tags: tuple[str, ...]  # requirement ids named in the subject, in order
    message_ids: tuple[str, ...]  # In-Reply-To then References, oldest first, deduplicated


def subject_tags(subject: str) -> tuple[str, ...]:
    seen: list[str] = []
    for tag in TAG_RE.findall(subject):
        tag = tag.upper()
        if tag not in seen:
            seen.append(tag)
    return tuple(seen)


def thread_keys(mail: ParsedMail) -> ThreadKeys:
    ids: list[str] = []
    for mid in (*mail.references, mail.in_reply_to):
        if mid and mid not in ids:
            ids.append(mid)
    return ThreadKeys(tags=subject_tags(mail.subject), message_ids=tuple(ids))


def strip_tags(subject: str) -> str:
    """The subject without our tags, for showing and for the record."""
    return _SPACES.sub(" ", TAG_RE.sub("", subject)).strip()


def references_for_reply(mail: ParsedMail) -> tuple[str, ...]:
    """The References of a mail answering ``mail`` (RFC 5322 3.6.4): its own, then its Message-ID."""
    return tuple(dict.fromkeys((*mail.references, *([mail.message_id] if mail.message_id else []))))
