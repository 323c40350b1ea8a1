"""The working-time calendar (BRIEF §4): every SLA clock and report time goes through it.

Read the tables as the specification. The facts are 2026's: National Day is
off Oct 1–7 with Sun Sep 20 and Sat Oct 10 worked; Mid-Autumn Fri Sep 25 is
off (so Sep 25–27 are off); the Spring Festival is off Feb 15–23 with Sat
Feb 14 and Sat Feb 28 worked. Times are Asia/Shanghai, working hours
09:00–18:00 unless a test says otherwise, and every result is asserted to
the minute and in the calendar's zone.
"""

from __future__ import annotations

import logging
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import ROOT
from mailflow.errors import RuleError
from mailflow.sla.calendar import Duration, WorkCalendar, parse_duration
from mailflow.sla.calendar_file import CALENDAR_FILE, check_calendar, load_calendar

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
SHIPPED = ROOT / "rules" / CALENDAR_FILE
CAL = WorkCalendar()
LUNCH = WorkCalendar(hours=((time(9), time(12)), (time(13), time(18))))
LOGGER = "mailflow.sla.calendar"


def at(text: str, tz: ZoneInfo | timezone = SH) -> datetime:
    """ "2026-09-30 15:00" as an aware datetime (Shanghai unless told)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def local(result: datetime) -> str:
    """The result as Shanghai wall time, after checking it is in the calendar's zone."""
    assert result.tzinfo == SH, f"{result} is not in Asia/Shanghai"
    assert (result.second, result.microsecond) == (0, 0), result
    return result.strftime("%Y-%m-%d %H:%M")


# --- which days are worked ------------------------------------------------------------

@pytest.mark.parametrize("day, worked", [
    ("2026-09-18", True),   # Friday
    ("2026-09-19", False),  # Saturday
    ("2026-09-20", True),   # Sunday, make-up day for National Day
    ("2026-09-25", False),  # Friday, Mid-Autumn
    ("2026-09-26", False),
    ("2026-09-27", False),
    ("2026-09-28", True),
    *[(f"2026-10-0{d}", False) for d in range(1, 8)],  # National Day week
    ("2026-10-08", True),
    ("2026-10-10", True),   # Saturday, make-up day
    ("2026-10-11", False),  # Sunday
    ("2026-02-14", True),   # Saturday, make-up day before the Spring Festival
    ("2026-02-16", False),  # Spring Festival
    ("2026-02-23", False),
    ("2026-02-24", True),
    ("2026-02-28", True),   # Saturday, make-up day after it
])
def test_the_public_calendar_knows_holidays_and_make_up_days(day, worked):
    assert CAL.is_working_day(date.fromisoformat(day)) is worked


def test_public_holidays_none_means_monday_to_friday():
    plain = WorkCalendar(public_holidays="none")
    assert plain.is_working_day(date(2026, 10, 1))       # a Thursday, holiday or not
    assert not plain.is_working_day(date(2026, 10, 10))  # a Saturday, make-up day or not
    assert plain.next_opening(at("2026-09-30 20:00")) == at("2026-10-01 09:00")


# --- next opening -----------------------------------------------------------------------

@pytest.mark.parametrize("start, opening", [
    ("2026-09-30 15:00", "2026-09-30 15:00"),  # inside working hours: itself
    ("2026-09-30 09:00", "2026-09-30 09:00"),  # the opening minute belongs to the day
    ("2026-09-30 08:00", "2026-09-30 09:00"),  # before hours
    ("2026-09-30 18:00", "2026-10-08 09:00"),  # closing time is closed; then National Day
    ("2026-09-30 23:59", "2026-10-08 09:00"),
    ("2026-10-03 11:00", "2026-10-08 09:00"),  # on a holiday
    ("2026-10-09 19:00", "2026-10-10 09:00"),  # Friday evening: Saturday is a make-up day
    ("2026-10-10 08:30", "2026-10-10 09:00"),  # on the make-up Saturday
    ("2026-10-10 18:30", "2026-10-12 09:00"),
    ("2026-09-19 10:00", "2026-09-20 09:00"),  # Saturday: the make-up Sunday follows
    ("2026-09-24 18:30", "2026-09-28 09:00"),  # Mid-Autumn Friday and the weekend
    ("2026-02-13 20:00", "2026-02-14 09:00"),
    ("2026-02-14 20:00", "2026-02-24 09:00"),  # the whole Spring Festival
])
def test_next_opening(start, opening):
    assert local(CAL.next_opening(at(start))) == opening


