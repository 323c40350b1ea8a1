"""What a client's reply says (SPEC "Clients' replies"): the pure readers of record/client_replies.py.

- On a requirement waiting for verification, a reply whose *first words* are
  通过 / pass / yes / 1 passes it; 不通过 / fail / no / 2 sends it back.
- After a pass, the satisfaction question takes 满意 / 一般 / 不满意,
  satisfied / neutral / unsatisfied, or 1 / 2 / 3.
- Anything else is None: the words are kept and the owner reads them.
- After a plan exists, words that change the scope make a change request.

The text is the client's own words, quoted history already stripped.
"""

from __future__ import annotations

import pytest

from mailflow.record.client_replies import changes_scope, read_satisfaction, read_verification


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("通过", "passed"),
        ("通过了，谢谢！", "passed"),
        ("通过。不过还想问一下导出的格式能不能改", "passed"),  # the question stays with the mail
        ("pass", "passed"),
        ("Passed.", "passed"),
        ("passed", "passed"),
        ("yes", "passed"),
        ("YES, it works now", "passed"),
        ("Yes!", "passed"),
        ("1", "passed"),
        ("1.", "passed"),
        ("1、", "passed"),
        ("１", "passed"),  # full-width digit from a Chinese input method
        ("不通过", "failed"),
        ("不通过，导出还是乱码", "failed"),
        ("没通过", "failed"),
        ("未通过", "failed"),
        ("fail", "failed"),
        ("Failed - still crashes on login", "failed"),
        ("no", "failed"),
        ("No, the report is still empty", "failed"),
        ("2", "failed"),
        ("２", "failed"),
    ],
)
def test_the_first_words_give_the_verification(text, verdict):
    assert read_verification(text) == verdict


@pytest.mark.parametrize(
    "text",
    [
        "12",  # not 1
        "1分钟后又报错了",  # 1 followed by more of the sentence
        "yesterday it still failed",  # not yes
        "passing the data to the ERP is still slow",  # not pass
        "nope",  # not no
        "noted, we will test tomorrow",
        "我们测试了一下，通过",  # the answer is not first
        "Thanks. Yes, it works.",
        "收到，明天测试",
        "是的",  # not one of the words
        "",
        "\n\n",
    ],
)
def test_anything_else_is_not_a_verification(text):
    assert read_verification(text) is None


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("\n\n   通过\n谢谢", "passed"),
        ("\r\n\r\nyes\r\n\r\n-- \r\n王工", "passed"),
        ("  \u3000\n不通过", "failed"),  # a line holding only an ideographic space is blank
        ("   no  ", "failed"),
    ],
)
def test_leading_blank_lines_and_spaces_are_skipped(text, verdict):
    assert read_verification(text) == verdict


@pytest.mark.parametrize("text", ["通过测试发现问题依然存在", "通过日志看，还是报同样的错误"])
def test_tong_guo_as_by_means_of_is_not_a_pass(text):
    assert read_verification(text) != "passed"


# --- satisfaction ------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("满意", "satisfied"),
        ("非常满意", "satisfied"),
        ("很满意，响应很快", "satisfied"),
        ("比较满意", "satisfied"),
        ("挺满意的", "satisfied"),
        ("satisfied", "satisfied"),
        ("Very satisfied!", "satisfied"),
        ("quite satisfied", "satisfied"),
        ("1", "satisfied"),
        ("一般", "neutral"),
        ("一般吧", "neutral"),
        ("neutral", "neutral"),
        ("2", "neutral"),
        ("不满意", "unsatisfied"),
        ("非常不满意，拖了三周", "unsatisfied"),
        ("unsatisfied", "unsatisfied"),
        ("Dissatisfied.", "unsatisfied"),
        ("3", "unsatisfied"),
        ("３", "unsatisfied"),
        ("\n\n满意\n", "satisfied"),
    ],
)
def test_the_first_words_give_the_satisfaction(text, rating):
    assert read_satisfaction(text) == rating


@pytest.mark.parametrize(
    "text",
    [
        "整体来说满意",  # the answer is not first
        "Thanks, satisfied",
        "not satisfied",  # not a word the question offered: the owner reads it
        "不太满意",
        "31",
        "4",
        "ok",
        "",
    ],
)
def test_anything_else_is_not_a_rating(text):
    assert read_satisfaction(text) is None


# --- change of scope ---------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "我们的需求有变，审批要改成三级。",
        "审批流程改为三级审批",
        "另外还需要增加导出 Excel 的功能",
        "我们还要增加一个月度报表",
        "能否把短信通知换成邮件通知？",
        "这个功能不需要了，先做移动端",
        "We also need an export to Excel.",
        "Instead of e-mail, please send an SMS.",
        "We no longer need the mobile app.",
        "Could you CHANGE THE approval flow to three levels?",
        "Additionally, the report should include cost centres.",
        "We'd like to extend the ＳＣＯＰＥ to the warehouse module.",  # full-width letters
    ],
)
def test_words_that_change_the_scope(text):
    assert changes_scope(text)


@pytest.mark.parametrize(
    "text",
    [
        "请问什么时候可以上线？",
        "收到，谢谢！",
        "升级包在哪里下载？",
        "When will v2.3 be released?",
        "Thanks, we will test on Friday.",
        "Is there any update?",
    ],
)
def test_an_ordinary_question_is_not_a_scope_change(text):
    assert not changes_scope(text)


@pytest.mark.parametrize(
    "text",
    [
        "新增的导出按钮在哪里？",  # where is the newly added button?
        "这个问题影响范围比较大，请尽快处理",  # the impact is wide, please hurry
        "The page shows an error instead of the chart.",
        "Did you change the login page? It looks different.",
        "What is the scope of the hotfix?",
    ],
)
def test_an_ordinary_question_using_a_scope_word_is_not_a_scope_change(text):
    assert not changes_scope(text)
