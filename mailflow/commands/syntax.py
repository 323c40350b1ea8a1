"""Subject line -> commands: which ``#word`` / ``#word:value`` tokens a subject holds.

Pure. Staff type these in any mail client, Chinese input methods included,
so the subject is NFKC-normalised first (``＃assign：li.wei`` is
``#assign:li.wei``). A token must start with a letter: "工单 #123" or
"C#" in a subject is not a command, but "已修复#done" is (Chinese needs no space). Every mistake is collected, not just
the first, so one refusal mail lists them all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

STATUSES = ("new", "in_progress", "pending_verification", "done", "closed", "cancelled")
PRIORITIES = ("high", "medium", "low")
TYPES = ("bug", "feature", "improvement", "service", "other")
STAGES = ("presales", "implementation", "service")

# word -> the form shown in error messages; None: the command takes no value.
FORMS: dict[str, str | None] = {
    "assign": "#assign:HANDLE",
    "priority": "#priority:" + "|".join(PRIORITIES),
    "type": "#type:" + "|".join(TYPES),
    "status": "#status:" + "|".join(STATUSES),
    "stage": "#stage:" + "|".join(STAGES),
    "plan": "#plan:VERSION@YYYY-MM-DD",
    "confirm": None,
    "patch": "#patch:ID",
    "done": None,
    "decline": None,
    "reply": None,
    "note": None,
    "merge": "#merge:REQ-YYYYMM-NNN",
    "help": None,
}
# The order commands take effect in, whatever order they were written in:
# who and what first, then the plan, then what moves the status, then words.
ORDER = ("assign", "priority", "type", "stage", "plan", "confirm", "patch", "status", "done", "decline",
         "merge", "reply", "note", "help")
# Commands whose body goes somewhere: two of them in one subject would send one text twice.
BODY_COMMANDS = ("done", "decline", "reply", "note")

# After Chinese text a token needs no space ("已修复#done"); after a Latin letter or digit it
# does, so "a#b" and "C#" stay text.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_#&])#([A-Za-z][A-Za-z0-9_-]*)(?::([^\s#]*))?")
_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PLAN = re.compile(r"(?P<version>[^@\s]{1,64})@(?P<date>\d{4}-\d{2}-\d{2})")
_PATCH = re.compile(r"[\w][\w.\-/]{0,63}")
_REQUIREMENT = re.compile(r"REQ-\d{6}-\d{3,}", re.IGNORECASE)
_TRAILING = ",.;:!?)]}>\"'。、，；：！？）】」』》"


@dataclass(frozen=True)
class Command:
    word: str  # lower-case, e.g. "assign"
    value: str | None  # as written (handles lower-cased), None when the command takes none
    raw: str  # the token as written, for messages

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class Parsed:
    commands: tuple[Command, ...]  # in ``ORDER``
    errors: tuple[str, ...]  # one line each; any error means nothing is applied


def has_tokens(subject: str) -> bool:
    """Whether the subject holds anything that looks like a command (right or wrong)."""
    return _TOKEN.search(unicodedata.normalize("NFKC", subject)) is not None


def parse_subject(subject: str) -> Parsed:
    """Every command of the subject, checked for form; meaning is checked later, against the record."""
    text = unicodedata.normalize("NFKC", subject)
    found: list[Command] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for match in _TOKEN.finditer(text):
        word, value = match.group(1).lower(), match.group(2)
        raw = match.group(0).rstrip(_TRAILING) if value else match.group(0)
        if value is not None:
            value = value.rstrip(_TRAILING)
        if word not in FORMS:
            errors.append(f"{raw}: unknown command")
            continue
        if word in seen:
            errors.append(f"{raw}: #{word} is given twice (also {seen[word]})")
            continue
        seen[word] = raw
        problem, value = _check_value(word, value)
        if problem:
            errors.append(f"{raw}: {problem}")
            continue
        found.append(Command(word, value, raw))
    bodies = [c.raw for c in found if c.word in BODY_COMMANDS]  # as written: the sender knows their subject
    if len(bodies) > 1:
        errors.append(f"{' and '.join(bodies)}: each sends the mail's text somewhere; use one per mail")
    found.sort(key=lambda c: ORDER.index(c.word))
    return Parsed(tuple(found), tuple(errors))


def _check_value(word: str, value: str | None) -> tuple[str, str | None]:
    """(problem or "", the value normalised)."""
    form = FORMS[word]
    if form is None:
        return ("takes no value", None) if value else ("", None)
    if not value:
        return f"needs a value: {form}", None
    if word == "assign":
        handle = value.lower().lstrip("@")
        return ("" if _HANDLE.fullmatch(handle) else f"not a staff handle: {form}"), handle
    if word in ("priority", "type", "status", "stage"):
        choice = value.lower()
        allowed = {"priority": PRIORITIES, "type": TYPES, "status": STATUSES, "stage": STAGES}[word]
        return ("" if choice in allowed else f"expected {form}"), choice
    if word == "plan":
        match = _PLAN.fullmatch(value)
        if match is None:
            return f"expected {form}, e.g. #plan:v2.3@2026-12-15", value
        try:
            date.fromisoformat(match.group("date"))
        except ValueError:
            return f"{match.group('date')} is not a date: {form}", value
        return "", value
    if word == "patch":
        return ("" if _PATCH.fullmatch(value) else f"expected {form}, e.g. #patch:KB-1024"), value
    if word == "merge":
        return ("" if _REQUIREMENT.fullmatch(value) else f"expected {form}"), value.upper()
    raise AssertionError(word)


def plan_value(value: str) -> tuple[str, date]:
    """``v2.3@2026-12-15`` -> ("v2.3", date); only for a value ``parse_subject`` accepted."""
    match = _PLAN.fullmatch(value)
    assert match is not None
    return match.group("version"), date.fromisoformat(match.group("date"))


def valid_forms() -> tuple[str, ...]:
    """Every command's form, for refusal mails."""
    return tuple(form or f"#{word}" for word, form in FORMS.items())