@pytest.mark.parametrize("start, opening", [
    ("2026-09-30 01:00", "2026-09-30 09:00"),  # 09:00 in Shanghai
    ("2026-09-30 10:30", "2026-10-08 09:00"),  # 18:30 in Shanghai
    ("2026-09-29 23:30", "2026-09-30 09:00"),  # still the 29th in UTC, the 30th in Shanghai
])
def test_next_opening_of_a_utc_instant_is_in_shanghai(start, opening):
    assert local(CAL.next_opening(at(start, UTC))) == opening


@pytest.mark.parametrize("start, opening", [
    ("2026-09-30 11:59", "2026-09-30 11:59"),
    ("2026-09-30 12:00", "2026-09-30 13:00"),  # lunch
    ("2026-09-30 12:30", "2026-09-30 13:00"),
    ("2026-09-30 17:00", "2026-09-30 17:00"),
])
def test_next_opening_with_a_lunch_break(start, opening):
    assert local(LUNCH.next_opening(at(start))) == opening


# --- "48 h": all hours of working days ------------------------------------------------

@pytest.mark.parametrize("start, amount, due", [
    ("2026-09-30 15:00", 24, "2026-10-08 15:00"),  # 9 h left on Sep 30, Oct 1-7 stop the clock
    ("2026-09-30 20:00", 24, "2026-10-09 09:00"),  # starts at Oct 8 09:00
    ("2026-09-30 15:00", 9, "2026-10-01 00:00"),   # runs out exactly at midnight: that instant
    ("2026-09-30 15:00", 10, "2026-10-08 01:00"),
    ("2026-10-03 10:00", 48, "2026-10-10 09:00"),  # on a holiday: 15 + 24, then the make-up Saturday
    ("2026-09-18 15:00", 48, "2026-09-21 15:00"),  # Saturday off, the make-up Sunday counts 24 h
    ("2026-09-24 10:00", 24, "2026-09-28 10:00"),  # Mid-Autumn
    ("2026-02-13 15:00", 24, "2026-02-14 15:00"),  # the make-up Saturday counts
    ("2026-02-14 10:00", 24, "2026-02-24 10:00"),  # then nothing until after the Spring Festival
    ("2026-09-30 17:45", 0.5, "2026-09-30 18:15"),  # once started, closing time does not stop it
    ("2026-09-30 08:00", 1, "2026-09-30 10:00"),   # before hours: starts at 09:00
])
def test_add_hours(start, amount, due):
    assert local(CAL.add(at(start), Duration(amount, "hours"))) == due


def test_add_hours_to_a_utc_instant():
    due = CAL.add(at("2026-09-30 07:00", UTC), parse_duration("24h"))  # 15:00 in Shanghai
    assert local(due) == "2026-10-08 15:00"


# --- working hours ----------------------------------------------------------------------

@pytest.mark.parametrize("start, amount, due", [
    ("2026-10-09 17:00", 2, "2026-10-10 10:00"),   # Friday 1 h, the make-up Saturday 1 h
    ("2026-09-30 15:00", 8, "2026-10-08 14:00"),
    ("2026-09-30 15:00", 3, "2026-09-30 18:00"),   # exactly closing time: that instant
    ("2026-09-30 15:00", 3.5, "2026-10-08 09:30"),
    ("2026-10-03 12:00", 9, "2026-10-08 18:00"),   # on a holiday: one full day from Oct 8
    ("2026-09-28 09:00", 45, "2026-10-09 18:00"),  # five full days across National Day
    ("2026-09-24 16:00", 4, "2026-09-28 11:00"),   # Mid-Autumn
    ("2026-02-27 17:00", 2, "2026-02-28 10:00"),   # the make-up Saturday
    ("2026-02-28 17:00", 2, "2026-03-02 10:00"),   # then Sunday is off
    ("2026-09-30 20:00", 0.5, "2026-10-08 09:30"),
])
def test_add_working_hours(start, amount, due):
    assert local(CAL.add(at(start), Duration(amount, "working_hours"))) == due


