"""A month of 500 requirements, reported by `mailflow report` and checked against the test's own sums.

The month is October 2026, which holds the National Day week (Oct 1-7 off)
and a make-up Saturday (Oct 10 worked), so "working hours" really differ
from clock hours. The expected figures are computed here from the
generated rows with their own code: a 15-minute stepper over the public
calendar (the ``chinese_calendar`` package directly) for working time, and
nearest-rank percentiles written out again.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import chinese_calendar
import pytest

from conftest import SHANGHAI
from mailflow.config import load_config
from mailflow.store.session import open_store
from mailflow.store.tables import Event, Outbox, Requirement, SlaNotice

MONTH = "2026-10"
CUSTOMERS = [(f"c{i:02d}", name, tier) for i, (name, tier) in enumerate([
    ("华信制造", "standard"), ("远航物流", "core"), ("Northwind Retail", "strategic"), ("东方纺织", "standard"),
    ("Contoso Health", "core"), ("蓝海航运", "standard"), ("Fabrikam Foods", "standard"), ("金桥银行", "strategic"),
    ("Tailspin Travel", "standard"), ("长江电力", "core"), ("Litware Labs", "standard"), ("青松教育", "standard"),
])]
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰"]
EN_NAMES = ["Emma Clark", "Liam Brown", "Olivia Davis", "Noah Wilson", "Ava Moore"]
MOBILE = [("希望审批流程支持手机端访问", "zh"), ("能否提供移动端 APP 处理审批？", "zh"),
          ("Please add mobile phone support for approvals", "en")]
OTHER = [("工资条导出 Excel 时报错", "zh"), ("发票打印格式错位", "zh"), ("Password reset mail never arrives", "en"),
         ("希望支持 LDAP 单点登录", "zh"), ("Export of payroll to CSV fails with error 500", "en"),
         ("排班模块增加夜班规则", "zh"), ("Dashboard loads slowly in the morning", "en")]


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def generate(seed: int = 20261001) -> list[dict]:
    """500 requirements of October (plus a few of September and November that must not count)."""
    rng = random.Random(seed)
    rows = []
    days = [date(2026, 10, d) for d in range(1, 32)]
    submitters = {}
    for n in range(512):
        key, customer, tier = rng.choice(CUSTOMERS)
        if n < 500:
            day = rng.choice(days)
        else:
            day = date(2026, 9, 30) if n % 2 else date(2026, 11, 1)
        submitted = shanghai(day, rng.randrange(0, 24), rng.choice((0, 15, 30, 45)))
        if n % 250 == 0:  # the edges of the month in local time
            submitted = shanghai(date(2026, 10, 1), 0, 15) if n == 0 else shanghai(date(2026, 10, 31), 23, 45)
        if n == 500:
            submitted = shanghai(date(2026, 9, 30), 23, 45)  # Sep 30 15:45 UTC: September here too
        if n == 501:
            submitted = shanghai(date(2026, 11, 1), 0, 15)  # Oct 31 16:15 UTC, but November in Shanghai
        english = customer.isascii()
        person = submitters.setdefault((key, n % 3), (rng.choice(EN_NAMES) if english else
                                                      rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)),
                                                      f"user{n % 3}.{key}@{key}.example.com"))
        if n % 9 == 0:
            subject, language = MOBILE[(n // 9) % 3]
        else:
            subject, language = rng.choice(OTHER)
        status = rng.choice(["new", "in_progress", "pending_verification", "done", "closed", "closed", "cancelled"])
        ack = submitted + timedelta(minutes=rng.choice((1, 2, 5))) if n % 17 else None
        plan = submitted + timedelta(minutes=15 * rng.randrange(1, 700)) if status != "new" and n % 5 else None
        closed = (plan or submitted) + timedelta(minutes=15 * rng.randrange(4, 900)) \
            if status in ("done", "closed") else None
        rows.append({
            "id": f"REQ-{submitted.strftime('%Y%m')}-{n + 1:03d}", "customer_key": key, "customer": customer,
            "tier": tier, "stage": rng.choice(["presales", "implementation", "service"]),
            "type": rng.choice(["bug", "feature", "improvement", "service", "other"]),
            "priority": rng.choice(["high", "medium", "medium", "low"]), "status": status,
            "name": person[0], "email": person[1], "subject": subject, "language": language,
            "submitted": submitted, "ack": ack, "plan": plan, "closed": closed,
            "breaches": rng.choice((0, 0, 0, 1, 2)),
            "verification": rng.choice((None, "passed", "passed", "failed")) if closed else None,
            "satisfaction": rng.choice((None, "satisfied", "satisfied", "neutral", "unsatisfied")) if closed else None,
        })
    return rows


def store(db_url: str, rows: list[dict]) -> None:
    db = open_store(db_url)
    with db.session() as session:
        for r in rows:
            utc = r["submitted"].astimezone(timezone.utc)
            session.add(Requirement(
                id=r["id"], status=r["status"], type=r["type"], priority=r["priority"], customer=r["customer"],
                customer_key=r["customer_key"], customer_stage=r["stage"], customer_tier=r["tier"],
                submitter_name=r["name"], submitter_email=r["email"], subject=r["subject"],
                description=r["subject"], language=r["language"], tags=[], submitted_at=utc,
                completed_at=r["closed"], verification=r["verification"], satisfaction=r["satisfaction"],
                created_at=utc, updated_at=utc))
        session.flush()
        for r in rows:
            if r["ack"]:
                session.add(Outbox(message_id=f"<ack.{r['id']}@vendor.example.com>", requirement_id=r["id"],
                                   kind="external", recipient=r["email"], to_addrs=[r["email"]], cc_addrs=[],
                                   subject=r["subject"], template=f"{r['language']}/ack_presales", status="sent",
                                   created_at=r["ack"], sent_at=r["ack"], raw=b""))
                session.add(Outbox(message_id=f"<held.{r['id']}@vendor.example.com>", requirement_id=r["id"],
                                   kind="external", recipient=r["email"], to_addrs=[r["email"]], cc_addrs=[],
                                   subject=r["subject"], template=f"{r['language']}/ack_presales", status="blocked",
                                   created_at=r["submitted"], raw=b""))  # held: never counts
            if r["plan"]:
                for kind, later in (("plan_proposed", 0), ("plan_confirmed", 45)):
                    session.add(Event(requirement_id=r["id"], at=r["plan"] + timedelta(minutes=later),
                                      actor="liu.yang", kind=kind, detail="v2.3 @ 2026-12-15"))
            for k in range(r["breaches"]):
                session.add(SlaNotice(requirement_id=r["id"], clock=("feedback", "plan")[k],
                                      due_at=r["submitted"] + timedelta(days=3), kind=("escalation", "breach")[k],
                                      created_at=r["submitted"] + timedelta(days=3)))
            session.add(SlaNotice(requirement_id=r["id"], clock="feedback", due_at=r["submitted"] + timedelta(days=2),
                                  kind="reminder", created_at=r["submitted"]))  # a reminder is no breach


def working(day: date) -> bool:
    return chinese_calendar.is_workday(day)


def working_hours(start: datetime, end: datetime) -> float:
    """Independent of mailflow.sla.calendar: the clock waits for 09:00 of a working day, then counts
    every quarter hour of working days, stepping 15 minutes at a time (the generated times start on
    quarter hours; an acknowledgement minutes later is the only remainder)."""
    t = start.astimezone(SHANGHAI)
    while not (working(t.date()) and time(9) <= t.time() < time(18)):
        t = shanghai(t.date() + timedelta(days=1), 9) if t.time() >= time(9) or not working(t.date()) \
            else shanghai(t.date(), 9)
    end = end.astimezone(SHANGHAI)
    quarters = 0
    while t + timedelta(minutes=15) <= end:
        if working(t.date()):
            quarters += 1
        t += timedelta(minutes=15)
    rest = (end - t).total_seconds() / 3600 if end > t and working(t.date()) else 0.0  # under a quarter
    return quarters / 4 + rest


def rank(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(percent / 100 * len(ordered)) - 1], 1)


@pytest.fixture(scope="module")
def month() -> list[dict]:
    return generate()


def test_a_month_of_500_requirements_matches_figures_computed_independently(
        db_url: str, config_file: Path, cli, month: list[dict], tmp_path: Path) -> None:
    store(load_config(str(config_file)).database_url, month)
    report = json.loads(cli("report", "--month", MONTH, "--format", "json").output)
    october = [r for r in month if r["submitted"].astimezone(SHANGHAI).strftime("%Y-%m") == MONTH]
    assert len(october) == 500 and report["total"] == 500

    def counts(key: str) -> dict[str, int]:
        return dict(Counter(r[key] for r in october))

    for field, key in (("by_status", "status"), ("by_type", "type"), ("by_tier", "tier"), ("by_stage", "stage"),
                       ("by_priority", "priority"), ("by_customer", "customer")):
        got = {row["key"]: row["count"] for row in report[field] if row["count"]}
        assert got == counts(key), field
    assert [row["count"] for row in report["by_customer"]] == sorted(counts("customer").values(), reverse=True)

    for field, key in (("time_to_acknowledge", "ack"), ("time_to_plan", "plan"), ("time_to_close", "closed")):
        hours = [working_hours(r["submitted"], r[key]) for r in october if r[key]]
        assert report[field] == {"n": len(hours), "median_hours": rank(hours, 50), "p90_hours": rank(hours, 90)}, field

    breached = sum(r["breaches"] > 0 for r in october)
    assert report["sla"]["breached"] == breached and report["sla"]["total"] == 500
    assert report["sla"]["rate"] == round(breached / 500, 4)
    assert report["sla"]["deadlines_missed"] == sum(r["breaches"] for r in october)
    passed = sum(r["verification"] == "passed" for r in october)
    failed = sum(r["verification"] == "failed" for r in october)
    assert report["verification"] == {"passed": passed, "failed": failed, "rate": round(passed / (passed + failed), 4)}
    votes = Counter(r["satisfaction"] for r in october)
    answered = votes["satisfied"] + votes["neutral"] + votes["unsatisfied"]
    assert report["satisfaction"] == {"satisfied": votes["satisfied"], "neutral": votes["neutral"],
                                      "unsatisfied": votes["unsatisfied"], "answered": answered,
                                      "share_satisfied": round(votes["satisfied"] / answered, 4)}

    weeks = Counter(r["submitted"].astimezone(SHANGHAI).date() - timedelta(
        days=r["submitted"].astimezone(SHANGHAI).weekday()) for r in october)
    assert {w["start"]: w["count"] for w in report["weekly_intake"]} == {
        monday.isoformat(): weeks.get(monday, 0)
        for monday in (date(2026, 9, 28) + timedelta(days=7 * k) for k in range(5))}

    top = report["top_customers"][0]
    biggest = Counter(r["customer"] for r in october).most_common(1)[0]
    assert (top["name"], top["requirements"]) == biggest

    # The mobile asks of many customers, worded three ways in two languages, are one common need.
    asked = {r["customer_key"] for r in october if (r["subject"], r["language"]) in MOBILE}
    mobile = [g for g in report["common_needs"] if set(g["ids"]) >= {r["id"] for r in october
                                                                    if (r["subject"], r["language"]) in MOBILE}]
    assert len(mobile) == 1 and mobile[0]["customers"] == len(asked)

    # No person's name or address appears in any format.
    outputs = [cli("report", "--month", MONTH, "--format", fmt).output for fmt in ("text", "json", "csv", "html")]
    for r in october:
        for text in outputs:
            assert r["name"] not in text and r["email"] not in text
    parser = HTMLParser()
    parser.feed(outputs[3])
    parser.close()
    assert all(f'id="{chart}"' in outputs[3] for chart in ("chart-types", "chart-intake", "chart-plan"))


def test_a_month_larger_than_a_statement_can_name_is_read_whole(db_url: str) -> None:
    """66,000 requirements: more values than PostgreSQL's protocol takes in one statement (65,535; some SQLite
    builds take 32,766), so the month is named to the queries by its dates, never by its ids."""
    from sqlalchemy import insert

    from mailflow.report.gather import items_for_month

    db = open_store(db_url)
    at = datetime(2026, 10, 12, 2, 0, tzinfo=timezone.utc)
    n = 66_000
    try:
        with db.session() as session:
            session.execute(insert(Requirement), [
                {"id": f"REQ-202610-{k:05d}", "submitter_email": f"buyer{k}@c{k % 97}.example", "subject": "导出报表",
                 "submitted_at": at, "created_at": at, "updated_at": at, "tags": []} for k in range(n)])
            last = f"REQ-202610-{n - 1:05d}"
            session.add(Outbox(message_id="<ack.last@vendor.example.com>", requirement_id=last, kind="external",
                               recipient="buyer@c.example", to_addrs=["buyer@c.example"], cc_addrs=[],
                               subject="导出报表", template="zh/ack_presales", status="sent", created_at=at,
                               sent_at=at + timedelta(hours=1), raw=b""))
            session.add(Event(requirement_id=last, at=at + timedelta(days=1), actor="liu.yang",
                              kind="plan_proposed", detail="v2.3 @ 2026-12-15"))
        with db.session() as session:
            items = items_for_month(session, MONTH, SHANGHAI)
    finally:
        db.close()
    assert len(items) == n
    assert (items[-1].id, items[-1].acknowledged_at, items[-1].planned_at) == (
        last, at + timedelta(hours=1), at + timedelta(days=1))
    assert all(item.acknowledged_at is None for item in items[:-1])
