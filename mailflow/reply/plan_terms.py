"""Versions and dates named in a mail, compared with the confirmed plan.

Once a plan is confirmed the guard lets committal wording through, so the
only remaining way to over-promise is to name a *different* version or
date. The rule is deliberately simple: every version and every date in our
own words (quoted lines, allowed phrases and the client's words are already
masked by the guard) must be the plan's. A date that is not a delivery
promise is rare in a reply; when one is needed, the writer rephrases or the
admin adds an allow pattern. Works on the guard's normalised text:
half-width, lower-case, no spaces next to Chinese characters.
"""

from __future__ import annotations

import re
from datetime import date

_MONTH_NAMES = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}
_MONTH = "(?:" + "|".join(sorted(_MONTH_NAMES, key=len, reverse=True)) + r")\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"

# Each alternative names its parts y/m/d (or mn: a month name); first that fits wins.
DATES = re.compile(
    rf"(?<!\d)(?P<y1>\d{{4}})[-/.](?P<m1>\d{{1,2}})[-/.](?P<d1>\d{{1,2}})(?!\d)"
    rf"|(?<!\d)(?P<y2>\d{{4}})年(?P<m2>\d{{1,2}})月(?:(?P<d2>\d{{1,2}})[日号號])?"
    rf"|(?<![\d年])(?P<m3>\d{{1,2}})月(?P<d3>\d{{1,2}})[日号號]"
    rf"|\b(?P<mn4>{_MONTH}) (?P<d4>{_DAY})\b(?:,? (?P<y4>\d{{4}})\b)?"
    rf"|(?<![\d.])\b(?P<d5>{_DAY})(?: of)? (?P<mn5>{_MONTH})(?:\b|(?<=\.))(?:,? (?P<y5>\d{{4}})\b)?"
    rf"|\b(?P<mn6>{_MONTH}),? (?P<y6>\d{{4}})\b"
)
# v2.3, V3, version 4.0, 版本 2.3, 2.3.1 版本 / 2.3版 — a bare "3.5" is not a version.
VERSIONS = re.compile(
    r"(?<![a-z0-9_.])v ?(?P<a>\d+(?:\.\d+)*)(?![a-z0-9_]|\.\d)"
    r"|(?:\bversion|\bver\.?|版本号|版本號|版本) ?v?(?P<b>\d+(?:\.\d+)*)(?![a-z0-9_]|\.\d)"
    r"|(?<![a-z0-9_.])(?P<c>\d+(?:\.\d+)+) ?版"
)


def conflict(text: str, version: str | None, patch: str | None,
             planned: date | None) -> tuple[int, int, str, str] | None:
    """The first version or date that is not the plan's: (start, end, "version"|"date", plan's value)."""
    allowed = {key for key in (_version_key(version), _version_key(patch)) if key is not None}
    found: list[tuple[int, int, str, str]] = []
    for m in VERSIONS.finditer(text):
        if _version_key(m.group("a") or m.group("b") or m.group("c")) not in allowed:
            found.append((m.start(), m.end(), "version", _say(version, patch)))
    for m in DATES.finditer(text):
        parts = _date_parts(m)
        if parts is not None and not _same_day(parts, planned):
            found.append((m.start(), m.end(), "date", planned.isoformat() if planned else "(no date)"))
    return min(found, default=None)


def _say(version: str | None, patch: str | None) -> str:
    if version and patch:
        return f"{version} (patch {patch})"
    return version or (f"patch {patch}" if patch else "(no version)")


def _version_key(value: str | None) -> tuple[int, ...] | str | None:
    """2.3, v2.3 and V2.3.0 are one version; a name that is not numbers is compared as written."""
    if not value or not value.strip():
        return None
    text = re.sub(r"^(version|ver\.?|v)\s*", "", value.strip().lower())
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        return text
    numbers = [int(n) for n in text.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def _date_parts(m: re.Match[str]) -> tuple[int | None, int, int | None] | None:
    """(year or None, month, day or None), or None when it cannot be a date (month 13…)."""
    groups = {k[:-1]: v for k, v in m.groupdict().items() if v is not None}
    month = int(groups["m"]) if "m" in groups else _MONTH_NAMES.get(groups.get("mn", "").rstrip("."))
    day = int(re.match(r"\d+", groups["d"]).group()) if "d" in groups else None  # type: ignore[union-attr]
    year = int(groups["y"]) if "y" in groups else None
    if month is None or not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return year, month, day


def _same_day(parts: tuple[int | None, int, int | None], planned: date | None) -> bool:
    """Every part the mail gives agrees with the plan ("12月15日" agrees with 2026-12-15)."""
    if planned is None:
        return False
    year, month, day = parts
    return (year in (None, planned.year) and month == planned.month
            and day in (None, planned.day))