@pytest.mark.parametrize("start, amount, due", [
    ("2026-09-30 11:00", 1, "2026-09-30 12:00"),
    ("2026-09-30 11:00", 2, "2026-09-30 14:00"),   # lunch does not count
    ("2026-09-30 12:15", 1, "2026-09-30 14:00"),   # starts after lunch
    ("2026-09-30 17:00", 2, "2026-10-08 10:00"),
])
def test_add_working_hours_with_a_lunch_break(start, amount, due):
    assert local(LUNCH.add(at(start), Duration(amount, "working_hours"))) == due


# --- working days -------------------------------------------------------------------------

@pytest.mark.parametrize("start, amount, due", [
    ("2026-10-09 10:00", 3, "2026-10-13 10:00"),  # Sat Oct 10 (1), Sun off, Mon (2), Tue (3)
    ("2026-09-30 15:00", 3, "2026-10-10 15:00"),  # Oct 8, Oct 9, the make-up Saturday
    ("2026-09-30 20:00", 1, "2026-10-09 09:00"),  # counted from the next opening, Oct 8 09:00
    ("2026-10-03 11:00", 1, "2026-10-09 09:00"),  # on a holiday, likewise
    ("2026-10-10 08:00", 1, "2026-10-12 09:00"),  # on the make-up Saturday, before hours
    ("2026-09-18 10:00", 2, "2026-09-21 10:00"),  # the make-up Sunday counts
    ("2026-09-24 10:00", 1, "2026-09-28 10:00"),  # Mid-Autumn
    ("2026-02-13 10:00", 1, "2026-02-14 10:00"),
    ("2026-02-14 10:00", 1, "2026-02-24 10:00"),
])
def test_add_working_days(start, amount, due):
    assert local(CAL.add(at(start), Duration(amount, "working_days"))) == due


# --- calendar days -------------------------------------------------------------------------

@pytest.mark.parametrize("start, text, due", [
    ("2026-09-30 20:00", "7 days", "2026-10-07 20:00"),  # no opening, no holidays
    ("2026-10-03 03:00", "1d", "2026-10-04 03:00"),
    ("2026-09-30 20:00", "2 weeks", "2026-10-14 20:00"),
])
def test_add_days_is_plain_calendar_time(start, text, due):
    assert local(CAL.add(at(start), parse_duration(text))) == due


def test_add_days_to_a_utc_instant_answers_in_shanghai():
    assert local(CAL.add(at("2026-09-30 20:00", UTC), parse_duration("1 week"))) == "2026-10-08 04:00"


# --- elapsed working time (what the reports show) -----------------------------------------

@pytest.mark.parametrize("start, end, hours", [
    ("2026-09-30 15:00", "2026-10-08 15:00", 24.0),  # across National Day
    ("2026-09-30 15:00", "2026-10-04 12:00", 9.0),   # holiday time does not count
    ("2026-09-30 15:00", "2026-10-01 00:00", 9.0),
    ("2026-09-30 20:00", "2026-10-08 10:00", 1.0),   # the clock starts at Oct 8 09:00
    ("2026-09-30 20:00", "2026-10-05 12:00", 0.0),   # ended before the clock started
    ("2026-09-30 15:00", "2026-09-30 14:00", 0.0),   # ended before it began
    ("2026-09-30 15:00", "2026-09-30 15:00", 0.0),
    ("2026-09-18 15:00", "2026-09-21 15:00", 48.0),  # the make-up Sunday counts 24 h
    ("2026-10-09 17:00", "2026-10-10 10:00", 17.0),  # Friday to the make-up Saturday
    ("2026-02-13 15:00", "2026-02-24 10:00", 43.0),  # 9 + 24 (Sat Feb 14) + 10
])
def test_elapsed_hours(start, end, hours):
    assert CAL.elapsed_hours(at(start), at(end)) == hours


