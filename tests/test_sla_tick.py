"""The SLA clock at work: reminders, escalations and weekly progress, each exactly once.

A realistic requirement (the demo's Huaxin mobile-approval question, a
medium-priority feature owned by 王芳) is received the morning before the
2026 National Day week. Its 3-working-day feedback clock runs over the
holiday and the make-up Saturday; the clock is ticked at chosen instants,
by separate runs as a cron job or a restarted daemon would, and what went
out is read off a real SMTP server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import ROOT, SHANGHAI, recorded_statements
from mailflow.config import load_config
from mailflow.pipeline import load_runtime, process
from mailflow.sla.tick import tick
from mailflow.store.session import open_store
from mailflow.store.tables import Requirement
from smtp_sink import SmtpSink
from test_commands_lifecycle import FIRST, LIFE, Desk, at, text

OWNER, MANAGER = "wang.fang@vendor.example.com", "sun.hao@vendor.example.com"
CLIENT = "zhang.wei@huaxin.example"
REQ = "REQ-202609-001"


def sep_oct(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


RECEIVED = sep_oct(9, 30, 10)  # Wednesday; Oct 1-7 are off, Sat Oct 10 is worked
REMIND = sep_oct(10, 9, 16)  # 54 of the clock's 72 working-day hours
DUE = sep_oct(10, 10, 10)  # 3 working days: Oct 8, Oct 9, Sat Oct 10


@pytest.fixture
def desk(config_file: Path, smtp_sink: SmtpSink, tmp_path: Path) -> Desk:
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(f'host = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\ntimeout = 5\n')
    return Desk(config_file, smtp_sink, tmp_path)


def tick_at(desk: Desk, when: datetime) -> dict:
    """One `mailflow sla tick --send`, as cron would run it."""
    return json.loads(desk.run("sla", "tick", "--json", at=when).split("\n}")[0] + "\n}")


def sent_since(desk: Desk) -> list:
    new = desk.sink.received[desk.seen:]
    desk.seen = len(desk.sink.received)
    return new


def send(desk: Desk, when: datetime) -> list:
    desk.run("outbox", "send", at=when)
    return sent_since(desk)


def record(desk: Desk, requirement: str = REQ) -> dict:
    return json.loads(desk.run("requirements", "show", requirement, "--json"))


def test_reminder_before_the_deadline_escalation_at_it_each_once_across_restarts(desk: Desk, config_file: Path
                                                                                ) -> None:
    desk.mail(FIRST, RECEIVED)
    assert record(desk)["due_at"] == DUE.isoformat()

    # Nothing is due yet, and a holiday tick changes nothing.
    assert tick_at(desk, sep_oct(10, 3, 12))["reminders"] == 0
    assert tick_at(desk, sep_oct(10, 9, 15, 59))["reminders"] == 0
    assert send(desk, sep_oct(10, 9, 15, 59)) == []

    # Three quarters of the clock have run: the owner is reminded, nobody else.
    assert tick_at(desk, REMIND)["reminders"] == 1
    [reminder] = send(desk, REMIND)
    assert reminder.rcpt_tos == (OWNER,)
    assert "即将到期" in reminder.message["Subject"] and "[REQ-202609-001]" in reminder.message["Subject"]
    assert "2026年10月10日 10:00" in text(reminder)

    # A restarted tick in a separate process sends nothing again.
    env = {**os.environ, "MAILFLOW_NOW": sep_oct(10, 9, 17).isoformat(), "MAILFLOW_CONFIG": str(config_file)}
    again = subprocess.run([sys.executable, "-m", "mailflow.cli", "sla", "tick", "--send"], env=env,
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "0 reminders, 0 escalations" in again.stdout
    assert sent_since(desk) == []

    # At the deadline: owner and manager, recorded as a breach, once.
    assert tick_at(desk, DUE)["escalations"] == 1
    [escalation] = send(desk, DUE)
    assert escalation.rcpt_tos == (OWNER, MANAGER)
    assert "已逾期" in escalation.message["Subject"] and "孙浩" in text(escalation)
    for later in (sep_oct(10, 10, 10, 1), sep_oct(10, 12, 9), sep_oct(10, 20, 9)):
        counts = tick_at(desk, later)
        assert (counts["reminders"], counts["escalations"]) == (0, 0)
    assert send(desk, sep_oct(10, 20, 9)) == []
    # The client never hears of our deadlines.
    assert all(CLIENT not in m.rcpt_tos for m in desk.sink.received[1:])
    # The owner answers late: the breach was recorded at the escalation, not again now.
    desk.mail(owners_careful_reply(), sep_oct(10, 20, 10))
    assert tick_at(desk, sep_oct(10, 20, 11))["breaches"] == 0
    breaches = [e for e in record(desk)["events"] if e["kind"] == "sla_breach"]
    assert len(breaches) == 1 and "feedback due 2026-10-10 10:00: escalated" in breaches[0]["detail"]


def owners_careful_reply() -> bytes:
    """王芳's #reply on REQ-202609-001, saying only that it is being analysed."""
    raw = (LIFE / "05-staff-replies-with-version.eml").read_bytes()
    raw = raw.replace(b"[REQ-202611-001]", b"[REQ-202609-001]").replace(b"liu.yang@", b"wang.fang@")
    return re.sub("移动端审批将在.*?即可审批。".encode(), "移动端审批的需求已记录，我们正在分析贵公司的审批流程。".encode(), raw)


