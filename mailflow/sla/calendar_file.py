"""``rules/calendar.yaml``: the company's working hours, days off and extra working days.

Optional, like every SLA file: without it the calendar is the brief's
(09:00-18:00, the public calendar). Read with the line-aware loader, so each
mistake is one ``file:line: reason`` and a broken file stops the start
instead of silently moving every due date.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from mailflow.classify.source import (
    LineDict,
    LineList,
    Problems,
    Where,
    check_keys,
    expect_list,
    get_choice,
    get_text,
    kind,
    read_mapping,
)
from mailflow.errors import RuleError
from mailflow.sla.calendar import DEFAULT_HOURS, PUBLIC_HOLIDAYS, WorkCalendar, default_tz

CALENDAR_FILE = "calendar.yaml"
KEYS = ("public_holidays", "hours", "days_off", "workdays")


def load_calendar(path: Path, tz: ZoneInfo) -> WorkCalendar:
    """The calendar of ``path``; defaults when there is no such file.

    Raises RuleError (``file:line: reason``) with the first problem, so a broken
    file stops the start instead of silently moving every due date.
    """
    calendar, problems = _load(Path(path), tz)
    if problems:
        raise RuleError(problems[0])
    assert calendar is not None
    return calendar


def check_calendar(path: Path) -> list[str]:
    """Every problem in the file, one ``file:line: reason`` each; [] when fine or missing."""
    return _load(Path(path), default_tz())[1]


def _load(path: Path, tz: ZoneInfo) -> tuple[WorkCalendar | None, list[str]]:
    if not path.is_file():
        return WorkCalendar(tz=tz), []  # the file is optional: the defaults are the brief's
    problems = Problems()
    where = Where(str(path), problems)
    top = read_mapping(path, where)
    if top is None:
        return None, problems.lines()
    check_keys(where, top, KEYS)
    public = get_choice(where, top, "public_holidays", PUBLIC_HOLIDAYS) or "cn"
    hours = _hours(where, top)
    days_off = _dates(where, top, "days_off")
    workdays = _dates(where, top, "workdays")
    for day, line in workdays.items():
        if day in days_off:
            where.error(line, f"{day.isoformat()} is both a day off (line {days_off[day]}) "
                              "and a working day; keep one")
    if problems.found:
        return None, problems.lines()
    return WorkCalendar(tz=tz, hours=hours, days_off=frozenset(days_off),
                        workdays=frozenset(workdays), public_holidays=public), []


_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})$")


def _hours(where: Where, top: LineDict) -> tuple[tuple[time, time], ...]:
    if "hours" not in top:
        return DEFAULT_HOURS
    value = top["hours"]
    line = top.key_line("hours")
    if isinstance(value, str):  # a single interval written without the list dash
        items, lines = [value], [line]
    else:
        listed = expect_list(where, value, line, '"hours"')
        if listed is None:
            return DEFAULT_HOURS
        items, lines = list(listed), [listed.item_line(i) for i in range(len(listed))]
    if not items:
        where.error(line, '"hours" needs at least one interval like "09:00-18:00"')
        return DEFAULT_HOURS
    found: list[tuple[tuple[time, time], int]] = []
    for index, (item, item_line) in enumerate(zip(items, lines), 1):
        interval = _interval(where, item, item_line, index)
        if interval is None:
            continue
        if found and interval[0] < found[-1][0][1]:
            start, end = found[-1][0]
            where.error(item_line, f'"hours" item {index} overlaps or comes before '
                                   f"{start:%H:%M}-{end:%H:%M} on line {found[-1][1]} "
                                   "(list intervals from morning to evening, without overlap)")
            continue
        found.append((interval, item_line))
    return tuple(interval for interval, _ in found) or DEFAULT_HOURS


def _interval(where: Where, item: object, line: int, index: int) -> tuple[time, time] | None:
    matched = _HOURS.match(item.strip()) if isinstance(item, str) else None
    if matched is None:
        shown = f'"{item}"' if isinstance(item, str) else kind(item)
        hint = " (quote it)" if not isinstance(item, str) else ""
        where.error(line, f'"hours" item {index} must be "HH:MM-HH:MM" like "09:00-18:00", '
                          f"got {shown}{hint}")
        return None
    h1, m1, h2, m2 = (int(part) for part in matched.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        where.error(line, f'"hours" item {index} "{item.strip()}" is not a time of day '
                          "(00:00 to 23:59)")
        return None
    start, end = time(h1, m1), time(h2, m2)
    if not start < end:
        where.error(line, f'"hours" item {index} "{item.strip()}": the start must be before '
                          "the end (an interval cannot cross midnight)")
        return None
    return start, end


_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def _dates(where: Where, top: LineDict, key: str) -> dict[date, int]:
    """The dates listed under ``key``, each with its line."""
    value = top.get(key)
    if value is None:
        return {}
    if isinstance(value, LineList):
        items = [(item, value.item_line(index)) for index, item in enumerate(value)]
    else:  # a single date written without the list dash
        items = [(value, getattr(value, "line", top.key_line(key)))]
    found: dict[date, int] = {}
    for index, (item, line) in enumerate(items):
        inner = where.inside(f'"{key}" item {index + 1}: ')
        if isinstance(item, LineDict):
            check_keys(inner, item, ("date", "name"), required=("date",))
            get_text(inner, item, "name")
            if item.get("date") is None:
                continue
            line = item.key_line("date")
            item = item["date"]
        day = _date(inner, item, line)
        if day is None:
            continue
        if day in found:
            inner.error(line, f"{day.isoformat()} is already listed on line {found[day]}")
            continue
        found[day] = line
    return found


def _date(where: Where, value: object, line: int) -> date | None:
    if isinstance(value, datetime):
        where.error(line, f"{value.isoformat(' ')} has a time; write the date only (YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        matched = _DATE.match(value.strip())
        if matched:
            try:
                return date(*(int(part) for part in matched.groups()))
            except ValueError as exc:
                where.error(line, f'"{value}" is not a real date ({exc})')
                return None
        where.error(line, f'"{value}" is not a date; write YYYY-MM-DD, e.g. 2026-12-31')
        return None
    where.error(line, f"a date must be written YYYY-MM-DD, got {kind(value)}")
    return None