def test_elapsed_hours_between_utc_instants():
    assert CAL.elapsed_hours(at("2026-09-30 07:00", UTC), at("2026-10-08 07:00", UTC)) == 24.0


def test_elapsed_hours_undoes_add_hours():
    """The report's clock and the SLA clock are the same clock."""
    start = at("2026-09-15 00:00")
    while start < at("2026-10-15 00:00"):
        for amount in (0.5, 9, 24, 48, 72):
            due = CAL.add(start, Duration(amount, "hours"))
            assert CAL.elapsed_hours(start, due) == pytest.approx(amount), (start, amount)
        start += timedelta(hours=7)


def test_a_day_with_a_clock_change_counts_its_real_hours():
    """Paris moves to summer time on Sun 2026-03-29 (worked here): that day has 23 hours."""
    paris = ZoneInfo("Europe/Paris")
    calendar = WorkCalendar(tz=paris, public_holidays="none", workdays=frozenset({date(2026, 3, 29)}))
    friday = at("2026-03-27 15:00", paris)
    assert calendar.elapsed_hours(friday, at("2026-03-30 00:00", paris)) == 9 + 23
    due = calendar.add(friday, Duration(24, "hours"))  # 9 on Friday, 15 real hours on Sunday
    assert due.tzinfo == paris and due.replace(tzinfo=None) == datetime(2026, 3, 29, 16, 0)
    assert calendar.add(friday, Duration(1, "working_days")) == at("2026-03-29 15:00", paris)


# --- aware datetimes only -----------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: CAL.next_opening(datetime(2026, 9, 30, 15)),
    lambda: CAL.add(datetime(2026, 9, 30, 15), Duration(24, "hours")),
    lambda: CAL.add(datetime(2026, 9, 30, 15), Duration(1, "days")),
    lambda: CAL.elapsed_hours(datetime(2026, 9, 30, 15), at("2026-10-08 15:00")),
    lambda: CAL.elapsed_hours(at("2026-09-30 15:00"), datetime(2026, 10, 8, 15)),
])
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="naive datetime"):
        call()


# --- a year the holiday package does not know --------------------------------------------

def warnings_about(caplog: pytest.LogCaptureFixture, year: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING and str(year) in r.getMessage()]


def test_an_unknown_year_falls_back_to_monday_to_friday_and_warns_once(caplog):
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert calendar.is_working_day(date(2031, 1, 1))       # a Wednesday (New Year, unknown)
        assert not calendar.is_working_day(date(2031, 1, 4))   # a Saturday
        assert local(calendar.add(at("2031-01-03 17:00"), parse_duration("2wh"))) == "2031-01-06 10:00"
        assert local(calendar.add(at("2031-01-03 15:00"), parse_duration("3 工作日"))) == "2031-01-08 15:00"
        assert calendar.elapsed_hours(at("2031-01-03 15:00"), at("2031-01-06 15:00")) == 24.0
    assert len(warnings_about(caplog, 2031)) == 1
    assert "Monday-Friday" in warnings_about(caplog, 2031)[0].getMessage()


def test_each_unknown_year_warns_once_per_calendar(caplog):
    first, second = WorkCalendar(), WorkCalendar()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for day in (date(2031, 6, 1), date(2031, 6, 2), date(2032, 6, 1), date(2032, 6, 2)):
            first.is_working_day(day)
        second.is_working_day(date(2031, 6, 3))
    assert len(warnings_about(caplog, 2031)) == 2  # one per calendar: tests stay independent
    assert len(warnings_about(caplog, 2032)) == 1


def test_company_days_in_an_unknown_year_need_no_public_calendar(caplog):
    calendar = WorkCalendar(workdays=frozenset({date(2031, 1, 4)}), days_off=frozenset({date(2031, 1, 6)}))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert calendar.is_working_day(date(2031, 1, 4))
        assert not calendar.is_working_day(date(2031, 1, 6))
    assert warnings_about(caplog, 2031) == []


