"""parse_subject(): which staff commands a subject line holds (SPEC "Staff commands").

Staff reply from Outlook, Foxmail, phones and Chinese input methods, so a
subject arrives as "RE: 回复: [REQ-202611-001] …" with the commands somewhere
in it, sometimes typed in full-width characters. The rules read here:

- a command is ``#word`` or ``#word:value``, anywhere in the subject, several per subject;
- they take effect in one fixed order (``ORDER``), whatever order they were written in;
- values are normalised (handles and choices lower-cased, ``#merge`` ids upper-cased);
- every mistake is reported at once, and any mistake means nothing is applied;
- "工单 #123", "C#", "a#b" and "&#35;" are not commands.
"""

from __future__ import annotations

import pytest

from mailflow.commands.syntax import BODY_COMMANDS, FORMS, ORDER, has_tokens, parse_subject, plan_value, valid_forms


def commands(subject: str) -> list[tuple[str, str | None]]:
    """(word, value) of each command, in the order they take effect; the subject must be valid."""
    parsed = parse_subject(subject)
    assert parsed.errors == (), parsed.errors
    return [(c.word, c.value) for c in parsed.commands]


def errors(subject: str) -> tuple[str, ...]:
    return parse_subject(subject).errors


# --- where commands are found ------------------------------------------------

@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] 咨询:移动端审批 #assign:liu.yang #priority:high",
         [("assign", "liu.yang"), ("priority", "high")]),
        ("回复: 【REQ-202611-003】#plan:v2.3@2026-12-15", [("plan", "v2.3@2026-12-15")]),
        ("RE: [REQ-202611-002] Export to Excel fails #done", [("done", None)]),
        ("#note Re: [REQ-202611-004] 报表导出很慢", [("note", None)]),  # at the very start
        ("答复: [REQ-202611-005] 登录异常 #type:bug 请赵磊跟进 #assign:zhao.lei", [("assign", "zhao.lei"), ("type", "bug")]),
        ("RE: RE: FW: [REQ-202611-006] VPN 无法连接 #stage:service #priority:low #reply",
         [("priority", "low"), ("stage", "service"), ("reply", None)]),
        ("Re: [REQ-202611-007] duplicate of the export bug #merge:REQ-202611-002", [("merge", "REQ-202611-002")]),
        ("Re: [REQ-202611-008] hotfix shipped #patch:KB-1024", [("patch", "KB-1024")]),
        ("Re: [REQ-202611-009] #help", [("help", None)]),
    ],
)
def test_commands_are_found_anywhere_in_the_subject(subject, expected):
    assert commands(subject) == expected


def test_a_subject_without_commands_has_none_and_no_errors():
    parsed = parse_subject("Re: [REQ-202611-001] 咨询:移动端审批")
    assert parsed.commands == () and parsed.errors == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        # Chinese input methods type full-width ＃ and ：; NFKC makes them ordinary.
        ("回复: [REQ-202611-001] ＃assign：li.wei", [("assign", "li.wei")]),
        ("回复：【REQ-202611-001】＃ｐｒｉｏｒｉｔｙ：ｈｉｇｈ", [("priority", "high")]),
        ("回复: [REQ-202611-003] ＃plan：v2.3@２０２６-１２-１５", [("plan", "v2.3@2026-12-15")]),
        ("回复: [REQ-202611-003] ＃confirm", [("confirm", None)]),
    ],
)
def test_full_width_characters_from_chinese_input_methods_are_read(subject, expected):
    assert commands(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #priority:high, #type:bug", [("priority", "high"), ("type", "bug")]),
        ("Re: [REQ-202611-001] 已修复 #done。", [("done", None)]),
        ("Re: [REQ-202611-001] 已修复 #done！", [("done", None)]),
        ("Re: [REQ-202611-001] #assign:li.wei.", [("assign", "li.wei")]),
        ("Re: [REQ-202611-001] (#priority:low)", [("priority", "low")]),
        ("回复: [REQ-202611-001] #priority：high，#type：bug；", [("priority", "high"), ("type", "bug")]),
        ("Re: [REQ-202611-003] #plan:v2.3@2026-12-15.", [("plan", "v2.3@2026-12-15")]),
        ("Re: [REQ-202611-008] #patch:KB-1024;", [("patch", "KB-1024")]),
        ("Re: [REQ-202611-009] #help?", [("help", None)]),
    ],
)
def test_trailing_punctuation_is_not_part_of_the_command(subject, expected):
    assert commands(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("回复: [REQ-202611-001] 请尽快处理 #priority:high。", [("priority", "high")]),
        ("回复: [REQ-202611-001] 转给李伟 #assign:li.wei。", [("assign", "li.wei")]),
        ("回复: [REQ-202611-001] #priority:high、#type:bug", [("priority", "high"), ("type", "bug")]),
        ("回复: [REQ-202611-007] 重复了 #merge:REQ-202611-002。", [("merge", "REQ-202611-002")]),
    ],
)
def test_chinese_trailing_punctuation_after_a_value_is_not_part_of_it(subject, expected):
    assert commands(subject) == expected


