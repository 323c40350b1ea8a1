"""Working time, as a client reads "within 48 hours" or "within 3 working days".

The SLA clock and the monthly report must agree with the client's calendar,
not ours: Chinese public holidays are off, and the weekend days the State
Council declares make-up working days (调休) are worked (BRIEF §4). Those
days come from the ``chinesecalendar`` package, which only knows the years
already published; for a later year we count Monday–Friday and warn once per
year, because a slightly wrong due date is better than a crash. The company's
own days off and extra working days come from the optional
``rules/calendar.yaml`` and win over the public calendar, which is also how an
admin can enter next year's holidays before the package knows them.

Four units, because the brief's promises mean different things:

- ``hours`` ("48 h"): the clock starts at the next opening and then runs
  round the clock, but only on working days — a holiday stops it.
- ``working_hours``: only time inside the working hours of working days.
- ``working_days`` ("3 个工作日"): the same local clock time N working days later.
- ``days`` ("at least weekly"): plain calendar time.

Everything is computed day by day (never minute by minute) with the day
lookup cached, so a report over hundreds of requirements stays fast.
Arithmetic between instants is done in UTC, so a zone with daylight saving
time still counts real elapsed time.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


log = logging.getLogger(__name__)

PUBLIC_HOLIDAYS = ("cn", "none")
UNITS = ("hours", "working_hours", "working_days", "days")
DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(9), time(18)),)

_UTC = timezone.utc
_ONE_DAY = timedelta(days=1)


# --- durations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Duration:
    """An SLA amount with the unit that says how the clock runs (see the module docstring)."""

    amount: float
    unit: str  # "hours" | "working_hours" | "working_days" | "days"

    def __post_init__(self) -> None:
        # Checked here too, not only in parse_duration: a Duration built in code must not
        # make add() loop backwards or skip the working-day rule.
        if self.unit not in UNITS:
            raise ValueError(f'unknown duration unit "{self.unit}" (expected one of {", ".join(UNITS)})')
        if isinstance(self.amount, bool) or not isinstance(self.amount, (int, float)):
            raise ValueError(f"a duration amount must be a number, got {self.amount!r}")
        if not (0 < self.amount < float("inf")):
            raise ValueError(f"a duration must be a finite number more than 0, got {self.amount:g} {self.unit}")
        if self.unit == "working_days" and not float(self.amount).is_integer():
            raise ValueError(f"working days must be a whole number, got {self.amount:g}")

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount:g} {unit[:-1] if self.amount == 1 else unit}"


_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(.*?)\s*$")
_WEEK = "weeks"  # read as days * 7
_UNIT_WORDS = {
    "hours": ("h", "hr", "hrs", "hour", "hours", "小时", "个小时", "小時", "個小時"),
    "working_hours": ("wh", "workinghour", "workinghours", "businesshour", "businesshours",
                      "工作小时", "个工作小时", "工作小時", "個工作小時"),
    "working_days": ("wd", "workingday", "workingdays", "workday", "workdays", "businessday",
                     "businessdays", "工作日", "个工作日", "個工作日", "工作天", "个工作天", "個工作天"),
    "days": ("d", "day", "days", "天", "日", "自然日", "个自然日", "個自然日"),
    _WEEK: ("w", "wk", "wks", "week", "weeks", "周", "个周", "週", "星期", "个星期", "個星期"),
}
_UNIT_OF = {word: unit for unit, words in _UNIT_WORDS.items() for word in words}
_EXAMPLES = '"48h", "8 working hours", "3 working days", "3 工作日", "7 days", "1 week"'


def parse_duration(text: str | int | float) -> Duration:
    """Read an admin's SLA amount; raises ValueError saying what was wrong.

    Spaces, case and full-width characters do not matter ("３ 工作日" is
    "3wd"). A bare number means hours, because that is how the brief states
    its clocks ("48 hours") and how a YAML number most naturally reads.
    """
    if isinstance(text, bool):
        raise ValueError(f"a duration must be a number with a unit, got {text}")
    if isinstance(text, (int, float)):
        return Duration(float(text), "hours")
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a text like {_EXAMPLES}, got {type(text).__name__}")
    found = _NUMBER.match(unicodedata.normalize("NFKC", text))
    if found is None:
        raise ValueError(f'cannot read "{text}" as a duration: it must start with a number '
                         f"(e.g. {_EXAMPLES})")
    number, word = found.groups()
    word = re.sub(r"[\s_-]+", "", word.lower())
    unit = _UNIT_OF.get(word or "h")
    if unit is None:
        raise ValueError(f'unknown unit "{found.group(2)}" in duration "{text}" '
                         f"(e.g. {_EXAMPLES})")
    amount = float(number)
    if unit == _WEEK:
        amount, unit = amount * 7, "days"
    if amount <= 0:
        raise ValueError(f'duration "{text}" must be more than 0')
    if unit == "working_days" and not amount.is_integer():
        raise ValueError(f'duration "{text}": working days must be a whole number '
                         "(use working hours for part of a day)")
    return Duration(amount, unit)


# --- the public holiday calendar --------------------------------------------------------

@lru_cache(maxsize=65536)
def _public_working_day(day: date, public_holidays: str) -> bool | None:
    """The public calendar's answer for one day; None when it does not know the year.

    Cached per (day, calendar): a report asks about the same few hundred days
    thousands of times.
    """
    if public_holidays == "none":
        return day.weekday() < 5
    try:
        import chinese_calendar
    except ImportError:
        return None
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package has no data for (yet)
        return None


# --- the calendar ---------------------------------------------------------------------------

def default_tz() -> ZoneInfo:
    return ZoneInfo(DEFAULT_TZ)


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are worked and when, in one time zone; every SLA clock goes through here."""

    tz: ZoneInfo = field(default_factory=default_tz)
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS  # sorted, non-overlapping
    days_off: frozenset[date] = frozenset()  # company days off, on top of public holidays
    workdays: frozenset[date] = frozenset()  # company working days on weekends / holidays
    public_holidays: str = "cn"  # "cn" (chinese_calendar) | "none" (Monday–Friday)
    # Years already warned about; per calendar so that tests (and reloads) are independent.
    _warned: set[int] = field(default_factory=set, init=False, repr=False, compare=False)
    # Each day's working intervals in UTC, worked out once: every new mail's clocks walk the same
    # few days ahead, and the calendar never changes (a new one is built when its files change).
    _days: dict[tuple[date, bool], tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.public_holidays not in PUBLIC_HOLIDAYS:
            raise ValueError(f'unknown public_holidays "{self.public_holidays}" '
                             f'(expected one of {", ".join(PUBLIC_HOLIDAYS)})')
        problem = _hours_problem(self.hours)
        if problem:
            raise ValueError(problem)

    # -- days

    def is_working_day(self, day: date) -> bool:
        """Company working day > company day off > public calendar (Monday–Friday if unknown)."""
        if day in self.workdays:
            return True
        if day in self.days_off:
            return False
        known = _public_working_day(day, self.public_holidays)
        if known is None:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no public holiday data for %s: counting Monday-Friday (plus %s) "
                            "as working days", day.year, "rules/calendar.yaml")
            return day.weekday() < 5
        return known

    # -- instants

    def next_opening(self, at: datetime) -> datetime:
        """``at`` if it is inside working hours of a working day, else the next start of them."""
        now = self._utc(at)
        day = now.astimezone(self.tz).date()
        while True:
            for start, end in self._intervals(day):
                if now < start:
                    return start.astimezone(self.tz)
                if now < end:
                    return now.astimezone(self.tz)
            day += _ONE_DAY

    def add(self, start: datetime, duration: Duration) -> datetime:
        """When ``duration`` from ``start`` runs out; the due date of an SLA clock.

        Reaching the amount exactly at the end of a working day or of a working-hours
        interval returns that end (00:00 of the next day, or e.g. 18:00), not the next
        opening: the deadline is the moment the time ran out.
        """
        if not isinstance(duration, Duration):
            raise TypeError(f"add() needs a Duration (see parse_duration), got {type(duration).__name__}")
        if duration.unit == "days":
            local = self._utc(start).astimezone(self.tz)
            return _normal(local + timedelta(days=duration.amount), self.tz)
        opening = self.next_opening(start)
        if duration.unit == "working_days":
            return self._add_working_days(opening, int(duration.amount))
        remaining = timedelta(hours=duration.amount)
        now = opening.astimezone(_UTC)
        day = opening.date()
        while True:
            windows = self._intervals(day) if duration.unit == "working_hours" else self._whole(day)
            for begin, end in windows:
                if end <= now:
                    continue
                now = max(now, begin)
                if remaining <= end - now:
                    return (now + remaining).astimezone(self.tz)
                remaining -= end - now
                now = end
            day += _ONE_DAY

    def elapsed_hours(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end``, in the sense of the "hours" clock.

        The clock starts at the next opening after ``start`` and counts every hour of
        working days only; 0.0 when ``end`` is not after that opening. This is what the
        reports call time to acknowledge, to plan and to close.
        """
        stop = self._utc(end)
        now = self.next_opening(start).astimezone(_UTC)
        if stop <= now:
            return 0.0
        total = timedelta()
        day = now.astimezone(self.tz).date()
        while True:
            for begin, finish in self._whole(day):
                if begin >= stop:
                    return total.total_seconds() / 3600
                total += min(finish, stop) - max(begin, now)
                if finish >= stop:
                    return total.total_seconds() / 3600
            day += _ONE_DAY

    # -- helpers

    def _add_working_days(self, opening: datetime, days: int) -> datetime:
        day = opening.date()
        while days > 0:
            day += _ONE_DAY
            if self.is_working_day(day):
                days -= 1
        return _normal(datetime.combine(day, opening.timetz()), self.tz)

    def _utc(self, moment: datetime) -> datetime:
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: give it a time zone "
                             "(working time depends on where the clock is)")
        return moment.astimezone(_UTC)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(_UTC)

    def _intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working-hours intervals of ``day`` in UTC; none on a day off."""
        found = self._days.get((day, False))
        if found is None:
            found = self._days[(day, False)] = tuple(
                (self._at(day, start), self._at(day, end)) for start, end in self.hours
            ) if self.is_working_day(day) else ()
        return found

    def _whole(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The whole of ``day`` (midnight to midnight, UTC) if it is a working day."""
        found = self._days.get((day, True))
        if found is None:
            found = self._days[(day, True)] = (
                ((self._at(day, time(0)), self._at(day + _ONE_DAY, time(0))),) if self.is_working_day(day) else ())
        return found


def _normal(moment: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock result that exists in ``tz`` (a time skipped by DST moves forward)."""
    return moment.astimezone(_UTC).astimezone(tz)


def _hours_problem(hours: tuple[tuple[time, time], ...]) -> str | None:
    """Why these working hours cannot be used, or None."""
    if not hours:
        return "working hours need at least one interval"
    previous: tuple[time, time] | None = None
    for start, end in hours:
        if not start < end:
            return f"working hours {start:%H:%M}-{end:%H:%M}: the start must be before the end"
        if previous is not None and start < previous[1]:
            return (f"working hours {start:%H:%M}-{end:%H:%M} overlap or come before "
                    f"{previous[0]:%H:%M}-{previous[1]:%H:%M} (list them from morning to evening)")
        previous = (start, end)
    return None