def test_the_none_calendar_never_warns(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert WorkCalendar(public_holidays="none").is_working_day(date(2031, 1, 1))
    assert warnings_about(caplog, 2031) == []


# --- company days win over the public calendar --------------------------------------------

def test_a_company_day_off_stops_the_clock():
    calendar = WorkCalendar(days_off=frozenset({date(2026, 9, 30)}))
    assert not calendar.is_working_day(date(2026, 9, 30))
    assert local(calendar.next_opening(at("2026-09-29 19:00"))) == "2026-10-08 09:00"
    assert local(calendar.add(at("2026-09-29 15:00"), Duration(24, "hours"))) == "2026-10-08 15:00"
    assert local(calendar.add(at("2026-09-29 10:00"), Duration(1, "working_days"))) == "2026-10-08 10:00"


def test_a_company_working_day_on_a_holiday_counts():
    calendar = WorkCalendar(workdays=frozenset({date(2026, 10, 5)}))
    assert calendar.is_working_day(date(2026, 10, 5))
    assert local(calendar.next_opening(at("2026-10-03 11:00"))) == "2026-10-05 09:00"
    assert local(calendar.add(at("2026-10-03 11:00"), Duration(1, "working_days"))) == "2026-10-08 09:00"
    assert calendar.elapsed_hours(at("2026-09-30 15:00"), at("2026-10-08 15:00")) == 9 + 24 + 15


def test_a_company_working_day_beats_a_company_day_off():
    day = date(2026, 10, 5)
    assert WorkCalendar(days_off=frozenset({day}), workdays=frozenset({day})).is_working_day(day)


# --- the calendar refuses working hours it cannot use -------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"hours": ()}, "at least one interval"),
    ({"hours": ((time(18), time(9)),)}, "start must be before the end"),
    ({"hours": ((time(9), time(13)), (time(12), time(18)))}, "overlap or come before"),
    ({"hours": ((time(13), time(18)), (time(9), time(12)))}, "overlap or come before"),
    ({"public_holidays": "us"}, 'unknown public_holidays "us"'),
])
def test_a_calendar_that_cannot_work_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorkCalendar(**kwargs)


# --- durations ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, amount, unit", [
    ("24h", 24, "hours"),
    ("24 h", 24, "hours"),
    ("24 hours", 24, "hours"),
    ("1 hour", 1, "hours"),
    ("48 Hours", 48, "hours"),
    (" 24H ", 24, "hours"),
    ("0.5h", 0.5, "hours"),
    ("48小时", 48, "hours"),
    ("48", 48, "hours"),        # a bare number is hours
    (48, 48, "hours"),
    (0.5, 0.5, "hours"),
    ("8 working hours", 8, "working_hours"),
    ("8wh", 8, "working_hours"),
    ("8 WH", 8, "working_hours"),
    ("1 working hour", 1, "working_hours"),
    ("1.5 working hours", 1.5, "working_hours"),
    ("3 working days", 3, "working_days"),
    ("3wd", 3, "working_days"),
    ("3 工作日", 3, "working_days"),
    ("3个工作日", 3, "working_days"),
    ("３ 工作日", 3, "working_days"),  # full-width digit
    ("2 business days", 2, "working_days"),
    ("7 days", 7, "days"),
    ("7d", 7, "days"),
    ("1 day", 1, "days"),
    ("7天", 7, "days"),
    ("1 week", 7, "days"),
    ("2 weeks", 14, "days"),
    ("1周", 7, "days"),
])
def test_parse_duration(text, amount, unit):
    assert parse_duration(text) == Duration(amount, unit)


