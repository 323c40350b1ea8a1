"""Masking people in reports: enough left to tell rows apart, not enough to name anyone.

Reports travel (product planning, management, partners), and the people who
wrote to us did not agree to that (BRIEF §3: reports mask names, ``王*``).
A Chinese name keeps its family name (the first character); a Latin name
keeps each word's initial. An address keeps its domain, because the domain
says which company asked, which is what the reader needs, and the first
character of the local part, so two people of one company stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]")


def mask_name(name: str) -> str:
    """"王小明" -> "王*", "John Smith" -> "J*** S***", "" -> ""."""
    words = (name or "").split()
    if len(words) == 1 and len(words[0]) == 1:
        return "*"  # a one-character name would survive its own mask
    return " ".join(_mask_word(word) for word in words)


def _mask_word(word: str) -> str:
    return word[0] + ("*" if _CJK.match(word[0]) else "***")


def mask_email(address: str) -> str:
    """"john.doe@acme.com" -> "j***@acme.com": the company stays visible, the person does not."""
    address = (address or "").strip()
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at:
        return address[0] + "***"
    return (local[:1] or "*") + "***@" + domain.lower()


def scrub(text: str, names: Iterable[str], emails: Iterable[str]) -> str:
    """``text`` with any of these full names or addresses replaced by their masks.

    The report shows a few client-written subjects (samples of a common need);
    a subject like "张伟的账号被锁" must not undo the masking of the table
    next to it.
    """
    return scrubber(names, emails)(text)


def scrubber(names: Iterable[str], emails: Iterable[str]) -> Callable[[str], str]:
    """``scrub`` with the people compiled once, for many texts (longest first: "John Smith" before "John")."""
    masks = {e.strip().lower(): mask_email(e) for e in emails if e and "@" in e}
    masks.update({n.strip().lower(): mask_name(n) for n in names if n and len(n.strip()) >= 2})
    if not masks:
        return lambda text: text
    rx = re.compile("|".join(re.escape(full) for full in sorted(masks, key=lambda f: (-len(f), f))),
                    re.IGNORECASE)
    return lambda text: rx.sub(lambda m: masks[m.group().lower()], text)