@pytest.mark.parametrize("subject", ["回复: [REQ-202611-001] 已修复#done", "回复: [REQ-202611-001] 转给李伟#assign:li.wei"])
def test_a_command_right_after_chinese_text_is_read(subject):
    assert has_tokens(subject)
    assert len(parse_subject(subject).commands) == 1


# --- order of application ----------------------------------------------------

@pytest.mark.parametrize(
    "subject",
    [
        "Re: [REQ-202611-003] #plan:v2.3@2026-12-15 #confirm",
        "Re: [REQ-202611-003] #confirm #plan:v2.3@2026-12-15",
    ],
)
def test_plan_comes_before_confirm_whatever_order_they_are_written_in(subject):
    assert [word for word, _ in commands(subject)] == ["plan", "confirm"]


def test_commands_take_effect_in_order_not_as_written():
    subject = ("RE: [REQ-202611-001] #note #merge:REQ-202611-002 #status:in_progress #patch:KB-7 #confirm "
               "#plan:v2.3@2026-12-15 #stage:service #type:bug #priority:high #assign:zhao.lei")
    assert [word for word, _ in commands(subject)] == [
        "assign", "priority", "type", "stage", "plan", "confirm", "patch", "status", "merge", "note"]


def test_order_names_every_command_once():
    assert sorted(ORDER) == sorted(FORMS)
    assert set(BODY_COMMANDS) <= set(ORDER)


def test_who_and_what_come_first_words_last():
    """assign before the plan, the plan before status moves, text commands at the end."""
    assert ORDER.index("assign") < ORDER.index("plan") < ORDER.index("confirm") < ORDER.index("status")
    assert ORDER.index("status") < ORDER.index("done") and ORDER.index("decline") < ORDER.index("reply")
    assert ORDER[-1] == "help"


# --- values are normalised ---------------------------------------------------

@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #assign:Li.Wei", [("assign", "li.wei")]),
        ("Re: [REQ-202611-001] #assign:@zhao.lei", [("assign", "zhao.lei")]),  # Outlook @-mention habit
        ("Re: [REQ-202611-001] #ASSIGN:WANG.FANG", [("assign", "wang.fang")]),
        ("Re: [REQ-202611-001] #Priority:HIGH", [("priority", "high")]),
        ("Re: [REQ-202611-001] #type:Bug", [("type", "bug")]),
        ("Re: [REQ-202611-001] #status:In_Progress", [("status", "in_progress")]),
        ("Re: [REQ-202611-001] #stage:Presales", [("stage", "presales")]),
        ("Re: [REQ-202611-007] #merge:req-202611-002", [("merge", "REQ-202611-002")]),
        ("Re: [REQ-202612-001] #merge:REQ-202612-1000", [("merge", "REQ-202612-1000")]),  # past 999
        ("Re: [REQ-202611-001] #DONE", [("done", None)]),
        # Plan versions and patch ids are kept as written.
        ("Re: [REQ-202611-003] #plan:V2.3-beta@2026-12-15", [("plan", "V2.3-beta@2026-12-15")]),
        ("Re: [REQ-202611-008] #patch:HF-2026.11/03", [("patch", "HF-2026.11/03")]),
    ],
)
def test_values_are_normalised(subject, expected):
    assert commands(subject) == expected


