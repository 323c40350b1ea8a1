"""Each staff command as a pure ``State -> State`` function (mailflow/commands/*.py).

A command gets a snapshot of the record (``State``), its value, and an ``Act``
(who, with what text, at what time). It returns the new snapshot with what it
did: changed fields, events for the process log, mails for the reply engine
(``Mail.event`` + ``Mail.fields``) and one result line for the staff member;
or it raises ``Refused`` with one line saying why. The runner applies all of a
subject's commands in ``parse_subject`` order and writes only if none refused.

Clock: Monday 2026-11-23 10:00 in Shanghai. The requirement is REQ-202611-001,
a feature owned by zhao.lei, medium priority, implementation stage, no plan.
"""

from __future__ import annotations

from pathlib import Path

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailflow.classify import load_rules
from mailflow.commands import COMMANDS, assign, confirm, decline, done, fields, merge, note, patch, plan, reply
from mailflow.commands import help as help_command
from mailflow.commands import status as status_command
from mailflow.commands.permissions import is_lead
from mailflow.commands.state import Act, Mail, Refused, State
from mailflow.commands.syntax import FORMS, parse_subject

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DEC_15 = date(2026, 12, 15)


# The people of the shipped rules/staff.yaml: li.wei lead+developer, zhao.lei developer,
# wang.fang lead+planner, liu.yang planner, zhang.min service, sun.hao lead+manager.
STAFF = {s.handle: s for s in load_rules(Path(__file__).resolve().parent.parent / "rules").staff}


def state(**changes) -> State:
    """REQ-202611-001 as the runner would snapshot it, with ``changes``."""
    base = State(requirement_id="REQ-202611-001", status="new", owner="zhao.lei", priority="medium", type="feature",
                 stage="implementation", plan_version=None, plan_date=None, plan_confirmed=False,
                 plan_confirmed_by=None, plan_patch=None)
    return replace(base, **changes)


def planned(**changes) -> State:
    """The requirement with v2.3 @ 2026-12-15 proposed, not yet confirmed."""
    return state(**{"plan_version": "v2.3", "plan_date": DEC_15, **changes})


def confirmed(**changes) -> State:
    """The requirement with v2.3 @ 2026-12-15 confirmed by liu.yang and work under way."""
    return planned(**{"status": "in_progress", "plan_confirmed": True, "plan_confirmed_by": "liu.yang", **changes})


def act(actor: str = "zhao.lei", body: str = "", merge_problem=None) -> Act:
    who = STAFF[actor]
    return Act(actor=who, body=body, lead=is_lead(who), staff=STAFF, now=NOW,
               merge_problem=merge_problem or (lambda _target: None))


def run(subject: str, start: State, actor: str = "zhao.lei", body: str = "", merge_problem=None) -> State:
    """What the runner does after the checks: every command of the subject, in ORDER, on one snapshot."""
    parsed = parse_subject(subject)
    assert parsed.errors == (), parsed.errors
    current, who = start, act(actor, body, merge_problem)
    for command in parsed.commands:
        current = COMMANDS[command.word](current, command.value, who)
    return current


def test_every_command_word_has_a_function():
    assert set(COMMANDS) == set(FORMS)


def test_a_command_returns_a_new_state_and_leaves_the_snapshot_alone():
    before = state()
    after = fields.priority(before, "high", act("li.wei"))
    assert before.priority == "medium" and before.lines == () and before.events == ()
    assert after.priority == "high"


def test_the_reason_is_the_first_line_of_the_body():
    assert act(body="\n\n  客户催得很急  \n第二行").reason == "客户催得很急"
    assert act(body="").reason == ""


# --- #assign -----------------------------------------------------------------

