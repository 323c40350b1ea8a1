"""The monthly report's data: what goes in (``Item``), what comes out (``Report``).

Both sides are plain frozen dataclasses so the figures can be computed and
tested without a database, and every renderer (text, JSON, CSV, HTML) reads
the same finished numbers instead of recomputing them.

``report_to_dict`` is the JSON form. Its keys are stable (the CLI's
``--format json`` and whatever reads it depend on them); add keys, never
rename them. Hours are working hours, rounded to 0.1; rates are fractions
0..1 rounded to 4 places, or null when nothing was there to divide by.

    month                "2026-10"
    period               {"start": "2026-10-01", "end": "2026-10-31", "timezone": "Asia/Shanghai"}
                         the month's first and last day (both inclusive) in that zone
    total                requirements submitted in the month
    by_status, by_type, by_stage, by_tier, by_priority, by_customer
                         [{"key": ..., "count": n}, ...] biggest first, ties by key; the
                         known values of status/type/stage/tier/priority are always listed
                         (0 when absent) so months compare; by_customer lists the customers
                         seen, "(unknown)" for senders without one
    time_to_acknowledge, time_to_plan, time_to_close
                         {"n": how many have that time, "median_hours": x, "p90_hours": x}
                         nearest-rank percentiles (see figures.py); both null when n == 0
    sla                  {"breached": requirements with >= 1 missed deadline, "total": n,
                          "rate": breached / total, "deadlines_missed": sum of missed deadlines}
    verification         {"passed": n, "failed": n, "rate": passed / (passed + failed)}
    satisfaction         {"satisfied": n, "neutral": n, "unsatisfied": n, "answered": n,
                          "share_satisfied": satisfied / answered}
    top_customers        [{"name", "requirements", "submitters", "breached"}, ...]
                         "breached": its requirements with >= 1 missed deadline
    top_submitters       [{"name", "email", "customer", "requirements"}, ...] name and email masked
    weekly_intake        [{"week": "2026-W40", "start": "2026-09-28", "count": n}, ...]
                         every ISO week (Monday start) overlapping the month; counts only
                         the days inside the month
    plan_histogram       [{"label": "0-8", "low": 0, "high": 8, "count": n}, ...]
                         working hours to the first plan; "high" is null for the last bucket
    common_needs         [{"label", "requirements", "customers", "share", "customer_names",
                           "ids", "samples": {"zh": subject, "en": subject}}, ...]
                         "share": askers / everyone who wrote this month; an asker is a
                         customer, else the sender's domain (a free-mail sender: the address)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

UNKNOWN_CUSTOMER = "(unknown)"

Counts = tuple[tuple[str, int], ...]  # (key, count), biggest first, ties by key


@dataclass(frozen=True, slots=True)  # a busy month holds 100,000 of these: no __dict__ each
class Item:
    """One requirement as the monthly report sees it."""

    id: str                      # "REQ-202610-001"
    status: str                  # new|in_progress|pending_verification|done|closed|cancelled
    type: str                    # bug|feature|improvement|service|other
    priority: str                # high|medium|low
    customer: str | None         # company name, shown as is (it is what product planning needs)
    customer_key: str | None     # stable key; None for an unknown sender
    stage: str                   # presales|implementation|service
    tier: str                    # strategic|core|standard
    submitter_name: str          # a person: masked in every output
    submitter_email: str         # masked in every output
    language: str                # zh|en
    subject: str
    description: str             # the client's words
    submitted_at: datetime       # aware
    acknowledged_at: datetime | None   # first mail to the client (acknowledgement)
    planned_at: datetime | None        # first plan (proposed or confirmed)
    closed_at: datetime | None         # completed
    breaches: int = 0                  # SLA deadlines missed (recorded escalations)
    verification: str | None = None    # passed|failed
    satisfaction: str | None = None    # satisfied|neutral|unsatisfied


@dataclass(frozen=True)
class Duration:
    """How long one step took across the month, in working hours."""

    n: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Sla:
    breached: int          # requirements with at least one missed deadline
    total: int
    rate: float | None
    deadlines_missed: int  # all missed deadlines together


@dataclass(frozen=True)
class Verification:
    passed: int
    failed: int
    rate: float | None


@dataclass(frozen=True)
class Satisfaction:
    satisfied: int
    neutral: int
    unsatisfied: int
    share_satisfied: float | None

    @property
    def answered(self) -> int:
        return self.satisfied + self.neutral + self.unsatisfied


@dataclass(frozen=True)
class CustomerRow:
    name: str
    requirements: int
    submitters: int  # distinct submitter addresses
    breached: int    # its requirements with at least one missed deadline


@dataclass(frozen=True)
class SubmitterRow:
    name: str    # masked
    email: str   # masked
    customer: str
    requirements: int


@dataclass(frozen=True)
class Week:
    week: str     # ISO week, "2026-W40"
    start: date   # its Monday (may lie in the previous month)
    count: int    # submitted that week, inside the month


@dataclass(frozen=True)
class Bucket:
    label: str          # "0-8", ">120"
    low: float
    high: float | None  # None: no upper bound
    count: int


@dataclass(frozen=True)
class NeedGroup:
    """Requirements that ask for the same thing, across customers and languages."""

    label: str
    requirements: int
    customers: int                       # distinct customers (or sender domains) asking
    share: float | None                  # of everyone who wrote in the period, how many ask this
    customer_names: tuple[str, ...]
    ids: tuple[str, ...]
    samples: tuple[tuple[str, str], ...]  # (language, subject), one per language


@dataclass(frozen=True)
class Report:
    month: str
    start: date
    end: date       # inclusive
    timezone: str
    total: int
    by_status: Counts
    by_type: Counts
    by_customer: Counts
    by_stage: Counts
    by_tier: Counts
    by_priority: Counts
    acknowledge: Duration
    plan: Duration
    close: Duration
    sla: Sla
    verification: Verification
    satisfaction: Satisfaction
    top_customers: tuple[CustomerRow, ...]
    top_submitters: tuple[SubmitterRow, ...]
    weekly_intake: tuple[Week, ...]
    plan_histogram: tuple[Bucket, ...]
    common_needs: tuple[NeedGroup, ...]


COUNT_SECTIONS = ("by_status", "by_type", "by_stage", "by_tier", "by_priority", "by_customer")
DURATION_SECTIONS = (("time_to_acknowledge", "acknowledge"), ("time_to_plan", "plan"),
                     ("time_to_close", "close"))


def report_to_dict(report: Report) -> dict:
    """The JSON-ready form; keys as documented at the top of this module."""
    out: dict = {
        "month": report.month,
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat(),
                   "timezone": report.timezone},
        "total": report.total,
    }
    for section in COUNT_SECTIONS:
        out[section] = [{"key": key, "count": count} for key, count in getattr(report, section)]
    for key, attr in DURATION_SECTIONS:
        d: Duration = getattr(report, attr)
        out[key] = {"n": d.n, "median_hours": d.median, "p90_hours": d.p90}
    out["sla"] = {"breached": report.sla.breached, "total": report.sla.total,
                  "rate": report.sla.rate, "deadlines_missed": report.sla.deadlines_missed}
    out["verification"] = {"passed": report.verification.passed,
                           "failed": report.verification.failed, "rate": report.verification.rate}
    s = report.satisfaction
    out["satisfaction"] = {"satisfied": s.satisfied, "neutral": s.neutral,
                           "unsatisfied": s.unsatisfied, "answered": s.answered,
                           "share_satisfied": s.share_satisfied}
    out["top_customers"] = [{"name": c.name, "requirements": c.requirements,
                             "submitters": c.submitters, "breached": c.breached}
                            for c in report.top_customers]
    out["top_submitters"] = [{"name": s.name, "email": s.email, "customer": s.customer,
                              "requirements": s.requirements} for s in report.top_submitters]
    out["weekly_intake"] = [{"week": w.week, "start": w.start.isoformat(), "count": w.count}
                            for w in report.weekly_intake]
    out["plan_histogram"] = [{"label": b.label, "low": b.low, "high": b.high, "count": b.count}
                             for b in report.plan_histogram]
    out["common_needs"] = [{"label": g.label, "requirements": g.requirements,
                            "customers": g.customers, "share": g.share,
                            "customer_names": list(g.customer_names), "ids": list(g.ids),
                            "samples": dict(g.samples)} for g in report.common_needs]
    return out
