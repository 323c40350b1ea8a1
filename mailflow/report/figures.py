"""The month's figures, computed once, from plain ``Item``s (BRIEF §6).

Pure: no database, no clock. The caller passes the working-time function, so
"hours to acknowledge" means what the SLA means (working hours on working
days of the local calendar), and this module never computes calendar time.

Percentiles use the nearest-rank method, chosen because every figure it
gives is a time that really happened (no interpolation between two
requirements), and it is easy to check by hand: the p-th percentile of n
sorted values is the value at rank ceil(p/100 * n), counting from 1. The
median is the nearest-rank 50th percentile, so for an even n it is the lower
of the two middle values, not their mean. A time whose end lies before its
start (a plan recorded before the mail arrived, clock skew) counts as 0.

The month is taken in the report's time zone: 2026-11-01 00:30 in Shanghai
is November although UTC still says October 31. The caller may pass items of
other months; they are left out here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from mailflow.classify.model import PRIORITIES, STAGES, TIERS, TYPES
from mailflow.record.workflow import STATUSES
from mailflow.report.mask import mask_email, mask_name
from mailflow.report.model import (UNKNOWN_CUSTOMER, Bucket, Counts, CustomerRow, Duration, Item, Report,
                                   Satisfaction, Sla, SubmitterRow, Verification, Week)
from mailflow.report.glossary import Glossary
from mailflow.report.needs import Describe, group_needs

# Working hours to the first plan; the SLA's own marks (a day, 48 h, 72 h) are edges.
PLAN_BUCKETS = ((0, 8), (8, 24), (24, 48), (48, 72), (72, 120), (120, None))

Elapsed = Callable[[datetime, datetime], float]


def build_report(items: Iterable[Item], *, month: str, tz: ZoneInfo, elapsed_hours: Elapsed,
                 glossary: Glossary | None = None, top: int = 10, describe: Describe | None = None) -> Report:
    """The report of the requirements submitted in ``month`` ("YYYY-MM", in ``tz``).

    ``top`` limits the customer, submitter and common-needs lists.
    ``describe``: the descriptions, for items read without them (``group_needs``).
    """
    start, end = month_bounds(month)
    chosen = sorted((item for item in items if start <= item.submitted_at.astimezone(tz).date() <= end),
                    key=lambda item: item.id)
    satisfied = Counter(item.satisfaction for item in chosen)
    answered = satisfied["satisfied"] + satisfied["neutral"] + satisfied["unsatisfied"]
    passed = sum(item.verification == "passed" for item in chosen)
    failed = sum(item.verification == "failed" for item in chosen)
    breached = sum(item.breaches > 0 for item in chosen)
    plan_hours = _hours(chosen, "planned_at", elapsed_hours)
    return Report(
        month=month,
        start=start,
        end=end,
        timezone=str(tz.key),
        total=len(chosen),
        by_status=tally((item.status for item in chosen), STATUSES),
        by_type=tally((item.type for item in chosen), TYPES),
        by_customer=tally(item.customer or UNKNOWN_CUSTOMER for item in chosen),
        by_stage=tally((item.stage for item in chosen), STAGES),
        by_tier=tally((item.tier for item in chosen), TIERS),
        by_priority=tally((item.priority for item in chosen), PRIORITIES),
        acknowledge=duration(_hours(chosen, "acknowledged_at", elapsed_hours)),
        plan=duration(plan_hours),
        close=duration(_hours(chosen, "closed_at", elapsed_hours)),
        sla=Sla(breached, len(chosen), _rate(breached, len(chosen)), sum(item.breaches for item in chosen)),
        verification=Verification(passed, failed, _rate(passed, passed + failed)),
        satisfaction=Satisfaction(satisfied["satisfied"], satisfied["neutral"], satisfied["unsatisfied"],
                                  _rate(satisfied["satisfied"], answered)),
        top_customers=top_customers(chosen, top),
        top_submitters=top_submitters(chosen, top),
        weekly_intake=weekly_intake(chosen, start, end, tz),
        plan_histogram=histogram(plan_hours),
        common_needs=group_needs(chosen, glossary, describe=describe)[:top],
    )


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of "YYYY-MM"; ValueError for anything else."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except (ValueError, TypeError):
        raise ValueError(f'month must be "YYYY-MM", got "{month}"') from None
    if len(month) != 7:
        raise ValueError(f'month must be "YYYY-MM", got "{month}"')
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def tally(values: Iterable[str], known: Sequence[str] = ()) -> Counts:
    """(key, count), biggest first, ties by key; ``known`` keys are listed even at 0."""
    counts = Counter({key: 0 for key in known})
    counts.update(values)
    return tuple(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float | None:
    """The value at rank ceil(percent/100 * n) (1-based) of an ascending list; None when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, -(-percent * n // 100))  # ceil without floating point
    return sorted_values[rank - 1]


def duration(hours: Sequence[float]) -> Duration:
    """n, nearest-rank median and p90, rounded to 0.1 hour."""
    ordered = sorted(hours)
    median, p90 = nearest_rank(ordered, 50), nearest_rank(ordered, 90)
    return Duration(len(ordered), None if median is None else round(median, 1),
                    None if p90 is None else round(p90, 1))


def _hours(items: Sequence[Item], field: str, elapsed_hours: Elapsed) -> list[float]:
    """Working hours from submission to ``field``, for the items that have it; never negative."""
    hours = []
    for item in items:
        end = getattr(item, field)
        if end is None:
            continue
        hours.append(0.0 if end < item.submitted_at else max(0.0, float(elapsed_hours(item.submitted_at, end))))
    return hours


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def top_customers(items: Sequence[Item], top: int) -> tuple[CustomerRow, ...]:
    """Known customers by requirements; senders without a customer are not a customer."""
    rows: dict[str, list[Item]] = {}
    for item in items:
        if item.customer:
            rows.setdefault(item.customer, []).append(item)
    found = [CustomerRow(name, len(own), len({i.submitter_email.lower() for i in own}),
                         sum(i.breaches > 0 for i in own)) for name, own in rows.items()]
    found.sort(key=lambda row: (-row.requirements, row.name))
    return tuple(found[:top])


def top_submitters(items: Sequence[Item], top: int) -> tuple[SubmitterRow, ...]:
    """People by requirements, masked; one row per address (two Mr Wangs stay two rows)."""
    rows: dict[str, list[Item]] = {}
    for item in items:
        rows.setdefault(item.submitter_email.strip().lower(), []).append(item)
    ranked = sorted(rows.items(), key=lambda pair: (-len(pair[1]), mask_email(pair[0]), pair[0]))
    return tuple(SubmitterRow(mask_name(own[0].submitter_name), mask_email(own[0].submitter_email),
                              own[0].customer or UNKNOWN_CUSTOMER, len(own))
                 for _, own in ranked[:top])


def weekly_intake(items: Sequence[Item], start: date, end: date, tz: ZoneInfo) -> tuple[Week, ...]:
    """Every ISO week (Monday start) overlapping the month, with its submissions inside the month."""
    days = Counter(item.submitted_at.astimezone(tz).date() for item in items)
    weeks = []
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        year, number, _ = monday.isocalendar()
        count = sum(n for day, n in days.items() if monday <= day < monday + timedelta(days=7)
                    and start <= day <= end)
        weeks.append(Week(f"{year}-W{number:02d}", monday, count))
        monday += timedelta(days=7)
    return tuple(weeks)


def histogram(hours: Sequence[float]) -> tuple[Bucket, ...]:
    """Counts per PLAN_BUCKETS: upper edge inclusive ("within 48 h" is in 24-48), first from 0."""
    buckets = []
    for low, high in PLAN_BUCKETS:
        label = f">{low}" if high is None else f"{low}-{high}"
        count = sum(1 for h in hours if (h > low or (low == 0 and h >= 0)) and (high is None or h <= high))
        buckets.append(Bucket(label, low, high, count))
    return tuple(buckets)