def test_assign_gives_the_requirement_to_one_person_and_tells_them():
    after = assign.apply(state(), "li.wei", act("wang.fang", body="登录问题，转开发组\n详情见附件"))
    assert after.owner == "li.wei"
    assert after.events == (("assigned", "zhao.lei -> li.wei: 登录问题，转开发组"),)
    assert after.mails == (Mail("assigned", {"owner_reason": "王芳 指派: 登录问题，转开发组"}),)
    assert after.lines == ("#assign:li.wei: 李伟 (li.wei) owns it now",)


def test_assign_without_a_reason_or_a_previous_owner():
    after = assign.apply(state(owner=None), "zhang.min", act("zhang.min"))
    assert after.events == (("assigned", "- -> zhang.min"),)
    assert after.mails == (Mail("assigned", {"owner_reason": "张敏 指派"}),)


def test_assign_to_someone_not_in_staff_yaml_is_refused_with_who_is_known():
    with pytest.raises(Refused) as refused:
        assign.apply(state(), "wang.wu", act("li.wei"))
    assert str(refused.value) == ("#assign:wang.wu: no such person in staff.yaml (known: chen.jie, li.wei, "
                                  "liu.yang, sun.hao, wang.fang, zhang.min, zhao.lei, zhou.qing)")


def test_assign_to_the_current_owner_is_refused():
    with pytest.raises(Refused, match=r"^#assign:zhao.lei: 赵磊 already owns it$"):
        assign.apply(state(), "zhao.lei", act("li.wei"))


# --- #priority, #type, #stage ------------------------------------------------

@pytest.mark.parametrize(
    ("setter", "word", "value", "old"),
    [
        (fields.priority, "priority", "high", "medium"),
        (fields.type_, "type", "bug", "feature"),
        (fields.stage, "stage", "service", "implementation"),
    ],
)
def test_a_field_command_sets_the_field_and_logs_old_to_new_with_the_reason(setter, word, value, old):
    after = setter(state(), value, act("li.wei", body="客户生产环境受影响"))
    assert getattr(after, word) == value
    assert after.events == ((word, f"{old} -> {value}: 客户生产环境受影响"),)
    assert after.lines == (f"#{word}:{value}: {old} -> {value}",)
    assert after.mails == ()  # the client is not told


@pytest.mark.parametrize(
    ("setter", "value", "expected"),
    [
        (fields.priority, "medium", "#priority:medium: it is medium already"),
        (fields.type_, "feature", "#type:feature: it is feature already"),
        (fields.stage, "implementation", "#stage:implementation: it is implementation already"),
    ],
)
def test_setting_a_field_to_what_it_is_is_refused(setter, value, expected):
    with pytest.raises(Refused) as refused:
        setter(state(), value, act("li.wei"))
    assert str(refused.value) == expected


# --- #status -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("current", "target"),
    [("new", "in_progress"), ("in_progress", "new"), ("new", "cancelled"), ("pending_verification", "in_progress"),
     ("done", "closed"), ("closed", "in_progress"), ("cancelled", "new")],
)
def test_status_makes_the_moves_of_the_workflow(current, target):
    after = status_command.apply(state(status=current), target, act("zhao.lei", body="客户确认先暂停"))
    assert after.status == target
    assert after.events == (("status", f"{current} -> {target}: 客户确认先暂停"),)
    assert after.lines == (f"#status:{target}: {current} -> {target}",)


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("new", "done", "#status:done: new cannot become done (from new: cancelled, closed, in_progress, "
                        "pending_verification; a lead may override)"),
        ("closed", "new", "#status:new: closed cannot become new (from closed: in_progress; a lead may override)"),
        ("pending_verification", "done", "#status:done: pending_verification -> done goes through the client's "
                                         "verification (通过 / pass)"),
        ("in_progress", "closed", "#status:closed: in_progress -> closed goes through #decline (with the reason and "
                                  "a workaround for the client)"),
        ("in_progress", "pending_verification", "#status:pending_verification: in_progress -> pending_verification "
                                                "goes through #done (with how it was solved)"),
        ("in_progress", "in_progress", "#status:in_progress: already in_progress"),
    ],
)
def test_status_refuses_moves_the_workflow_refuses(current, target, expected):
    with pytest.raises(Refused) as refused:
        status_command.apply(state(status=current), target, act("zhao.lei"))
    assert str(refused.value) == expected


