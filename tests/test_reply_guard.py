"""The commitment guard (BRIEF §2): nothing promised to a client before a plan is confirmed.

Read the tables as the specification: each sentence is something a reply
might say, and whether it may go to the client with no confirmed plan, or
with the confirmed plan v2.3 @ 2026-12-15.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from mailflow.errors import RuleError
from mailflow.reply import Templates, drafts_for
from mailflow.reply.engine import COMMITTAL_TEMPLATES, LANGUAGES
from mailflow.reply.model import ReplyContext
from mailflow.reply.rehearsal import samples
from mailflow.reply.guard import (COMMITMENT_FILE, CommitmentRules, Plan, check_commitment, check_draft,
                                  check_text, load_commitment)

SHIPPED = ROOT / "rules" / COMMITMENT_FILE
NO_PLAN = Plan(version=None, date=None, patch=None, confirmed=False)
PROPOSED = Plan(version="v2.3", date="2026-12-15", patch=None, confirmed=False)
CONFIRMED = Plan(version="v2.3", date="2026-12-15", patch=None, confirmed=True)
OK = None  # expected phrase when the sentence may go


@pytest.fixture(scope="module")
def rules() -> CommitmentRules:
    return load_commitment(SHIPPED)


# (sentence, the committal words reported as written — or OK when it may go)
WITHOUT_PLAN = [
    # --- zh, simplified: blocked
    ("我们保证下个版本实现。", "保证"),
    ("我们承诺在年底前完成开发。", "承诺"),
    ("这个功能一定会加上的。", "一定"),
    ("这个问题肯定会在下次更新中解决。", "肯定会"),
    ("该功能将于下个月上线。", "将于下个月上线"),
    ("下个版本会支持移动端审批。", "下个版本会"),
    ("我们马上修复这个问题。", "马上修复"),
    ("近期上线,敬请期待。", "近期上线"),
    ("新报表下周上线。", "下周上线"),
    ("本月内完成开发。", "本月内完成"),
    ("请放心,我们会处理好。", "请放心"),
    ("我们确保数据不会丢失。", "确保"),
    ("绝对没有问题。", "绝对"),
    ("该需求必定纳入规划。", "必定"),
    ("12月15日前上线。", "12月15日前上线"),
    ("2026-12-15 之前修复。", "2026-12-15 之前修复"),
    ("这个问题会在v3.0中修复。", "会在v3.0中修复"),
    ("计划在 3.0 版本中实现。", "3.0 版本中实现"),
    ("我们无法保证别的，但下个版本会实现。", "下个版本会"),
    ("已经确认,将于12月15日上线。", "将于12月15日上线"),
    # --- zh: spacing, full-width, invisible characters
    ("保 证 下 个 版 本 实 现", "保 证"),
    ("我们保　证按时交付", "保 证"),  # reported on one line, spaces as plain spaces
    ("我们已经收到您的邮件\n下周上线新版本。", "下周上线"),  # a line break in Chinese ends the line
    ("Your request is recorded, and it will be\nfixed in the next release.", "will be fixed"),  # English wraps
    ("我们保\u200b证完成", "保证"),
    ("将 于 １２ 月 １５ 日 上 线", "将 于 １２ 月 １５ 日 上 线"),
    # --- zh, traditional: blocked
    ("一定會在下個版本上線。", "一定"),
    ("我們保證下個版本實現。", "保證"),
    ("我們承諾本月內完成。", "承諾"),
    ("該功能將於下個月上線。", "將於下個月上線"),
    ("下個版本會支援這個功能。", "下個版本會"),
    ("這個問題肯定會修復。", "肯定會"),
    # --- en: blocked
    ("This will be fixed in the next release.", "will be fixed"),
    ("The feature will be implemented by December 15.", "will be implemented"),
    ("It will be delivered by the end of the month.", "will be delivered"),
    ("We guarantee a fix within two weeks.", "guarantee"),
    ("We promise to add this in version 3.0.", "promise"),
    ("We will definitely add this.", "We will definitely add"),
    ("This is on our roadmap for sure.", "for sure"),
    ("Rest assured it will be available soon.", "Rest assured"),
    ("We'll fix it by Friday.", "We'll fix"),
    ("The next release will include it.", "next release will"),
    ("Expect it by the end of the week.", "by the end of the week"),
    ("We plan to ship it on December 15.", "ship it on December 15"),
    ("It WILL BE RESOLVED shortly.", "WILL BE RESOLVED"),
    ("We shall deliver it next month.", "We shall deliver"),
    ("It\u2019ll be ready in the next version.", "\u2019ll be ready"),
    ("We are committed to delivering this feature.", "We are committed to"),
    ("This is guaranteed to work in v3.", "guaranteed"),
    ("The fix is going to be released next week.", "is going to be released"),
    ("Definitely.", "Definitely"),
    ("预计完成时间:2027年1月10日。", "预计完成时间:2027年1月10日"),
    ("The estimated release date is January 10, 2027.", "estimated release date is January 10, 2027"),
    ("ＷＩＬＬ  ＢＥ fixed", "ＷＩＬＬ ＢＥ fixed"),
    ("We cannot promise anything, but it will be fixed by Friday.", "will be fixed"),
    ("We cannot promise anything but it will be fixed by Friday.", "will be fixed"),
    # --- may go: careful wording, negations, other senses, quoted client words
    ("我们无法保证该功能会被纳入未来版本。", OK),
    ("我们不能承诺具体时间。", OK),
    ("这个需求不一定能在未来版本中实现。", OK),
    ("预计 3 个工作日内(2026年11月26日前)给出初步答复。", OK),
    ("预计 3 个工作日内给出初步答复。", OK),
    ("We expect to give you a first answer within 3 working days.", OK),
    ("You can expect a first answer within 3 working days (by 26 Nov 2026).", OK),
    ("We cannot guarantee that this will be included in a future release.", OK),
    ("We do not promise any delivery date.", OK),
    ("您发来的需求问题我们已经收到,会转达给产品规划负责人,分析未来产品中能否包含这个功能。", OK),
    ("It is recorded and forwarded to product planning, who will analyse whether a future release "
     "can include it.", OK),
    ("The data is kept indefinitely.", OK),
    ("请确保您已安装最新补丁。", OK),
    ("保证金管理模块目前按合同计提。", OK),
    ("在一定程度上可以通过报表导出实现。", OK),
    ("请使用绝对路径配置导出目录。", OK),
    ("> 你们上次保证过12月上线\n您的来信我们已经收到。", OK),
    ("＞ We were promised a fix by December.\nThank you for your message.", OK),
    ("该问题已于 2026年11月20日 修复,请升级后重试。", OK),
    ("This was fixed in version 2.2.1; please upgrade.", OK),
    ("下个版本是否会包含这个功能,我们会在分析后答复您。", OK),
    ("We will let you know once product planning has analysed it.", OK),
    ("Our service colleagues will support you.", OK),
    ("我们会尽快给您答复。", OK),
    ("请尽快提供日志文件,以便分析。", OK),
    ("我们正在分析原因,有进展会及时通知您。", OK),
    ("Please make sure the service is restarted.", OK),
    ("我们不保证,但会认真评估。", OK),
    ("我們無法保證該功能會被納入未來版本。", OK),
    ("目前無法確定上線時間。", OK),
    ("Whether it will be fixed in the next release is not decided yet.", OK),
    ("请重启服务以确保配置生效。", OK),
    ("WE CANNOT GUARANTEE A DATE.", OK),
    ("完成时间:2026年12月10日\n补丁号:KB-1024", OK),
    ("Completed on: 10 Dec 2026", OK),
]


def test_the_table_is_big_enough():
    assert len(WITHOUT_PLAN) >= 60
    assert sum(phrase is OK for _, phrase in WITHOUT_PLAN) >= 25


@pytest.mark.parametrize("sentence, phrase", WITHOUT_PLAN)
def test_without_a_confirmed_plan(rules, sentence, phrase):
    verdict = check_text(sentence, NO_PLAN, rules)
    assert (verdict.allowed, verdict.phrase) == (phrase is OK, phrase), verdict.reason
    if phrase is not OK:
        assert verdict.reason == f'committal wording "{phrase}" before a confirmed plan'


# (sentence, the offending version or date as written — or OK), plan v2.3 @ 2026-12-15 confirmed
WITH_CONFIRMED_PLAN = [
    ("该功能将于 2026-12-15 在 v2.3 版本中上线。", OK),
    ("我们保证在 V2.3 中实现,12月15日发布。", OK),
    ("It will be delivered in version 2.3 on December 15.", OK),
    ("The feature will be released in v2.3.0 on 15 Dec 2026.", OK),
    ("该功能将于 2026年12月15日 上线。", OK),
    ("我们承诺 2026年12月 上线。", OK),
    ("> 我们希望 2027-01-10 前上线\n将于 12月15日 在 v2.3 中上线。", OK),
    ("预计 3 个工作日内(2026年11月26日前)给出初步答复。", OK),
    ("将在 v3.0 实现。", "v3.0"),
    ("将于 2027-01-10 上线。", "2027-01-10"),
    ("It will be released on January 10, 2027.", "January 10, 2027"),
    ("计划在 2.4.1 版本中提供。", "2.4.1 版"),
    ("We will ship it in version 4.0.", "version 4.0"),
    ("将于 12月20日 上线。", "12月20日"),
    ("v2.3 将于 2026年12月15日 发布,v3.0 将于 2027年3月1日 发布。", "v3.0"),
    ("我们保证在 V3 中实现。", "V3"),
    # a resolution notice names when it was done, which need not be the planned day
    ("现已处理完成。\n完成时间:2026年12月10日\n版本:v2.3\n补丁号:KB-1024", OK),
    ("Your request has been resolved.\nCompleted on: 10 Dec 2026\nVersion: v2.3", OK),
    ("预计完成时间:2027年1月10日", "2027年1月10日"),
    ("It will be resolved on 20 Dec 2026.", "20 Dec 2026"),
]


@pytest.mark.parametrize("sentence, phrase", WITH_CONFIRMED_PLAN)
def test_with_a_confirmed_plan_only_its_version_and_date(rules, sentence, phrase):
    verdict = check_text(sentence, CONFIRMED, rules)
    assert (verdict.allowed, verdict.phrase) == (phrase is OK, phrase), verdict.reason


def test_the_reason_names_both_versions_and_both_dates(rules):
    assert check_text("将在 v3.0 实现。", CONFIRMED, rules).reason == \
        "names version v3.0 but the confirmed plan is v2.3"
    assert check_text("将于 2027-01-10 上线。", CONFIRMED, rules).reason == \
        "names date 2027-01-10 but the confirmed plan is 2026-12-15"


def test_a_proposed_plan_unlocks_nothing(rules):
    verdict = check_text("我们保证在 v2.3 中实现,2026-12-15 发布。", PROPOSED, rules)
    assert not verdict.allowed and verdict.phrase == "保证"
    assert verdict.reason == 'committal wording "保证" before a confirmed plan (plan v2.3 is proposed, not confirmed)'


def test_the_patch_number_may_be_named_too(rules):
    with_patch = Plan(version="v2.3", date="2026-12-15", patch="v2.3.1", confirmed=True)
    assert check_text("补丁 v2.3.1 将于 12月15日 发布。", with_patch, rules).allowed
    assert check_text("补丁 v2.3.1 将于 12月15日 发布。", CONFIRMED, rules).phrase == "v2.3.1"


# --- whole drafts ----------------------------------------------------------------------

def test_the_subject_is_checked_first(rules):
    verdict = check_draft("保证下个版本实现", "We cannot guarantee anything.", None, NO_PLAN, rules)
    assert verdict.reason == 'committal wording "保证" before a confirmed plan (in the subject)'


def test_the_html_part_is_checked_without_its_quoted_block(rules):
    quoted = "<p>谢谢来信。</p><blockquote>你们保证过12月上线</blockquote>"
    assert check_draft("您的需求", "谢谢来信。", quoted, NO_PLAN, rules).allowed
    promised = "<p>我们<b>保</b>证下个版本&#23454;现。</p>"
    verdict = check_draft("您的需求", "谢谢来信。", promised, NO_PLAN, rules)
    assert verdict.reason == 'committal wording "保证" before a confirmed plan (in the HTML part)'


def test_the_clients_own_words_repeated_inline_are_not_our_promise(rules):
    words = "你们上次保证过的移动审批什么时候上线?"
    text = f"您发来的需求问题“{words}”我们已经收到。"
    assert not check_draft(words, text, None, NO_PLAN, rules).allowed
    assert check_draft(words, text, None, NO_PLAN, rules, client_words=(words,)).allowed
    # our own words next to theirs are still checked, and a tiny client text whitelists nothing
    assert not check_text(text + "我们保证下周上线。", NO_PLAN, rules, client_words=(words,)).allowed
    assert not check_text("我们保证", NO_PLAN, rules, client_words=("保证",)).allowed


# --- the shipped templates never trip their own guard ----------------------------------

def plan_of(ctx: ReplyContext) -> Plan:
    return Plan(version=ctx.plan_version, date=ctx.plan_date.isoformat() if ctx.plan_date else None,
                patch=ctx.plan_patch, confirmed=ctx.plan_confirmed)


def test_every_shipped_client_facing_template_passes_with_no_plan(rules):
    """Only the templates meant to name a confirmed plan get one; every other passes with none."""
    templates = Templates(ROOT / "reply_templates")
    rendered = [(ctx, d) for ctx in samples() for internal in LANGUAGES
                for d in drafts_for(ctx, templates, internal_language=internal)]
    client_facing = {d.template for _, d in rendered if d.kind == "external"}
    assert {"zh/ack_presales", "en/ack_presales", "zh/redirect_service", "en/ack_implementation"} <= client_facing
    failures = set()
    for ctx, draft in rendered:
        if draft.template not in client_facing:  # a liaison gets client-facing text to pass on: checked too
            continue
        committal = draft.template.split("/")[-1] in COMMITTAL_TEMPLATES
        plan = plan_of(ctx) if committal else NO_PLAN
        verdict = check_draft(draft.subject, draft.text, draft.html, plan, rules)
        if not verdict.allowed:
            failures.add(f"{draft.template} ({ctx.event}, plan {plan}): {verdict.reason}")
    assert sorted(failures) == []


def test_an_admin_edited_promise_is_held_until_the_plan_is_confirmed(rules, tmp_path: Path):
    from test_reply_engine import huaxin

    shutil.copytree(ROOT / "reply_templates", tmp_path / "t")
    recorded = tmp_path / "t" / "zh" / "_recorded.txt.j2"
    recorded.write_text(recorded.read_text(encoding="utf-8") + "我们保证下个版本实现。\n", encoding="utf-8")
    ack = drafts_for(huaxin(), Templates(tmp_path / "t"))[0]
    assert ack.kind == "external"
    held = check_draft(ack.subject, ack.text, ack.html, NO_PLAN, rules)
    assert (held.allowed, held.phrase) == (False, "保证")
    assert check_draft(ack.subject, ack.text, ack.html, CONFIRMED, rules).allowed


# --- loading the file ------------------------------------------------------------------

def test_the_shipped_file_loads_and_checks_clean():
    assert check_commitment(SHIPPED) == []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / COMMITMENT_FILE
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, line, reason", [
    ("phrases: [保证]\npatterns:\n  - '将于.{0,12}(上线'\n", 3,
     '"patterns" item 1 is not a valid regular expression: missing ), unterminated subpattern at character 10'),
    ("phrases: [保证]\npromises: [一定]\n", 2,
     'unknown key "promises" (expected one of phrases, patterns, allow, allow_patterns)'),
    ("phrases:\n  保证: true\n", 1, '"phrases" must be a list of texts, got a mapping'),
    ("phrases:\n  - 保证\n  - 42\n", 3, '"phrases" must be a list of texts; item 2 is a number'),
    ("phrases: [保证]\nallow_patterns:\n  - '(无法)?'\n", 3,
     '"allow_patterns" item 1 matches empty text, so it would match every mail'),
    ("phrases: [保证]\npatterns:\n  - '将于 .{0,12}上线'\n", 3,
     '"patterns" item 1 has a space next to a Chinese character; spaces there are removed before matching, '
     "so it would never match"),
    ("allow: [无法保证]\n", 1, "no phrases and no patterns: the guard would let every promise through"),
    ("phrases: [保证\n", 2, "YAML syntax error: expected ',' or ']', but got '<stream end>' "
                           "(while parsing a flow sequence at line 1)"),
    ("", 1, "the file is empty"),
])
def test_each_mistake_is_one_file_line_reason(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as err:
        load_commitment(path)
    assert str(err.value) == f"{path}:{line}: {reason}"


def test_check_lists_every_problem_in_line_order(tmp_path):
    path = write(tmp_path, "phrases:\n  - 保证\n  - 7\npatterns: ['(']\nextra: 1\n")
    assert check_commitment(path) == [
        f'{path}:3: "phrases" must be a list of texts; item 2 is a number',
        f'{path}:4: "patterns" item 1 is not a valid regular expression: missing ), unterminated subpattern '
        "at character 1",
        f'{path}:5: unknown key "extra" (expected one of phrases, patterns, allow, allow_patterns)',
    ]


def test_a_missing_file_says_what_it_is_for(tmp_path):
    path = tmp_path / COMMITMENT_FILE
    assert check_commitment(path) == [
        f"{path}: file not found (the commitment guard needs its list of committal words)"]


def test_admin_phrases_are_normalised_like_the_mail(tmp_path):
    rules = load_commitment(write(tmp_path, "phrases: [ＡＳ Ｐｒｏｍｉｓｅｄ, 包 您 满 意]\n"))
    assert check_text("As promised, here it is.", NO_PLAN, rules).phrase == "As promised"
    assert check_text("包您满意", NO_PLAN, rules).phrase == "包您满意"


def test_admin_regexes_do_not_interfere_with_each_other(tmp_path):
    rules = load_commitment(write(tmp_path, "patterns: ['(?i)soon', '(?P<x>a)b', '(?P<x>c)d']\n"))
    assert check_text("it comes SOON", NO_PLAN, rules).phrase == "SOON"
    assert check_text("xx cd", NO_PLAN, rules).phrase == "cd"


def test_the_plan_confirmed_template_itself_is_held_without_a_confirmed_plan(rules):
    templates = Templates(ROOT / "reply_templates")
    confirmed = [(ctx, d) for ctx in samples() if ctx.event == "plan_confirmed"
                 for d in drafts_for(ctx, templates) if d.kind == "external"]
    assert {d.language for _, d in confirmed} == {"zh", "en"}
    for ctx, draft in confirmed:
        assert check_draft(draft.subject, draft.text, draft.html, plan_of(ctx), rules).allowed
        assert not check_draft(draft.subject, draft.text, draft.html, NO_PLAN, rules).allowed
        later = Plan(version="v3.0", date="2027-01-10", patch=None, confirmed=True)
        assert "but the confirmed plan is v3.0" in check_draft(draft.subject, draft.text, draft.html, later,
                                                               rules).reason


def test_a_resolution_notice_finished_early_passes_under_its_confirmed_plan(rules):
    from dataclasses import replace
    from datetime import date

    templates = Templates(ROOT / "reply_templates")
    checked = 0
    for ctx in samples():
        if ctx.event != "resolved":
            continue
        ctx = replace(ctx, plan_version="v2.3", plan_date=date(2026, 12, 15), plan_patch="KB-1024",
                      plan_confirmed=True)  # the samples finish on 2026-12-10, before the planned day
        for draft in drafts_for(ctx, templates):
            if draft.kind == "external":
                verdict = check_draft(draft.subject, draft.text, draft.html, plan_of(ctx), rules)
                assert verdict.allowed, f"{draft.template}: {verdict.reason}"
                checked += 1
    assert checked


# The fast normaliser the guard matches on must see exactly what the careful one sees.
_ALPHABET = ("ab Z9.,'\u2019 \t\n\r\u3000\u00a0\u200b\u00ad\x00>＞ＡＢ１ 保证上线下周将完成版本 we will be fixed "
             "\u2028\u00a8ﬁ한국語")


@pytest.mark.parametrize("seed", range(4))
def test_fast_and_careful_normalisation_agree(seed):
    import random

    from mailflow.reply.guard import _normalise, _normalised

    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "reply_templates").rglob("*.j2"))]
    texts += ["", " ", "\n", "> quoted\n保证", "保 证\n下周 上线", "  lead and trail  ", "a\n\n\nb", "中 \n 文"]
    texts += ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 120))) for _ in range(500)]
    texts += ["\n".join("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 20)))
                        for _ in range(rng.randint(1, 8))) for _ in range(500)]
    for text in texts:
        for quoted in (False, True):
            assert _normalised(text, quoted) == _normalise(text, quoted)[0], (text, quoted)