def test_a_late_answer_is_recorded_as_a_breach_even_when_no_tick_saw_the_deadline(desk: Desk) -> None:
    desk.mail(FIRST, RECEIVED)
    # The owner answers after the deadline, while the clock was not running (daemon down).
    desk.mail(owners_careful_reply(), sep_oct(10, 12, 9))
    counts = tick_at(desk, sep_oct(10, 12, 10))
    assert (counts["escalations"], counts["breaches"]) == (0, 1)
    assert tick_at(desk, sep_oct(10, 13, 10))["breaches"] == 0
    [breach] = [e for e in record(desk)["events"] if e["kind"] == "sla_breach"]
    assert breach["detail"] == "feedback due 2026-10-10 10:00, met 2026-10-12 09:00"
    assert record(desk)["due_at"] is None


def test_raising_the_priority_moves_the_deadline_and_a_plan_meets_it(desk: Desk) -> None:
    desk.mail(FIRST)  # Monday Nov 23 10:00, medium
    assert record(desk, "REQ-202611-001")["due_at"] == "2026-11-26T10:00:00+08:00"
    desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))  # #assign:liu.yang #priority:high
    assert record(desk, "REQ-202611-001")["due_at"] == "2026-11-24T10:00:00+08:00"  # first response within 24 h
    desk.mail(LIFE / "03-planner-proposes.eml", at(23, 11, 5))  # a proposed plan answers and plans
    assert record(desk, "REQ-202611-001")["due_at"] is None
    counts = tick_at(desk, at(30, 10))
    assert (counts["reminders"], counts["escalations"], counts["breaches"]) == (0, 0, 0)


def test_the_client_hears_weekly_while_in_progress_unless_staff_wrote_that_week(desk: Desk) -> None:
    desk.mail(FIRST)
    for name, when in (("02-lead-assigns.eml", at(23, 10, 20)), ("03-planner-proposes.eml", at(23, 11, 5)),
                       ("04-planner-confirms.eml", at(23, 15, 30)),
                       ("05-staff-replies-with-version.eml", at(24, 9, 10))):
        desk.mail(LIFE / name, when)
    assert record(desk, "REQ-202611-001")["status"] == "in_progress"
    # A week after the owner's own reply (Nov 24 09:10), not before.
    assert tick_at(desk, datetime(2026, 12, 1, 9, 9, tzinfo=SHANGHAI))["progress"] == 0
    assert tick_at(desk, datetime(2026, 12, 1, 9, 10, tzinfo=SHANGHAI))["progress"] == 1
    [progress] = send(desk, datetime(2026, 12, 1, 9, 10, tzinfo=SHANGHAI))
    assert progress.rcpt_tos == (CLIENT,)
    body = text(progress)
    assert "进展" in body and "每周至少通报一次" in body and "[REQ-202611-001]" in progress.message["Subject"]
    assert progress.message["In-Reply-To"]  # in the client's thread
    assert tick_at(desk, datetime(2026, 12, 7, 9, tzinfo=SHANGHAI))["progress"] == 0
    assert tick_at(desk, datetime(2026, 12, 8, 9, 10, tzinfo=SHANGHAI))["progress"] == 1  # and the week after