@pytest.mark.parametrize(("current", "target"), [("new", "done"), ("pending_verification", "done"),
                                                  ("in_progress", "closed"), ("closed", "new")])
def test_a_lead_may_override_and_the_override_is_logged(current, target):
    after = status_command.apply(state(status=current), target, act("li.wei", body="客户电话确认已解决"))
    assert after.status == target
    assert after.events == (("status", f"{current} -> {target} (lead override): 客户电话确认已解决"),)
    assert after.lines == (f"#status:{target}: {current} -> {target} (lead override)",)


def test_a_lead_making_an_ordinary_move_is_not_logged_as_override():
    after = status_command.apply(state(), "in_progress", act("sun.hao"))
    assert after.events == (("status", "new -> in_progress"),)


# --- #plan -------------------------------------------------------------------

def test_plan_proposes_a_version_and_date_without_confirming_it():
    after = plan.apply(state(), "v2.3@2026-12-15", act("liu.yang"))
    assert (after.plan_version, after.plan_date, after.plan_confirmed) == ("v2.3", DEC_15, False)
    assert after.events == (("plan_proposed", "v2.3 @ 2026-12-15"),)
    assert after.lines == ("#plan:v2.3@2026-12-15: proposed v2.3 @ 2026-12-15",)
    assert after.mails == ()  # nothing to tell the client without a proposal text
    assert after.status == "new"


def test_plan_with_a_body_sends_the_proposed_approach_to_the_client():
    body = "建议方案：在移动端增加审批入口，复用 PC 端流程配置。\n请确认是否符合预期。\n"
    after = plan.apply(state(), "v2.3@2026-12-15", act("liu.yang", body=body))
    assert after.mails == (Mail("plan_proposed", {"message": body.strip()}),)


def test_plan_for_today_is_accepted():
    assert plan.apply(state(), "v2.2.1@2026-11-23", act("liu.yang")).plan_date == date(2026, 11, 23)


def test_plan_in_the_past_is_refused():
    with pytest.raises(Refused, match=r"^#plan:v2.3@2026-11-22: 2026-11-22 is in the past$"):
        plan.apply(state(), "v2.3@2026-11-22", act("liu.yang"))


@pytest.mark.parametrize("status", ["done", "closed", "cancelled"])
def test_plan_on_a_finished_requirement_is_refused(status):
    with pytest.raises(Refused) as refused:
        plan.apply(state(status=status), "v2.3@2026-12-15", act("liu.yang"))
    assert str(refused.value) == f"#plan:v2.3@2026-12-15: the requirement is {status}"


def test_a_different_plan_after_confirmation_withdraws_the_confirmation():
    after = plan.apply(confirmed(), "v2.4@2027-01-20", act("liu.yang"))
    assert (after.plan_version, after.plan_date) == ("v2.4", date(2027, 1, 20))
    assert (after.plan_confirmed, after.plan_confirmed_by) == (False, None)
    assert after.events == (("plan_proposed", "v2.4 @ 2027-01-20; earlier confirmation withdrawn"),)
    assert after.lines == ("#plan:v2.4@2027-01-20: proposed v2.4 @ 2027-01-20; the earlier confirmation is withdrawn",)


def test_a_new_date_alone_also_withdraws_the_confirmation():
    after = plan.apply(confirmed(), "v2.3@2026-12-22", act("liu.yang"))
    assert after.plan_confirmed is False


def test_the_same_plan_again_keeps_the_confirmation():
    after = plan.apply(confirmed(), "v2.3@2026-12-15", act("liu.yang"))
    assert (after.plan_confirmed, after.plan_confirmed_by) == (True, "liu.yang")
    assert after.events == (("plan_proposed", "v2.3 @ 2026-12-15"),)