def test_the_raw_token_is_kept_for_messages():
    (command,) = parse_subject("Re: [REQ-202611-001] #Assign:Li.Wei, please").commands
    assert (command.word, command.value, command.raw, str(command)) == ("assign", "li.wei", "#Assign:Li.Wei",
                                                                        "#Assign:Li.Wei")


def test_plan_value_splits_version_and_date():
    version, planned = plan_value("v2.3@2026-12-15")
    assert (version, planned.isoformat()) == ("v2.3", "2026-12-15")


def test_every_command_has_a_form_for_refusal_mails():
    forms = valid_forms()
    assert "#plan:VERSION@YYYY-MM-DD" in forms and "#confirm" in forms and "#assign:HANDLE" in forms
    assert len(forms) == len(FORMS)


# --- mistakes ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #asign:li.wei", "#asign:li.wei: unknown command"),
        ("Re: [REQ-202611-001] #close", "#close: unknown command"),
        ("Re: [REQ-202611-001] #priority:urgent", "#priority:urgent: expected #priority:high|medium|low"),
        ("Re: [REQ-202611-001] #type:question", "#type:question: expected #type:bug|feature|improvement|service|other"),
        ("Re: [REQ-202611-001] #status:finished",
         "#status:finished: expected #status:new|in_progress|pending_verification|done|closed|cancelled"),
        ("Re: [REQ-202611-001] #status:in-progress",
         "#status:in-progress: expected #status:new|in_progress|pending_verification|done|closed|cancelled"),
        ("Re: [REQ-202611-001] #stage:support", "#stage:support: expected #stage:presales|implementation|service"),
        ("Re: [REQ-202611-001] #assign", "#assign: needs a value: #assign:HANDLE"),
        ("Re: [REQ-202611-001] #priority", "#priority: needs a value: #priority:high|medium|low"),
        ("Re: [REQ-202611-001] #assign:李伟", "#assign:李伟: not a staff handle: #assign:HANDLE"),
        ("Re: [REQ-202611-001] #confirm:yes", "#confirm:yes: takes no value"),
        ("Re: [REQ-202611-001] #done:today", "#done:today: takes no value"),
        ("Re: [REQ-202611-003] #plan:v2.3@2026-02-30",
         "#plan:v2.3@2026-02-30: 2026-02-30 is not a date: #plan:VERSION@YYYY-MM-DD"),
        ("Re: [REQ-202611-003] #plan:v2.3@2026-13-01",
         "#plan:v2.3@2026-13-01: 2026-13-01 is not a date: #plan:VERSION@YYYY-MM-DD"),
        ("Re: [REQ-202611-003] #plan:v2.3",
         "#plan:v2.3: expected #plan:VERSION@YYYY-MM-DD, e.g. #plan:v2.3@2026-12-15"),
        ("Re: [REQ-202611-003] #plan:v2.3@2026-12-5",
         "#plan:v2.3@2026-12-5: expected #plan:VERSION@YYYY-MM-DD, e.g. #plan:v2.3@2026-12-15"),
        ("Re: [REQ-202611-003] #plan:2026-12-15", "#plan:2026-12-15: expected #plan:VERSION@YYYY-MM-DD, "
                                                  "e.g. #plan:v2.3@2026-12-15"),
        ("Re: [REQ-202611-007] #merge:202611-002", "#merge:202611-002: expected #merge:REQ-YYYYMM-NNN"),
        ("Re: [REQ-202611-007] #merge:REQ-2026-1", "#merge:REQ-2026-1: expected #merge:REQ-YYYYMM-NNN"),
        ("Re: [REQ-202611-008] #patch:-1", "#patch:-1: expected #patch:ID, e.g. #patch:KB-1024"),
    ],
)
def test_a_mistake_is_reported_with_the_token_and_the_right_form(subject, expected):
    parsed = parse_subject(subject)
    assert parsed.errors == (expected,)
    assert parsed.commands == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #priority:high #priority:low",
         "#priority:low: #priority is given twice (also #priority:high)"),
        ("Re: [REQ-202611-001] #status:closed #status:done",
         "#status:done: #status is given twice (also #status:closed)"),
        ("Re: [REQ-202611-001] #done 已修复 #done", "#done: #done is given twice (also #done)"),
    ],
)
def test_a_command_given_twice_is_a_mistake_and_the_first_one_still_counts(subject, expected):
    parsed = parse_subject(subject)
    assert parsed.errors == (expected,)
    assert len(parsed.commands) == 1


