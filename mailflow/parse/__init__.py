"""The parse stage: raw RFC 5322 bytes in, one ``ParsedMail`` out.

Each step is its own module (``mime``, ``charset``, ``headers``, ``quotes``,
``automated``, ``attachments``, ``language``, ``forward``); this function
only chains them, so each can be tested alone.  Only bytes that are no mail
at all raise ParseError; everything else degrades and is noted in
``ParsedMail.defects``.
"""

from __future__ import annotations

import hashlib
import unicodedata

from mailflow.parse.attachments import collect_attachments
from mailflow.parse.automated import automated_reason
from mailflow.parse.forward import find_forward
from mailflow.parse.language import detect_language
from mailflow.parse.mime import read_body, read_head, read_message
from mailflow.parse.model import Address, Attachment, ParsedMail, SpooledMail
from mailflow.parse.parts import defects_of, sections
from mailflow.parse.quotes import strip_quotes

__all__ = ["parse", "ParsedMail", "SpooledMail", "Address", "Attachment", "content_hash"]


def parse(raw: bytes) -> ParsedMail:
    """Parse one mail; ParseError (one line) only when ``raw`` is not a usable mail.

    ``raw`` may be a ``SpooledMail``: a large mail whose files are already stored.
    """
    msg = read_message(raw)
    head = read_head(msg)
    body = read_body(msg)
    attachments, attachment_defects = collect_attachments(msg, raw.parts if isinstance(raw, SpooledMail) else None)
    # Structural defects last: decoding the payloads above is what reveals
    # truncated base64, and the parser records it on the part.
    structure = [line for number, part in sections(msg) for line in defects_of(number, part)]
    reply_text = strip_quotes(body.text, detect_language(body.text))
    language = detect_language(reply_text if any(ch.isalpha() for ch in reply_text) else head.subject)
    forward = find_forward(body.text, head.subject, language)
    return ParsedMail(
        message_id=head.message_id,
        in_reply_to=head.in_reply_to,
        references=head.references,
        subject=head.subject,
        sender=head.sender,
        reply_to=head.reply_to,
        to=head.to,
        cc=head.cc,
        date=head.date,
        headers=head.headers,
        text=body.text,
        reply_text=reply_text,
        html=body.html,
        language=language,
        attachments=attachments,
        automated=automated_reason(msg, head.sender),
        defects=tuple(dict.fromkeys([*head.defects, *structure, *body.defects, *attachment_defects])),
        content_hash=content_hash(head.sender.email, head.subject, head.date.isoformat() if head.date else "",
                                  body.text),
        forwarded_from=forward.sender if forward else None,
        forwarded_text=forward.text if forward else None,
    )


def content_hash(sender: str, subject: str, date: str, text: str) -> str:
    """sha256 hex over what a person wrote, not how it travelled.

    Received headers, Message-ID and transfer encoding differ between two
    deliveries of one mail; sender, subject, date and the whitespace-folded
    text do not.
    """
    normal = " ".join(unicodedata.normalize("NFC", text).split())
    joined = "\x1f".join((sender.lower(), " ".join(subject.split()), date, normal))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()