@pytest.mark.parametrize("text, message", [
    ("", "must start with a number"),
    ("h", "must start with a number"),
    ("three days", "must start with a number"),
    ("0h", "must be more than 0"),
    ("-3h", "must be more than 0"),
    ("0 weeks", "must be more than 0"),
    (0, "more than 0"),
    ("1.5 working days", "whole number"),
    ("3 fortnights", 'unknown unit "fortnights"'),
    ("3 minutes", 'unknown unit "minutes"'),
    ("24 h h", 'unknown unit'),
    (True, "a number with a unit"),
    (None, "must be a text"),
])
def test_parse_duration_refuses_what_it_cannot_read(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("amount, unit, message", [
    (0, "hours", "more than 0"),
    (1, "minutes", 'unknown duration unit "minutes"'),
    (1.5, "working_days", "whole number"),
])
def test_a_duration_built_in_code_is_checked_too(amount, unit, message):
    with pytest.raises(ValueError, match=message):
        Duration(amount, unit)


def test_a_duration_reads_back_as_written():
    assert [str(parse_duration(t)) for t in ("24h", "1 hour", "8wh", "3wd", "1 week")] == [
        "24 hours", "1 hour", "8 working hours", "3 working days", "7 days"]


# --- speed -----------------------------------------------------------------------------------

def test_a_month_report_worth_of_clocks_is_fast():
    """500 requirements, four deadlines and three elapsed times each: well under a second."""
    durations = [parse_duration(t) for t in ("48h", "3wd", "8wh", "1 week")]
    started = clock.perf_counter()
    for n in range(500):
        start = at("2026-09-01 08:00") + timedelta(hours=7 * n)
        for duration in durations:
            CAL.add(start, duration)
        for days in (1, 5, 30):
            CAL.elapsed_hours(start, start + timedelta(days=days))
    assert clock.perf_counter() - started < 1.0


# --- rules/calendar.yaml ------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CALENDAR_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_calendar_loads():
    assert check_calendar(SHIPPED) == []
    calendar = load_calendar(SHIPPED, SH)
    assert calendar.tz == SH
    assert calendar.public_holidays == "cn"
    assert calendar.hours == ((time(9), time(18)),)
    assert date(2026, 12, 31) in calendar.days_off
    assert not calendar.is_working_day(date(2026, 12, 31))  # a Thursday, the stocktake
    # The example must not move the dates the tables above are about.
    for day in calendar.days_off | calendar.workdays:
        assert (day.year, day.month) not in {(2026, 2), (2026, 9), (2026, 10)}


def test_a_missing_calendar_file_means_the_defaults(tmp_path):
    path = tmp_path / CALENDAR_FILE
    assert check_calendar(path) == []
    assert load_calendar(path, ZoneInfo("Europe/Paris")) == WorkCalendar(tz=ZoneInfo("Europe/Paris"))


def test_every_form_the_file_allows(tmp_path):
    path = write(tmp_path, (
        "public_holidays: none\n"
        "hours:\n"
        '  - "09:00-12:00"\n'
        '  - "13:00-18:00"\n'
        "days_off:\n"
        "  - 2026-12-31\n"
        "  - '2026-12-30'\n"
        "  - date: 2026-12-29\n"
        "    name: 年终盘点 / year-end stocktake\n"
        "workdays:\n"
        "  - date: '2026-12-26'\n"
    ))
    assert check_calendar(path) == []
    calendar = load_calendar(path, SH)
    assert calendar == WorkCalendar(
        tz=SH, hours=((time(9), time(12)), (time(13), time(18))),
        days_off=frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)}),
        workdays=frozenset({date(2026, 12, 26)}), public_holidays="none")
    assert calendar.is_working_day(date(2026, 12, 26))  # a Saturday


def test_a_single_value_may_be_written_without_a_list(tmp_path):
    calendar = load_calendar(write(tmp_path, (
        'hours: "08:30-17:30"\n'
        "days_off: 2026-12-31\n"
        "workdays: {date: 2026-12-26, name: 补班}\n")), SH)
    assert calendar.hours == ((time(8, 30), time(17, 30)),)
    assert calendar.days_off == {date(2026, 12, 31)}
    assert calendar.workdays == {date(2026, 12, 26)}