def test_every_mistake_is_collected_at_once():
    parsed = parse_subject("RE: [REQ-202611-001] #asign:li.wei #priority:urgent #priority:high #plan:v2.3@2026-02-30 "
                           "#status:finished #confirm:now #patch #type:bug")
    assert parsed.errors == (
        "#asign:li.wei: unknown command",
        "#priority:urgent: expected #priority:high|medium|low",
        "#priority:high: #priority is given twice (also #priority:urgent)",
        "#plan:v2.3@2026-02-30: 2026-02-30 is not a date: #plan:VERSION@YYYY-MM-DD",
        "#status:finished: expected #status:new|in_progress|pending_verification|done|closed|cancelled",
        "#confirm:now: takes no value",
        "#patch: needs a value: #patch:ID",
    )
    # Valid ones are still listed, but any error means the runner applies nothing.
    assert [c.word for c in parsed.commands] == ["type"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #done #reply",
         "#done and #reply: each sends the mail's text somewhere; use one per mail"),
        # Listed as written, so the sender recognises their own subject.
        ("Re: [REQ-202611-001] #note #decline", "#note and #decline: each sends the mail's text somewhere; "
                                                "use one per mail"),
        ("Re: [REQ-202611-001] #reply #done #note", "#reply and #done and #note: each sends the mail's text "
                                                    "somewhere; use one per mail"),
    ],
)
def test_two_commands_that_use_the_body_are_refused_together(subject, expected):
    assert errors(subject) == (expected,)


def test_one_body_command_with_field_commands_is_fine():
    assert commands("Re: [REQ-202611-001] #patch:KB-1024 #priority:low #done") == [
        ("priority", "low"), ("patch", "KB-1024"), ("done", None)]


# --- what is not a command ---------------------------------------------------

@pytest.mark.parametrize(
    "subject",
    [
        "Re: [REQ-202611-001] 工单 #123 的进度",  # a ticket number
        "Re: [REQ-202611-001] C# 客户端报错",  # a language
        "RE: [REQ-202611-001] C#.NET SDK crash",
        "Re: [REQ-202611-001] a#b",  # inside a word
        "Re: [REQ-202611-001] 截图见附件 &#35;3",  # an HTML entity from a badly converted subject
        "Re: [REQ-202611-001] 第 # 3 项",
        "Re: [REQ-202611-001] 参见 https://docs.example.com/guide#install",  # a URL fragment
        "Re: [REQ-202611-001] ## 标题",
        "Re: [REQ-202611-001] #标签",  # a Chinese hashtag: must start with a Latin letter
        "Re: [REQ-202611-001] 咨询:移动端审批",
    ],
)
def test_things_that_are_not_commands(subject):
    assert not has_tokens(subject)
    assert parse_subject(subject) == parse_subject("plain")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [REQ-202611-001] #done", True),
        ("Re: [REQ-202611-001] ＃done", True),
        ("Re: [REQ-202611-001] #asign:li.wei", True),  # wrong, but it looks like a command: refuse, don't ignore
        ("Re: [REQ-202611-001] #priority:urgent", True),
        ("Re: [REQ-202611-001] 工单 #123", False),
        ("Re: [REQ-202611-001] C# 报错", False),
        ("", False),
    ],
)
def test_has_tokens_says_whether_anything_looks_like_a_command(subject, expected):
    assert has_tokens(subject) is expected