# --- #confirm ----------------------------------------------------------------

def test_confirm_confirms_the_plan_tells_the_client_and_starts_the_work():
    after = confirm.apply(planned(), None, act("liu.yang"))
    assert (after.plan_confirmed, after.plan_confirmed_by) == (True, "liu.yang")
    assert after.status == "in_progress"
    assert after.events == (("plan_confirmed", "v2.3 @ 2026-12-15"), ("status", "new -> in_progress (plan confirmed)"))
    assert after.mails == (Mail("plan_confirmed"),)
    assert after.lines == ("#confirm: v2.3 @ 2026-12-15 confirmed; the client is told",
                           "new -> in_progress (plan confirmed)")


def test_confirm_on_work_already_under_way_leaves_the_status():
    after = confirm.apply(planned(status="in_progress"), None, act("wang.fang"))
    assert after.status == "in_progress"
    assert after.events == (("plan_confirmed", "v2.3 @ 2026-12-15"),)
    assert after.plan_confirmed_by == "wang.fang"


@pytest.mark.parametrize(
    "start",
    [state(), state(plan_version="v2.3"), state(plan_date=DEC_15)],
    ids=["no plan", "version only", "date only"],
)
def test_confirm_without_a_plan_is_refused(start):
    with pytest.raises(Refused) as refused:
        confirm.apply(start, None, act("liu.yang"))
    assert str(refused.value) == "#confirm: there is no plan to confirm; propose one with #plan:VERSION@YYYY-MM-DD"


def test_confirm_twice_is_refused():
    with pytest.raises(Refused, match=r"^#confirm: v2.3 @ 2026-12-15 is confirmed already$"):
        confirm.apply(confirmed(), None, act("liu.yang"))


@pytest.mark.parametrize("status", ["done", "closed", "cancelled"])
def test_confirm_on_a_finished_requirement_is_refused(status):
    with pytest.raises(Refused):
        confirm.apply(planned(status=status), None, act("liu.yang"))


def test_confirm_of_a_plan_whose_date_has_passed_is_refused():
    with pytest.raises(Refused):
        confirm.apply(planned(status="in_progress", plan_date=date(2026, 11, 20)), None, act("liu.yang"))


# --- #patch ------------------------------------------------------------------

def test_patch_records_the_patch_that_carries_the_fix():
    after = patch.apply(confirmed(), "KB-1024", act())
    assert after.plan_patch == "KB-1024"
    assert after.events == (("patch", "KB-1024"),)
    assert after.lines == ("#patch:KB-1024: recorded",)
    assert after.mails == ()


def test_a_different_patch_replaces_the_recorded_one():
    assert patch.apply(confirmed(plan_patch="KB-1024"), "KB-1030", act()).plan_patch == "KB-1030"


def test_the_same_patch_again_is_refused():
    with pytest.raises(Refused, match=r"^#patch:KB-1024: recorded already$"):
        patch.apply(confirmed(plan_patch="KB-1024"), "KB-1024", act())


# --- #done -------------------------------------------------------------------

RESOLUTION = "已在 v2.3 修复：导出超过 65535 行时改为分 sheet。\n请升级后验证。"


@pytest.mark.parametrize("current", ["new", "in_progress"])
def test_done_sends_the_resolution_and_asks_the_client_to_verify(current):
    after = done.apply(state(status=current), None, act(body=f"\n{RESOLUTION}\n"))
    assert after.status == "pending_verification"
    assert after.events == (("done", "已在 v2.3 修复：导出超过 65535 行时改为分 sheet。"),)
    assert after.mails == (Mail("resolved", {"resolution": RESOLUTION, "resolved_at": NOW}),
                           Mail("verification_request"))
    assert after.lines == (f"#done: {current} -> pending_verification; the client is asked to verify",)


