"""The SLA clocks of BRIEF §4, to the hour, across a Chinese holiday and make-up working days.

A clock starts when the desk receives the mail; "24h" counts only the hours
of working days (the 2026 National Day week stops it, the make-up Saturday
Oct 10 runs it), and "3 working days" is the same time three working days
later. Mail received outside working hours starts its clocks at the next
opening (09:00).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conftest import ROOT, SHANGHAI
from mailflow.errors import RuleError
from mailflow.sla.calendar import Duration, WorkCalendar
from mailflow.sla.clock import Facts, Step, deadlines, next_due, progress_due
from mailflow.sla.policy import DEFAULT, SLA_FILE, check_sla, load_sla

CAL = WorkCalendar(tz=SHANGHAI)
SHIPPED = load_sla(ROOT / "rules" / SLA_FILE)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def due(priority: str, received: datetime, tier: str = "standard", policy=DEFAULT) -> dict[str, datetime]:
    facts = Facts(status="new", priority=priority, tier=tier, started_at=received)
    return {d.clock: d.due_at for d in deadlines(facts, policy, CAL)}


@pytest.mark.parametrize(("priority", "received", "expected"), [
    # High, the afternoon before National Day: 9 h on Sep 30, Oct 1-7 off, the rest on Oct 8.
    ("high", at(9, 30, 15), {"first_response": at(10, 8, 15), "plan": at(10, 9, 15)}),
    # High, before Mid-Autumn (Fri Sep 25 off) and the weekend: the clock waits until Monday.
    ("high", at(9, 24, 16), {"first_response": at(9, 28, 16), "plan": at(9, 29, 16)}),
    # Medium, Friday before the make-up Saturday: Sat Oct 10 is a working day, Sun Oct 11 is not.
    ("medium", at(10, 9, 10), {"feedback": at(10, 13, 10)}),
    # Medium, received on a Saturday that is a day off: starts Sun Sep 20 09:00 (a make-up working day).
    ("medium", at(9, 19, 11), {"feedback": at(9, 23, 9)}),
    # Low, received after hours the evening before the holiday week: starts Sep 30 09:00.
    ("low", at(9, 29, 20), {"feedback": at(10, 10, 9)}),
    # Around the Spring Festival: Sat Feb 14 is worked, Feb 15-23 are off.
    ("medium", at(2, 13, 14), {"feedback": at(2, 25, 14)}),
    ("high", at(2, 14, 17), {"first_response": at(2, 24, 17), "plan": at(2, 25, 17)}),
])
def test_deadlines_follow_the_chinese_calendar_to_the_hour(priority: str, received: datetime,
                                                           expected: dict[str, datetime]) -> None:
    assert due(priority, received) == expected


def test_the_clock_takes_any_time_zone_and_answers_in_the_desks() -> None:
    received = at(9, 30, 15).astimezone(timezone.utc)
    assert due("high", received)["first_response"] == at(10, 8, 15)
    assert due("high", received)["first_response"].tzinfo == SHANGHAI


def test_strategic_customers_get_the_tighter_clocks_of_their_tier() -> None:
    # 4 working hours: 3 h before closing on Sep 30, the fourth on Oct 8 after the holiday week.
    assert due("high", at(9, 30, 15), "strategic", SHIPPED) == {"first_response": at(10, 8, 10),
                                                               "plan": at(10, 8, 15)}
    assert due("medium", at(10, 9, 10), "strategic", SHIPPED) == {"feedback": at(10, 12, 10)}
    # A tier without overrides for a priority keeps the priority's clocks.
    assert due("low", at(10, 9, 10), "strategic", SHIPPED) == {"feedback": at(10, 13, 10)}


def test_the_owner_is_reminded_when_three_quarters_of_the_clock_have_run() -> None:
    facts = Facts(status="new", priority="medium", tier="standard", started_at=at(10, 9, 10))
    [feedback] = deadlines(facts, DEFAULT, CAL)
    # 72 working-day hours (Oct 9 14 h, Oct 10 24 h, Oct 12 24 h, Oct 13 10 h); 54 h have run at Oct 12 16:00.
    assert feedback.remind_at == at(10, 12, 16)
    [first, plan] = deadlines(Facts(status="new", priority="high", tier="standard", started_at=at(9, 30, 15)),
                              DEFAULT, CAL)
    assert (first.clock, first.remind_at) == ("first_response", at(10, 8, 9))  # 18 of 24 h
    assert (plan.clock, plan.remind_at) == ("plan", at(10, 9, 3))  # 36 of 48 h


def step(kind: str, when: datetime, actor: str = "li.wei", detail: str = "") -> Step:
    return Step(kind, when, actor, detail)


def test_an_answer_meets_the_response_clock_and_a_plan_the_plan_clock() -> None:
    received = at(9, 30, 15)
    steps = (step("assigned", at(9, 30, 16)), step("note", at(9, 30, 17)),  # work, not an answer
             step("reply", at(10, 8, 11)))
    facts = Facts(status="new", priority="high", tier="standard", started_at=received, steps=steps)
    first, plan = deadlines(facts, DEFAULT, CAL)
    assert first.met_at == at(10, 8, 11) and not first.missed
    assert plan.open
    assert next_due(facts, DEFAULT, CAL) == at(10, 9, 15)
    late = Facts(status="new", priority="high", tier="standard", started_at=received,
                 steps=(*steps, step("plan_proposed", at(10, 9, 16))))
    assert deadlines(late, DEFAULT, CAL)[1].missed
    assert next_due(late, DEFAULT, CAL) is None


def test_mailflows_own_mails_meet_no_clock() -> None:
    facts = Facts(status="new", priority="medium", tier="standard", started_at=at(10, 9, 10),
                  steps=(step("notify:staff_reply", at(10, 9, 11), actor="mailflow"),))
    assert deadlines(facts, DEFAULT, CAL)[0].open


@pytest.mark.parametrize("finish", [
    step("status", at(10, 12, 9), detail="new -> cancelled: 客户撤回"),
    step("declined", at(10, 12, 9)),
    step("merged", at(10, 12, 9), detail="into REQ-202610-002"),
])
def test_a_finished_requirement_stops_its_clocks(finish: Step) -> None:
    status = "cancelled" if finish.kind == "status" else "closed"
    facts = Facts(status=status, priority="medium", tier="standard", started_at=at(10, 9, 10), steps=(finish,),
                  merged=finish.kind == "merged")
    [feedback] = deadlines(facts, DEFAULT, CAL)
    assert feedback.met_at == at(10, 12, 9) and not feedback.missed
    assert next_due(facts, DEFAULT, CAL) is None


def test_a_priority_change_gives_new_deadlines() -> None:
    medium = Facts(status="new", priority="medium", tier="standard", started_at=at(10, 9, 10))
    high = Facts(status="new", priority="high", tier="standard", started_at=at(10, 9, 10))
    assert next_due(medium, DEFAULT, CAL) == at(10, 13, 10)
    assert next_due(high, DEFAULT, CAL) == at(10, 10, 10)  # 24 h: Oct 9 14 h + Sat Oct 10 10 h


def test_progress_is_owed_weekly_while_in_progress_counted_from_the_last_news() -> None:
    started = at(11, 2, 10)
    steps = (step("plan_confirmed", at(11, 3, 15)),
             step("status", at(11, 3, 15), detail="new -> in_progress (plan confirmed)"))
    facts = Facts(status="in_progress", priority="medium", tier="standard", started_at=started, steps=steps)
    assert progress_due(facts, DEFAULT, CAL) == at(11, 10, 15)
    replied = Facts(status="in_progress", priority="medium", tier="standard", started_at=started,
                    steps=(*steps, step("reply", at(11, 9, 9))))
    assert progress_due(replied, DEFAULT, CAL) == at(11, 16, 9)  # staff wrote that week: the rhythm restarts
    ours = Facts(status="in_progress", priority="medium", tier="standard", started_at=started,
                 steps=(*steps, step("sla:progress", at(11, 10, 15), actor="mailflow")))
    assert progress_due(ours, DEFAULT, CAL) == at(11, 17, 15)
    assert progress_due(Facts(status="new", priority="medium", tier="standard", started_at=started),
                        DEFAULT, CAL) is None


def test_without_a_file_the_brief_is_the_policy(tmp_path) -> None:
    assert load_sla(tmp_path / "sla.yaml") == DEFAULT
    assert DEFAULT.clocks_for("high", "standard") == {"first_response": Duration(24, "hours"),
                                                     "plan": Duration(48, "hours")}
    assert check_sla(ROOT / "rules" / SLA_FILE) == []


@pytest.mark.parametrize(("text", "line", "message"), [
    ("clocks:\n  high: {first_response: 24h}\n  medium: {feedback: soon}\n  low: {feedback: 3 working days}\n",
     3, 'clocks: "medium": "feedback"'),
    ("clocks:\n  high: {first_reply: 24h}\n  medium: {feedback: 3wd}\n  low: {feedback: 3wd}\n",
     2, 'unknown clock "first_reply"'),
    ("clocks:\n  high: {plan: 48h}\n  medium: {feedback: 3wd}\n", 1, 'missing priority "low"'),
    ("tiers:\n  gold:\n    high: {plan: 8h}\n", 2, 'unknown tier "gold"'),
    ("remind_at: 120%\n", 1, '"remind_at" must be a share'),
    ("progress_every: [7, days]\n", 1, '"progress_every" must be a duration'),
    ("clocks:\n  high: {plan: 48h\n", 3, "YAML syntax error"),
    ("reminders: 75%\n", 1, 'unknown key "reminders"'),
    ("progress_every: 7 days\nremind_at: 2026-02-30\n", 2, '"2026-02-30" is not a real date'),
])
def test_a_broken_sla_file_is_named_by_file_and_line(tmp_path, text: str, line: int, message: str) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    problems = check_sla(path)
    assert problems and problems[0].startswith(f"{path}:{line}: ") and message in problems[0], problems
    with pytest.raises(RuleError, match=f"^{path}:{line}: "):
        load_sla(path)
