"""Is this mail from a machine?  Then it must never be answered.

Answering an auto-reply, a bounce or a list starts a mail loop or spams a
list (RFC 3834 section 2).  The checks run from the most explicit signal
(a header a machine sets on purpose) to the weakest (a subject pattern),
and the first that fires is the reason recorded.
"""

from __future__ import annotations

import re
from email.message import Message

from mailflow.parse.headers import folded, header_text, plain, unfold
from mailflow.parse.model import Address
from mailflow.parse.parts import param_text

_MACHINE_LOCAL_PARTS = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|mail-?daemon)(?:[+\-.].*)?$",
    re.IGNORECASE,
)
_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_SUPPRESS = re.compile(r"\b(?:all|oof|autoreply)\b", re.IGNORECASE)
_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?reply|autoreply|auto[ -]?response|out of (?:the )?office|"
    r"自动回复|自動回覆|自动答复|undeliverable|undelivered mail|"
    r"delivery status notification|delivery (?:has )?failed|mail delivery failed|"
    r"returned mail|failure notice|(?:系统)?退信(?=[:：\s]|$)|邮件退回(?=[:：\s]|$))",
    re.IGNORECASE,
)


def automated_reason(msg: Message, sender: Address) -> str | None:
    """Why ``msg`` is machine mail (e.g. ``Auto-Submitted: auto-replied``), or None."""
    auto = _value(msg, "Auto-Submitted")
    if auto and auto.split(";", 1)[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    if msg.get_content_type() == "multipart/report":
        kind = param_text(msg, "report-type")
        return f"Content-Type: multipart/report; report-type={kind}" if kind else "Content-Type: multipart/report"
    return_path = _value(msg, "Return-Path")
    if return_path is not None and return_path.replace(" ", "") == "<>":
        return "Return-Path: <>"
    local = sender.email.rpartition("@")[0]
    if _MACHINE_LOCAL_PARTS.match(local):
        return f"sender {sender.email}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _value(msg, name)
        if value is not None and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    suppress = _value(msg, "X-Auto-Response-Suppress")
    if suppress and _SUPPRESS.search(suppress):
        return f"X-Auto-Response-Suppress: {suppress}"
    precedence = _value(msg, "Precedence")
    if precedence and precedence.lower() in _PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe"):
        value = _value(msg, name)
        if value:
            return f"{name}: {value}"
    subject = folded(header_text(_value(msg, "Subject", raw=True) or "", "Subject")[0])
    match = _SUBJECT.match(subject)
    if match:
        return f"Subject: {match.group(0).strip()}"
    return None


def _value(msg: Message, name: str, raw: bool = False) -> str | None:
    """First value of a header, whitespace-folded (or as written with ``raw``)."""
    lname = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == lname:
            return value if raw else folded(plain(unfold(value)))
    return None