def test_done_names_the_recorded_patch():
    after = done.apply(confirmed(plan_patch="KB-1024"), None, act(body=RESOLUTION))
    assert after.events == (("done", "已在 v2.3 修复：导出超过 65535 行时改为分 sheet。, patch KB-1024"),)
    assert after.lines == ("#done: in_progress -> pending_verification, patch KB-1024; the client is asked to verify",)


@pytest.mark.parametrize("body", ["", "   \n\n  "])
def test_done_without_text_is_refused(body):
    with pytest.raises(Refused) as refused:
        done.apply(confirmed(), None, act(body=body))
    assert str(refused.value) == "#done: write how it was solved in the mail's text; the client receives it"


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("pending_verification", "#done: already pending_verification"),
        ("done", "#done: done cannot become pending_verification (from done: closed, in_progress; "
                 "a lead may override)"),
        ("closed", "#done: closed cannot become pending_verification (from closed: in_progress; a lead may override)"),
        ("cancelled", "#done: cancelled cannot become pending_verification (from cancelled: new; "
                      "a lead may override)"),
    ],
)
def test_done_from_a_status_that_is_not_open_work_is_refused(current, expected):
    with pytest.raises(Refused) as refused:
        done.apply(state(status=current), None, act(body=RESOLUTION))
    assert str(refused.value) == expected


def test_done_by_a_lead_is_still_bound_by_the_workflow():
    with pytest.raises(Refused):
        done.apply(state(status="closed"), None, act("li.wei", body=RESOLUTION))


# --- #decline ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "reason", "workaround"),
    [
        ("该需求与产品路线不符，暂不开发。\n变通方法: 可先用报表导出后在 Excel 中透视。",
         "该需求与产品路线不符，暂不开发。", "可先用报表导出后在 Excel 中透视。"),
        ("该需求与产品路线不符。\n变通方法：可先用报表导出。", "该需求与产品路线不符。", "可先用报表导出。"),  # full-width colon
        ("暂不支持离线审批。\n\n替代方案: 使用企业微信审批。", "暂不支持离线审批。", "使用企业微信审批。"),
        ("We will not support IE 11.\nWorkaround: use Edge in IE mode.", "We will not support IE 11.",
         "use Edge in IE mode."),
        ("Not on the roadmap.\n  workaround : export to CSV\nand import it.", "Not on the roadmap.",
         "export to CSV\nand import it."),
    ],
)
def test_decline_sends_the_reason_and_the_workaround_and_closes(body, reason, workaround):
    after = decline.apply(state(status="in_progress"), None, act(body=body))
    assert after.status == "closed"
    assert after.mails == (Mail("declined", {"message": reason, "workaround": workaround}),)
    assert after.events == (("declined", reason.splitlines()[0]),)
    assert after.lines == ("#decline: in_progress -> closed; the client gets the reason and the workaround",)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("该需求与产品路线不符，暂不开发。", "a workaround"),
        ("变通方法: 可先用报表导出。", "the reason"),
        ("该需求与产品路线不符。\n变通方法:", "a workaround"),
        ("", "the reason and a workaround"),
        ("不做了，另一个办法是用导出", "a workaround"),  # the line must start with the label
    ],
)
def test_decline_without_a_reason_or_a_workaround_line_is_refused(body, missing):
    with pytest.raises(Refused) as refused:
        decline.apply(state(), None, act(body=body))
    assert str(refused.value) == (f"#decline: the text needs {missing}: write the reason, then a line "
                                  "'变通方法:…' (or 'Workaround: …') — the client receives both")


