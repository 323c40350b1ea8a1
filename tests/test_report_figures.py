"""The monthly report's figures (BRIEF §6), on a hand-made October 2026 whose answers are known.

Read ``october()`` as the specification's worked example: each item says
what it contributes, and the tests below check the totals by hand.
Times are calendar hours here (the caller passes the working-time function).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mailflow.report import (Item, build_report, mask_email, mask_name, render_csv, render_html, render_json,
                             render_text, report_to_dict)
from mailflow.report.figures import month_bounds, nearest_rank
from mailflow.report.mask import scrub
from mailflow.report.render import width

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def item(id: str, submitted: datetime, **fields: object) -> Item:
    """A requirement with harmless defaults; tests name only what matters."""
    base = dict(status="new", type="feature", priority="medium", customer="Acme", customer_key="acme",
                stage="implementation", tier="core", submitter_name="王小明",
                submitter_email="wang.xiaoming@acme.cn", language="zh", subject="一个需求",
                description="需求的描述", acknowledged_at=None, planned_at=None, closed_at=None)
    base.update(fields)
    return Item(id=id, submitted_at=submitted, **base)


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def october() -> list[Item]:
    """Six requirements in October (Shanghai time), three just outside it."""
    a_start = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)  # UTC says September: Oct 1 00:30 in Shanghai
    return [
        # W40 (Mon Sep 28 - Sun Oct 4): a week that starts in September
        item("REQ-202610-001", a_start, type="feature", status="new", priority="high", stage="presales",
             tier="strategic", subject="希望系统支持手机端访问（王小明）",
             description="销售人员经常出差，需要在手机上查看客户资料。",
             acknowledged_at=a_start + timedelta(hours=1),           # ack 1 h
             planned_at=a_start + timedelta(hours=24)),               # plan 24 h
        item("REQ-202610-002", at(3, 14), type="bug", status="in_progress", stage="implementation",
             tier="strategic", subject="保存单据时报错", description="点击保存后提示系统错误。",
             acknowledged_at=at(3, 14, 30),                            # ack 0.5 h
             planned_at=at(5, 14), breaches=1),                        # plan 48 h; one deadline missed
        # W41
        item("REQ-202610-003", at(8, 9), type="bug", status="done", priority="high", customer="Beta Corp",
             customer_key="beta", stage="service", submitter_name="John Smith",
             submitter_email="john.smith@beta.com", language="en", subject="Invoice total is wrong",
             description="The invoice total ignores the discount.",
             acknowledged_at=at(8, 11), planned_at=at(8, 17),          # ack 2 h, plan 8 h
             closed_at=at(10, 9), verification="passed", satisfaction="satisfied"),  # close 48 h
        # W42
        item("REQ-202610-004", at(15, 10), type="improvement", status="closed", priority="low",
             customer="Beta Corp", customer_key="beta", stage="service", submitter_name="Mary Jones",
             submitter_email="mary@beta.com", language="en", subject="Faster login page",
             description="The login page takes ten seconds.",
             acknowledged_at=at(15, 13), planned_at=at(18, 10),        # ack 3 h, plan 72 h
             closed_at=at(20, 10), breaches=2,                          # close 120 h; two missed
             verification="failed", satisfaction="neutral"),
        # W43: an unknown sender; the acknowledgement is recorded before the mail (counts as 0)
        item("REQ-202610-005", at(20, 8), type="service", status="pending_verification", customer=None,
             customer_key=None, stage="service", tier="standard", submitter_name="李四",
             submitter_email="lisi@gmail.com", subject="如何导入员工数据", description="请问怎么导入？",
             acknowledged_at=at(20, 7), planned_at=at(26, 8)),         # ack 0 h, plan 144 h
        # W44 (Mon Oct 26 - Sun Nov 1): the last evening of October, written in UTC
        item("REQ-202610-006", datetime(2026, 10, 31, 15, 30, tzinfo=UTC), type="feature",
             status="cancelled", priority="low", customer="Gamma", customer_key="gamma", stage="presales",
             tier="standard", submitter_name="王芳", submitter_email="wangfang@gamma.cn",
             subject="能否出一个移动端 APP？", description="领导出差时没法审批单据，能否出一个移动端APP？"),
        # --- not October in Shanghai
        item("REQ-202609-030", at(30, 23, 59, month=9), satisfaction="satisfied"),  # W40, but September
        item("REQ-202611-001", datetime(2026, 10, 31, 16, 30, tzinfo=UTC),          # Nov 1 00:30 +08:00
             satisfaction="satisfied", breaches=5),
        item("REQ-202611-002", at(2, 9, month=11), verification="passed"),
    ]


@pytest.fixture(scope="module")
def report():
    return build_report(october(), month="2026-10", tz=SH, elapsed_hours=hours)


# --- the figures --------------------------------------------------------------------------

def test_period_and_total(report):
    assert (report.month, report.start.isoformat(), report.end.isoformat()) == ("2026-10", "2026-10-01",
                                                                                 "2026-10-31")
    assert report.timezone == "Asia/Shanghai"
    assert report.total == 6


def test_counts_biggest_first_ties_by_key_known_values_listed(report):
    assert report.by_status == (("cancelled", 1), ("closed", 1), ("done", 1), ("in_progress", 1),
                                ("new", 1), ("pending_verification", 1))
    assert report.by_type == (("bug", 2), ("feature", 2), ("improvement", 1), ("service", 1), ("other", 0))
    assert report.by_customer == (("Acme", 2), ("Beta Corp", 2), ("(unknown)", 1), ("Gamma", 1))
    assert report.by_stage == (("service", 3), ("presales", 2), ("implementation", 1))
    assert report.by_tier == (("core", 2), ("standard", 2), ("strategic", 2))
    assert report.by_priority == (("high", 2), ("low", 2), ("medium", 2))


def test_times_by_nearest_rank(report):
    # acknowledge: [0, 0.5, 1, 2, 3] -> median rank ceil(2.5)=3, p90 rank ceil(4.5)=5
    assert (report.acknowledge.n, report.acknowledge.median, report.acknowledge.p90) == (5, 1.0, 3.0)
    # plan: [8, 24, 48, 72, 144]
    assert (report.plan.n, report.plan.median, report.plan.p90) == (5, 48.0, 144.0)
    # close: [48, 120] -> the median is the lower middle value (rank 1), not the mean 84
    assert (report.close.n, report.close.median, report.close.p90) == (2, 48.0, 120.0)


@pytest.mark.parametrize("values, p, expected", [
    ([], 50, None),
    ([7], 50, 7), ([7], 90, 7),
    ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 90, 4),
    (list(range(1, 11)), 90, 9), (list(range(1, 11)), 50, 5), (list(range(1, 12)), 90, 10),
    (list(range(1, 21)), 90, 18), (list(range(1, 101)), 90, 90),
])
def test_nearest_rank(values, p, expected):
    assert nearest_rank(values, p) == expected


def test_times_round_to_a_tenth_and_use_the_callers_clock():
    items = [item("REQ-1", at(5, 9), acknowledged_at=at(5, 10))]
    report = build_report(items, month="2026-10", tz=SH, elapsed_hours=lambda a, b: 1.04999)
    assert report.acknowledge.median == 1.0
    negative = build_report(items, month="2026-10", tz=SH, elapsed_hours=lambda a, b: -3.0)
    assert negative.acknowledge.median == 0.0


def test_sla_verification_satisfaction(report):
    assert (report.sla.breached, report.sla.total, report.sla.deadlines_missed) == (2, 6, 3)
    assert report.sla.rate == pytest.approx(2 / 6, abs=1e-4)
    assert (report.verification.passed, report.verification.failed, report.verification.rate) == (1, 1, 0.5)
    s = report.satisfaction
    assert (s.satisfied, s.neutral, s.unsatisfied, s.answered, s.share_satisfied) == (1, 1, 0, 2, 0.5)


def test_top_customers_and_submitters(report):
    assert [(c.name, c.requirements, c.submitters, c.breached) for c in report.top_customers] == [
        ("Acme", 2, 1, 1), ("Beta Corp", 2, 2, 1), ("Gamma", 1, 1, 0)]  # "(unknown)" is no customer
    assert [(s.name, s.email, s.customer, s.requirements) for s in report.top_submitters] == [
        ("王*", "w***@acme.cn", "Acme", 2),
        ("J*** S***", "j***@beta.com", "Beta Corp", 1),
        ("李*", "l***@gmail.com", "(unknown)", 1),
        ("M*** J***", "m***@beta.com", "Beta Corp", 1),
        ("王*", "w***@gamma.cn", "Gamma", 1),
    ]
    short = build_report(october(), month="2026-10", tz=SH, elapsed_hours=hours, top=2)
    assert [c.name for c in short.top_customers] == ["Acme", "Beta Corp"]
    assert len(short.top_submitters) == 2


def test_weekly_intake_covers_every_week_touching_the_month(report):
    assert [(w.week, w.start.isoformat(), w.count) for w in report.weekly_intake] == [
        ("2026-W40", "2026-09-28", 2),  # Sep 30 is in this week but not in the month
        ("2026-W41", "2026-10-05", 1),
        ("2026-W42", "2026-10-12", 1),
        ("2026-W43", "2026-10-19", 1),
        ("2026-W44", "2026-10-26", 1),  # Nov 1 00:30 (Shanghai) is in this week but not in the month
    ]


def test_the_month_is_taken_in_the_reports_time_zone():
    in_utc = build_report(october(), month="2026-10", tz=ZoneInfo("UTC"), elapsed_hours=hours)
    # In UTC the first item is September and the Nov 1 00:30 (+08:00) one is October 31.
    assert in_utc.total == 6
    assert [w.count for w in in_utc.weekly_intake] == [1, 1, 1, 1, 2]
    assert in_utc.sla.deadlines_missed == 8


def test_plan_histogram_upper_edges_inclusive(report):
    assert [(b.label, b.count) for b in report.plan_histogram] == [
        ("0-8", 1), ("8-24", 1), ("24-48", 1), ("48-72", 1), ("72-120", 0), (">120", 1)]


def test_common_needs_in_the_report(report):
    mobile = report.common_needs[0]
    assert (mobile.label, mobile.customers, mobile.ids) == ("mobile", 2, ("REQ-202610-001", "REQ-202610-006"))
    assert mobile.share == pytest.approx(2 / 4)  # Acme, Beta Corp, gamma and the gmail.com sender wrote


def test_an_empty_month_has_no_division_by_zero():
    empty = build_report([], month="2026-02", tz=SH, elapsed_hours=hours)
    assert empty.total == 0 and empty.end.isoformat() == "2026-02-28"
    assert (empty.sla.rate, empty.verification.rate, empty.satisfaction.share_satisfied) == (None, None, None)
    assert (empty.plan.n, empty.plan.median, empty.plan.p90) == (0, None, None)
    assert [w.week for w in empty.weekly_intake] == ["2026-W05", "2026-W06", "2026-W07", "2026-W08",
                                                     "2026-W09"]
    assert all(w.count == 0 for w in empty.weekly_intake)
    assert empty.common_needs == () and empty.top_customers == ()
    for render in (render_text, render_json, render_csv, render_html):
        assert render(empty)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-10", "october", ""])
def test_a_bad_month_is_refused(month):
    with pytest.raises(ValueError):
        month_bounds(month)


def test_december_ends_on_the_31st():
    assert [d.isoformat() for d in month_bounds("2026-12")] == ["2026-12-01", "2026-12-31"]


# --- masking ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, masked", [
    ("王小明", "王*"), ("王芳", "王*"), ("欧阳娜娜", "欧*"), ("John Smith", "J*** S***"),
    ("Mary Ann Jones", "M*** A*** J***"), ("li", "l***"), ("王", "*"), ("", ""), ("   ", ""),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("address, masked", [
    ("john.doe@acme.com", "j***@acme.com"), ("j@acme.com", "j***@acme.com"),
    ("Wang.XM@Acme.CN", "W***@acme.cn"), ("no-at-sign", "n***"), ("", ""),
])
def test_mask_email(address, masked):
    assert mask_email(address) == masked


def test_scrub_masks_names_inside_client_text():
    assert scrub("请为John Smith和王小明重置密码 (john.smith@beta.com)", ["王小明", "John Smith"],
                 ["john.smith@beta.com"]) == "请为J*** S***和王*重置密码 (j***@beta.com)"


def test_no_full_name_or_address_in_any_format(report):
    outputs = {render.__name__: render(report) for render in (render_text, render_json, render_csv, render_html)}
    people = {(i.submitter_name, i.submitter_email) for i in october()}
    for name, output in outputs.items():
        for person, address in people:
            assert person not in output, f"{person} in {name}"
            assert address not in output, f"{address} in {name}"
    assert "王*" in outputs["render_json"]  # masked, not dropped


# --- the formats --------------------------------------------------------------------------

def test_json_keys_are_stable(report):
    data = json.loads(render_json(report))
    assert list(data) == ["month", "period", "total", "by_status", "by_type", "by_stage", "by_tier",
                          "by_priority", "by_customer", "time_to_acknowledge", "time_to_plan", "time_to_close",
                          "sla", "verification", "satisfaction", "top_customers", "top_submitters",
                          "weekly_intake", "plan_histogram", "common_needs"]
    assert data["time_to_plan"] == {"n": 5, "median_hours": 48.0, "p90_hours": 144.0}
    assert data["by_type"][0] == {"key": "bug", "count": 2}
    assert data["plan_histogram"][-1] == {"label": ">120", "low": 120, "high": None, "count": 1}
    assert data["weekly_intake"][0] == {"week": "2026-W40", "start": "2026-09-28", "count": 2}
    assert set(data["common_needs"][0]) == {"label", "requirements", "customers", "share", "customer_names",
                                            "ids", "samples"}
    assert '"zh": "希望系统支持手机端访问（王*）"' in render_json(report)  # not \\u-escaped; the name masked
    assert data == report_to_dict(report)


def test_csv_is_long_format(report):
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    assert rows[0] == ["section", "key", "value"]
    assert all(len(row) == 3 for row in rows)
    table = {(section, key): value for section, key, value in rows[1:]}
    assert table[("summary", "total")] == "6"
    assert table[("by_type", "bug")] == "2"
    assert table[("by_customer", "(unknown)")] == "1"
    assert table[("time_to_close", "median_hours")] == "48.0"
    assert table[("verification", "rate")] == "0.5"
    assert table[("satisfaction", "share_satisfied")] == "0.5"
    assert table[("top_customers.submitters", "Beta Corp")] == "2"
    assert table[("weekly_intake", "2026-W44 (2026-10-26)")] == "1"
    assert table[("plan_histogram", ">120")] == "1"
    assert table[("common_needs.customers", "mobile")] == "2"
    assert table[("verification", "rate")] == "0.5"


def test_csv_cells_never_run_as_formulas():
    items = [item("REQ-1", at(5, 9), customer="=HYPERLINK(\"x\")", customer_key="x")]
    out = render_csv(build_report(items, month="2026-10", tz=SH, elapsed_hours=hours))
    assert "'=HYPERLINK" in out
    assert "\n=" not in out and ",=" not in out


def test_text_has_bilingual_headings_and_aligned_columns(report):
    text = render_text(report)
    for heading in ("按类型 / By type", "按客户 / By customer", "按阶段 / By stage", "每周新增 / Weekly intake",
                    "共性需求 / Common needs", "处理时长（工作小时）/ Time taken (working hours)"):
        assert heading in text
    block = text.split("按类型 / By type\n")[1].split("\n\n")[0].splitlines()
    assert len({width(line) for line in block}) == 1  # numbers right-aligned to one column
    assert "问题修复 / bug" in block[2] and block[2].endswith(" 2")
    assert "中位数 / median" in text and "48.0" in text


def test_rates_in_text(report):
    text = render_text(report)
    assert "2 / 6" in text and "33.3%" in text
    assert "1 / 2" in text and "50.0%" in text


def test_items_are_not_mutated_and_order_does_not_matter():
    items = october()
    shuffled = list(reversed(items))
    assert build_report(items, month="2026-10", tz=SH, elapsed_hours=hours) == build_report(
        shuffled, month="2026-10", tz=SH, elapsed_hours=hours)
    assert items == october()
    assert replace(items[0]) == items[0]