def test_two_workers_ticking_at_once_send_one_reminder(db_url: str, config_file: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's row locks")
    config = load_config(str(config_file))
    first = load_runtime(config, open_store(config.database_url), clock=lambda: RECEIVED)
    process(FIRST.read_bytes(), str(FIRST), first)
    runtimes = [load_runtime(config, open_store(config.database_url), clock=lambda: REMIND) for _ in range(4)]
    barrier = threading.Barrier(len(runtimes))
    reports = []

    def work(rt) -> None:
        barrier.wait()
        reports.append(tick(rt))

    threads = [threading.Thread(target=work, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.reminders for r in reports) == 1
    assert all(not r.lines for r in reports)


def test_mailflow_run_ticks_the_clock_by_itself(desk: Desk, config_file: Path) -> None:
    """The daemon (real clock, SMTP only, no mailbox) escalates a requirement left unanswered weeks ago."""
    desk.mail(FIRST, datetime(2026, 11, 2, 10, tzinfo=SHANGHAI))  # feedback was due Nov 5 10:00
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_NOW"}
    proc = subprocess.Popen([sys.executable, "-m", "mailflow.cli", "--config", str(config_file), "run"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(MANAGER in m.rcpt_tos for m in desk.sink.received):
            time.sleep(0.1)
    finally:  # stopped by its PID, whatever happened above
        proc.send_signal(signal.SIGTERM)
        try:
            _, log = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, log = proc.communicate()
    [escalation] = [m for m in desk.sink.received if MANAGER in m.rcpt_tos]
    assert escalation.rcpt_tos == (OWNER, MANAGER) and "已逾期" in escalation.message["Subject"]
    assert "sla tick: 0 reminders, 1 escalations" in log and proc.returncode == 0


def _answered_from_own_mailbox(authenticated: bool) -> bytes:
    """王芳 answers the client from her own mail client, support copied: no #command at all."""
    raw = owners_careful_reply().replace(b" #reply", b"")
    raw = raw.replace(b"To: support@vendor.example.com", f"To: {CLIENT}\r\nCc: support@vendor.example.com".encode())
    if not authenticated:  # a forged copy: no trusted Authentication-Results
        start = raw.index(b"Authentication-Results:")
        raw = raw[:start] + raw[raw.index(b"Received:", start):]
    return raw


@pytest.mark.parametrize("authenticated", [True, False])
def test_a_colleague_answering_the_client_directly_meets_the_clock_only_when_authenticated(
        desk: Desk, authenticated: bool) -> None:
    desk.mail(FIRST, RECEIVED)
    desk.mail(_answered_from_own_mailbox(authenticated), sep_oct(10, 8, 11))
    events = [e["kind"] for e in record(desk)["events"]]
    if authenticated:
        assert "staff_to_client" in events and record(desk)["due_at"] is None
        assert tick_at(desk, DUE)["escalations"] == 0
    else:  # a forged mail must not stop the clock
        assert "staff_to_client" not in events and "staff_message" in events
        assert record(desk)["due_at"] == DUE.isoformat()
        assert tick_at(desk, DUE)["escalations"] == 1


def test_minute_passes_look_only_at_requirements_whose_time_has_come_or_that_changed(config_file: Path) -> None:
    """Between full passes the daemon looks at few requirements, and still misses no reminder or deadline."""
    config = load_config(str(config_file))
    clock = [RECEIVED]
    rt = load_runtime(config, open_store(config.database_url), clock=lambda: clock[0])
    raw = FIRST.read_bytes()
    second = raw.replace(b"<000001dd5203$1b2e4a80$518adf80$@huaxin.example>", b"<second.1@huaxin.example>")
    second = second.replace(b"zhang.wei@huaxin.example", b"li.na@huaxin.example")
    assert process(raw, "first", rt).requirement_id == REQ
    assert process(second, "second", rt).requirement_id == "REQ-202609-002"

    def minute(when: datetime, previous: datetime):  # noqa: ANN202 - what the daemon does between full passes
        clock[0] = when
        return tick(rt, when, changed_since=previous - timedelta(minutes=5))

    with rt.store.session() as session:  # known on receipt: a backlog is not all looked at by the next tick
        assert {r.tick_at for r in session.query(Requirement)} == {REMIND}  # the next thing either needs
    full = tick(rt, sep_oct(9, 30, 10, 1))
    assert full.looked_at == 2 and full.reminders == 0
    with rt.store.session() as session:
        assert {r.tick_at for r in session.query(Requirement)} == {REMIND}
    assert minute(sep_oct(10, 3, 12), sep_oct(10, 3, 11)).looked_at == 0  # a holiday: nothing to look at
    at_remind = minute(REMIND, REMIND - timedelta(minutes=1))
    assert (at_remind.looked_at, at_remind.reminders) == (2, 2)

    # The client writes on the first: it changed, so the next minute looks at it (and only at it).
    reply = (f"From: zhang.wei@huaxin.example\r\nTo: support@vendor.example.com\r\n"
             f"Subject: Re: [{REQ}] 补充\r\nMessage-ID: <more.1@huaxin.example>\r\n"
             "Date: Fri, 09 Oct 2026 17:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             "我们还需要支持审批转交。\r\n").encode()
    clock[0] = sep_oct(10, 9, 17)
    assert process(reply, "reply", rt).kind == "follow_up"
    changed = minute(sep_oct(10, 9, 17, 1), sep_oct(10, 9, 17))
    assert (changed.looked_at, changed.reminders) == (1, 0)
    assert minute(sep_oct(10, 10, 9, 59), sep_oct(10, 10, 9, 58)).looked_at == 0
    at_due = minute(DUE, DUE - timedelta(minutes=1))
    assert (at_due.looked_at, at_due.escalations) == (2, 2)
    assert minute(DUE + timedelta(hours=1), DUE + timedelta(minutes=59)).looked_at == 0  # all said; nothing ahead
    again = tick(rt, DUE + timedelta(hours=2))  # the hourly full pass: no notice twice
    assert (again.looked_at, again.reminders, again.escalations) == (2, 0, 0)


def test_a_full_pass_that_finds_nothing_to_do_writes_nothing(config_file: Path) -> None:
    """The hourly full pass looks at every open requirement; where none needs anything, it must not write.

    Rewriting each requirement's next look (a day on, every pass) was an UPDATE
    and a commit per open requirement: half of a full pass's time.
    """
    config = load_config(str(config_file))
    rt = load_runtime(config, open_store(config.database_url), clock=lambda: RECEIVED)
    assert process(FIRST.read_bytes(), "first", rt).requirement_id == REQ
    assert tick(rt, DUE).escalations == 1  # every notice given: nothing lies ahead
    with rt.store.session() as session:
        (next_look,) = {r.tick_at for r in session.query(Requirement)}
    assert next_look == DUE + timedelta(days=1)  # looked at again daily, as a safety net

    with recorded_statements(rt.store.engine) as statements:
        for hours in (1, 2, 3):
            assert tick(rt, DUE + timedelta(hours=hours)).looked_at == 1
    assert [s for s in statements if not s.upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "PRAGMA"))] == []
    with rt.store.session() as session:
        assert {r.tick_at for r in session.query(Requirement)} == {next_look}
    tick(rt, next_look)  # the day is up: looked at, and the next look a day on
    with rt.store.session() as session:
        assert {r.tick_at for r in session.query(Requirement)} == {next_look + timedelta(days=1)}