DECLINE = "与产品路线不符。\n变通方法: 先用导出。"


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("pending_verification", "#decline: the requirement is pending_verification; only open work that was "
                                 "not done can be declined"),
        ("closed", "#decline: the requirement is closed; only open work that was not done can be declined"),
        ("cancelled", "#decline: the requirement is cancelled; only open work that was not done can be declined"),
    ],
)
def test_decline_from_a_status_that_cannot_close_is_refused(current, expected):
    with pytest.raises(Refused) as refused:
        decline.apply(state(status=current), None, act("li.wei", body=DECLINE))
    assert str(refused.value) == expected


def test_decline_after_the_client_verified_the_work_is_refused():
    with pytest.raises(Refused):
        decline.apply(state(status="done"), None, act(body=DECLINE))


# --- #reply and #note --------------------------------------------------------

def test_reply_sends_the_text_to_the_client():
    body = "您好，问题已定位，我们正在评估修复方案，有进展会第一时间告知。\n\n赵磊"
    after = reply.apply(state(), None, act(body=f"  {body}  "))
    assert after.mails == (Mail("staff_reply", {"message": body}),)
    # The log keeps what was said, on one line (the greeting alone would say nothing).
    assert after.events == (("reply", "您好，问题已定位，我们正在评估修复方案，有进展会第一时间告知。 赵磊"),)
    assert after.status == "new"


def test_note_keeps_the_text_on_the_record_and_sends_nothing():
    body = "客户那边的 DBA 周三才有空，先别催。\n联系人：王工 138****0000"
    after = note.apply(state(), None, act("zhang.min", body=body))
    assert after.events == (("note", body),)
    assert after.mails == ()
    assert after.lines == ("#note: noted (internal, not sent to the client)",)


@pytest.mark.parametrize(
    ("apply", "expected"),
    [
        (reply.apply, "#reply: the mail has no text of its own to send (quoted history is not sent)"),
        (note.apply, "#note: the mail has no text of its own to note"),
    ],
)
def test_reply_and_note_without_text_are_refused(apply, expected):
    with pytest.raises(Refused) as refused:
        apply(state(), None, act(body=" \n "))
    assert str(refused.value) == expected


# --- #merge ------------------------------------------------------------------

def test_merge_closes_the_duplicate_and_tells_the_client_where_it_continues():
    after = merge.apply(state(status="in_progress"), "REQ-202611-002", act())
    assert (after.status, after.merged_into) == ("closed", "REQ-202611-002")
    assert after.events == (("merged", "into REQ-202611-002"),)
    assert after.mails == (Mail("merged", {"merged_into": "REQ-202611-002"}),)
    assert after.lines == ("#merge:REQ-202611-002: merged; in_progress -> closed; the client is told",)


def test_merge_asks_the_record_about_the_target():
    asked = []
    merge.apply(state(), "REQ-202611-002", act(merge_problem=lambda target: asked.append(target)))
    assert asked == ["REQ-202611-002"]


def test_merge_into_itself_is_refused():
    with pytest.raises(Refused, match=r"^#merge:REQ-202611-001: a requirement cannot be merged into itself$"):
        merge.apply(state(), "REQ-202611-001", act())


def test_merge_into_itself_is_caught_whatever_the_case_written():
    with pytest.raises(Refused, match="merged into itself"):
        run("Re: [REQ-202611-001] #merge:req-202611-001", state())


@pytest.mark.parametrize(
    "problem",
    ["there is no REQ-202611-099", "REQ-202611-002 is already merged into REQ-202611-001"],
)
def test_merge_into_a_requirement_the_record_rejects_is_refused(problem):
    with pytest.raises(Refused) as refused:
        merge.apply(state(), "REQ-202611-002", act(merge_problem=lambda _target: problem))
    assert str(refused.value) == f"#merge:REQ-202611-002: {problem}"


def test_merging_an_already_merged_requirement_is_refused():
    with pytest.raises(Refused, match=r"^#merge:REQ-202611-003: already merged into REQ-202611-002$"):
        merge.apply(state(status="closed", merged_into="REQ-202611-002"), "REQ-202611-003", act())


# --- #help -------------------------------------------------------------------

