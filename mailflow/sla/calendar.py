"""Working days, as the client reads "within 3 working days".

Chinese public holidays and the make-up working days (调休) come from the
``chinesecalendar`` package, which knows each year once the State Council
publishes it. For a year it does not know yet we fall back to Monday–Friday
and warn once, because a slightly wrong promise date is better than a crash.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

log = logging.getLogger(__name__)
_warned: set[int] = set()


def is_working_day(day: date) -> bool:
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(day))
    except (ImportError, NotImplementedError):
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("no holiday data for %s: counting Monday-Friday as working days", day.year)
        return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """The same clock time ``days`` working days after ``start`` (local time in, local out)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current.date()):
            remaining -= 1
    return current