@pytest.mark.parametrize("text, line, reason", [
    ("public_holidays: us\n", 1, 'unknown public_holidays "us" (expected one of cn, none)'),
    ("holidays: []\n", 1,
     'unknown key "holidays" (expected one of public_holidays, hours, days_off, workdays)'),
    ("hours:\n  - '18:00-09:00'\n", 2,
     '"hours" item 1 "18:00-09:00": the start must be before the end (an interval cannot cross midnight)'),
    ("hours:\n  - 9-18\n", 2, '"hours" item 1 must be "HH:MM-HH:MM" like "09:00-18:00", got "9-18"'),
    ("hours:\n  - 9\n", 2, '"hours" item 1 must be "HH:MM-HH:MM" like "09:00-18:00", got a number (quote it)'),
    ("hours:\n  - '09:00-25:00'\n", 2, '"hours" item 1 "09:00-25:00" is not a time of day (00:00 to 23:59)'),
    ("hours: []\n", 1, '"hours" needs at least one interval like "09:00-18:00"'),
    ("hours:\n", 1, '"hours" must be a list (lines starting with \'- \'), got nothing'),
    ("hours:\n  - '13:00-18:00'\n  - '09:00-12:00'\n", 3,
     '"hours" item 2 overlaps or comes before 13:00-18:00 on line 2 '
     "(list intervals from morning to evening, without overlap)"),
    ("hours:\n  - '09:00-13:00'\n  - '12:00-18:00'\n", 3,
     '"hours" item 2 overlaps or comes before 09:00-13:00 on line 2 '
     "(list intervals from morning to evening, without overlap)"),
    ("days_off:\n  - 2026-02-30\n", 2, '"2026-02-30" is not a real date (day is out of range for month)'),
    ("days_off:\n  - '2026-02-30'\n", 2,
     '"days_off" item 1: "2026-02-30" is not a real date (day is out of range for month)'),
    ("days_off:\n  - '2026/12/31'\n", 2,
     '"days_off" item 1: "2026/12/31" is not a date; write YYYY-MM-DD, e.g. 2026-12-31'),
    ("days_off:\n  - 2026-12-31 10:00:00\n", 2,
     '"days_off" item 1: 2026-12-31 10:00:00 has a time; write the date only (YYYY-MM-DD)'),
    ("days_off:\n  - 20261231\n", 2, '"days_off" item 1: a date must be written YYYY-MM-DD, got a number'),
    ("days_off:\n  - date: 2026-12-31\n    nmae: 盘点\n", 3,
     '"days_off" item 1: unknown key "nmae" (expected one of date, name)'),
    ("workdays:\n  - name: 补班\n", 2, '"workdays" item 1: missing "date"'),
    ("days_off: 42\n", 1, '"days_off" item 1: a date must be written YYYY-MM-DD, got a number'),
    ("days_off:\n  - 2026-12-31\n  - 2026-12-31\n", 3,
     '"days_off" item 2: 2026-12-31 is already listed on line 2'),
    ("days_off: [2026-12-31]\nworkdays:\n  - date: 2026-12-31\n    name: x\n", 3,
     "2026-12-31 is both a day off (line 1) and a working day; keep one"),
    ("hours: ['09:00-18:00'\n", 2,
     "YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1)"),
    ("- cn\n", 1, "the file must be a mapping (key: value lines), got a list"),
    ("# everything commented out\n", 1, "the file is empty"),
])
def test_each_mistake_is_one_file_line_reason(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as err:
        load_calendar(path, SH)
    assert str(err.value) == f"{path}:{line}: {reason}"


def test_check_lists_every_problem_in_line_order(tmp_path):
    path = write(tmp_path, (
        "public_holidays: jp\n"
        "hours:\n"
        "  - '9-18'\n"
        "days_off:\n"
        "  - 2026-12-31\n"
        "workdays:\n"
        "  - '2026-12-31'\n"
        "  - 'soon'\n"
        "extra: 1\n"
    ))
    assert check_calendar(path) == [
        f'{path}:1: unknown public_holidays "jp" (expected one of cn, none)',
        f'{path}:3: "hours" item 1 must be "HH:MM-HH:MM" like "09:00-18:00", got "9-18"',
        f"{path}:7: 2026-12-31 is both a day off (line 5) and a working day; keep one",
        f'{path}:8: "workdays" item 2: "soon" is not a date; write YYYY-MM-DD, e.g. 2026-12-31',
        f'{path}:9: unknown key "extra" (expected one of public_holidays, hours, days_off, workdays)',
    ]