def test_help_only_adds_a_line_for_the_result_mail():
    after = help_command.apply(confirmed(), None, act())
    assert after == replace(confirmed(), lines=("#help",))


# --- several commands in one subject, through the registry --------------------

@pytest.mark.parametrize(
    "subject",
    [
        "回复: 【REQ-202611-001】#plan:v2.3@2026-12-15 #confirm",
        "回复: 【REQ-202611-001】#confirm #plan:v2.3@2026-12-15",  # written the other way round
        "RE: [REQ-202611-001] ＃confirm ＃plan：v2.3@2026-12-15",
    ],
)
def test_plan_and_confirm_in_one_subject(subject):
    after = run(subject, state(), actor="liu.yang")
    assert (after.plan_version, after.plan_date, after.plan_confirmed, after.plan_confirmed_by) == (
        "v2.3", DEC_15, True, "liu.yang")
    assert after.status == "in_progress"
    assert [kind for kind, _ in after.events] == ["plan_proposed", "plan_confirmed", "status"]
    assert [m.event for m in after.mails] == ["plan_confirmed"]


def test_a_new_plan_and_confirm_replace_a_confirmed_plan_in_one_subject():
    after = run("Re: [REQ-202611-001] #plan:v2.4@2027-01-20 #confirm", confirmed(), actor="wang.fang")
    assert (after.plan_version, after.plan_confirmed, after.plan_confirmed_by) == ("v2.4", True, "wang.fang")
    assert after.events == (("plan_proposed", "v2.4 @ 2027-01-20; earlier confirmation withdrawn"),
                            ("plan_confirmed", "v2.4 @ 2027-01-20"))


def test_triage_in_one_subject():
    subject = "RE: [REQ-202611-001] 咨询:移动端审批 #priority:high #assign:liu.yang #type:improvement #stage:presales"
    after = run(subject, state(), actor="li.wei", body="客户是战略客户，产品组评估")
    assert (after.owner, after.priority, after.type, after.stage) == ("liu.yang", "high", "improvement", "presales")
    assert [kind for kind, _ in after.events] == ["assigned", "priority", "type", "stage"]
    assert [m.event for m in after.mails] == ["assigned"]
    assert len(after.lines) == 4


def test_patch_then_done_in_one_subject_names_the_patch():
    after = run("Re: [REQ-202611-001] #done #patch:KB-1024", confirmed(), body=RESOLUTION)
    assert after.status == "pending_verification"
    assert after.events[-1] == ("done", "已在 v2.3 修复：导出超过 65535 行时改为分 sheet。, patch KB-1024")


def test_status_before_done_in_one_subject():
    after = run("Re: [REQ-202611-001] #done #status:in_progress", state(), body=RESOLUTION)
    assert after.status == "pending_verification"
    assert [kind for kind, _ in after.events] == ["status", "done"]


def test_one_refused_command_refuses_the_subject():
    """The runner applies nothing when any command raises, so the first Refused is what matters here."""
    with pytest.raises(Refused, match="no plan to confirm"):
        run("Re: [REQ-202611-001] #priority:high #confirm", state(), actor="wang.fang")


def test_status_in_progress_next_to_confirm_on_a_new_requirement_is_refused():
    """Surprising but current: #confirm already moves new -> in_progress, so the #status that follows it in
    ORDER finds the requirement in_progress and refuses, and with it the whole subject."""
    with pytest.raises(Refused, match=r"^#status:in_progress: already in_progress$"):
        run("Re: [REQ-202611-001] #status:in_progress #plan:v2.3@2026-12-15 #confirm", state(), actor="wang.fang")


def test_the_same_plan_and_confirm_again_is_refused_as_confirmed_already():
    with pytest.raises(Refused, match="confirmed already"):
        run("Re: [REQ-202611-001] #plan:v2.3@2026-12-15 #confirm", confirmed(), actor="liu.yang")
