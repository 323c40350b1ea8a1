"""Which mails an event sends, to whom, in which words (BRIEF §1–§2)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from conftest import ROOT, SHANGHAI
from mailflow.classify.model import Origin, Staff
from mailflow.parse.model import Address
from mailflow.reply import Templates, check_templates, drafts_for
from mailflow.reply.model import Draft, ReplyContext


def staff(handle: str, name: str, team: str | None = None) -> Staff:
    return Staff(handle=handle, name=name, email=f"{handle}@vendor.example.com", roles=(), team=team,
                 manager="sun.hao", origin=Origin("rules/staff.yaml", 1))


LI_WEI = staff("li.wei", "李伟", "bugfix")
WANG_FANG = staff("wang.fang", "王芳", "product")
ZHANG_MIN = staff("zhang.min", "张敏", "service")
CHEN_JIE = staff("chen.jie", "陈杰", "implementation")
ZHOU_QING = staff("zhou.qing", "周青", "sales")

ASK = "希望审批流程能支持手机端操作，领导出差时也能及时审批。"


def huaxin(**changes: object) -> ReplyContext:
    """A prospect's feature ask, as the pipeline builds it on receipt."""
    ctx = ReplyContext(
        event="received", requirement_id="REQ-202611-001", subject="移动端审批功能咨询", description=ASK,
        language="zh", stage="presales", tier="standard", customer="华信制造", partner=None, type="feature",
        priority="medium", submitter=Address("王经理", "wang.jl@huaxin.example"), owner=WANG_FANG,
        account_owner=ZHOU_QING, liaison=None, answer_by=datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
        answer_within_days=3, attachments=(), owner_reason="rule feature-asks: team product, fewest open")
    return replace(ctx, **changes)


def yuanhang(**changes: object) -> ReplyContext:
    ctx = huaxin(requirement_id="REQ-202611-003", subject="工资计算报错", description="计算11月工资时报错，提示内部错误。",
                 stage="implementation", tier="core", customer="远航物流", partner="智联软件", type="bug",
                 submitter=Address("刘畅", "liu.chang@yuanhang.example"), owner=LI_WEI, account_owner=CHEN_JIE)
    return replace(ctx, **changes)


def northwind(**changes: object) -> ReplyContext:
    ctx = huaxin(requirement_id="REQ-202611-006", subject="Payroll export fails",
                 description="The payroll export fails with HTTP 500 since this morning.", language="en",
                 stage="service", tier="strategic", customer="Northwind Retail", type="bug",
                 submitter=Address("Emma Clark", "emma.clark@northwind.example.com"), owner=LI_WEI,
                 account_owner=ZHANG_MIN)
    return replace(ctx, **changes)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(ROOT / "reply_templates")


def summary(drafts: list[Draft]) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return [(d.kind, d.template, d.to, d.cc) for d in drafts]


def test_shipped_templates_pass_the_check():
    assert check_templates(ROOT / "reply_templates") == []


def test_presales_ask_gets_a_careful_ack_and_the_owner_a_new_requirement(templates):
    drafts = drafts_for(huaxin(), templates)
    assert summary(drafts) == [
        ("external", "zh/ack_presales", ("wang.jl@huaxin.example",), ()),
        ("internal", "zh/new_requirement", ("wang.fang@vendor.example.com",), ()),
    ]
    ack = drafts[0]
    assert ack.language == "zh" and ack.subject == "移动端审批功能咨询"
    assert f"您发来的需求问题“{ASK}”我们已经收到。" in ack.text
    assert "这项需求很好,我们已经记录下来,会转达给产品规划负责人,分析未来产品中能否包含这个功能。" in ack.text
    assert "预计 3 个工作日内(2026年11月26日前)给出初步答复。" in ack.text
    last = ack.text.rstrip().splitlines()[-2:]
    assert "REQ-202611-001" in last[0] and "回复本邮件" in last[1]


def test_long_words_are_quoted_verbatim_as_a_block(templates):
    words = "我们有三个需求：\n1. 手机审批\n2. 审批提醒\n\n3. 批量审批"
    ack = drafts_for(huaxin(description=words), templates)[0]
    assert "> 我们有三个需求：\n> 1. 手机审批\n> 2. 审批提醒\n>\n> 3. 批量审批\n" in ack.text


def test_english_client_gets_english_ack_and_staff_get_chinese(templates):
    drafts = drafts_for(northwind(stage="presales"), templates)
    assert [(d.template, d.language) for d in drafts] == [("en/ack_presales", "en"), ("zh/new_requirement", "zh")]
    assert 'We have received your request "The payroll export fails with HTTP 500 since this morning."' \
        in drafts[0].text
    assert "You can expect a first answer within 3 working days (by 26 Nov 2026)." in drafts[0].text
    english_staff = drafts_for(northwind(stage="presales"), templates, internal_language="en")
    assert english_staff[1].template == "en/new_requirement"


def test_a_language_we_have_no_templates_for_falls_back_to_english(templates):
    assert drafts_for(huaxin(language="ja"), templates)[0].template == "en/ack_presales"


def test_bug_ack_promises_analysis_not_a_fix(templates):
    ack = drafts_for(yuanhang(stage="presales"), templates)[0]
    assert "已经记录下来,并转给了负责的技术人员分析原因" in ack.text
    assert "需求很好" not in ack.text
    en = drafts_for(northwind(stage="presales"), templates)[0]
    assert "responsible engineers, who are analysing its cause" in en.text


def test_implementation_ack_asks_for_every_missing_item_numbered(templates):
    drafts = drafts_for(yuanhang(customer=None, partner=None), templates)
    assert summary(drafts) == [
        ("external", "zh/ack_implementation", ("liu.chang@yuanhang.example",), ()),
        ("internal", "zh/new_requirement", ("li.wei@vendor.example.com",), ()),
    ]
    asks = re.findall(r"^(\d)\. (.+)$", drafts[0].text, re.MULTILINE)
    assert [n for n, _ in asks] == ["1", "2", "3"]
    assert "联系人姓名及电话" in asks[0][1]
    assert "客户名称" in asks[1][1] and "代理商" in asks[1][1]
    assert "已经上线的模块" in asks[2][1]


def test_implementation_ack_asks_only_for_what_is_missing(templates):
    words = "考勤模块已上线，排班模块还在实施。联系人刘畅，电话 138-0013-8000。"
    ack = drafts_for(yuanhang(description="排班时报错。", mail_text=words), templates)[0]
    assert "请直接回复本邮件,补充以下信息" not in ack.text
    assert not re.search(r"^\d\. ", ack.text, re.MULTILINE)

    only_phase = drafts_for(yuanhang(description="排班时报错，请联系 021-62345678。"), templates)[0]
    assert re.findall(r"^(\d)\. (.+)$", only_phase.text, re.MULTILINE) == [
        ("1", "目前的实施阶段:已经上线的模块,以及尚未实施的模块。")]


def test_english_implementation_ack_lists_items_in_english(templates):
    ctx = yuanhang(language="en", description="Shift scheduling crashes when saving.")
    ack = drafts_for(ctx, templates)[0]
    assert ack.template == "en/ack_implementation"
    assert "1. the contact person's name and phone number;" in ack.text
    assert "2. the implementation phase" in ack.text


def test_accepted_client_is_redirected_and_the_account_owner_told(templates):
    drafts = drafts_for(northwind(), templates)
    assert summary(drafts) == [
        ("external", "en/redirect_service", ("emma.clark@northwind.example.com",), ()),
        ("internal", "zh/service_request", ("zhang.min@vendor.example.com",), ()),
        ("internal", "zh/new_requirement", ("li.wei@vendor.example.com",), ()),
    ]
    redirect, note = drafts[0], drafts[1]
    assert "张敏 <zhang.min@vendor.example.com>" in redirect.text
    assert "We have passed your mail to 张敏." in redirect.text
    assert "HTTP 500" not in redirect.text  # the redirect neither quotes nor answers the request
    assert "> The payroll export fails with HTTP 500 since this morning." in note.text
    assert "给客户的答复请由您发出" in note.text


def test_accepted_client_whose_owner_is_the_account_owner_gets_one_internal_mail(templates):
    drafts = drafts_for(northwind(owner=ZHANG_MIN), templates)
    assert [d.template for d in drafts] == ["en/redirect_service", "zh/service_request"]


def test_staff_writing_for_a_client_gets_the_ack_instead_of_the_client(templates):
    drafts = drafts_for(yuanhang(liaison=CHEN_JIE, submitter=Address("陈杰", "chen.jie@vendor.example.com")),
                        templates)
    assert summary(drafts) == [
        ("internal", "zh/ack_implementation", ("chen.jie@vendor.example.com",), ()),
        ("internal", "zh/new_requirement", ("li.wei@vendor.example.com",), ()),
    ]
    assert all(d.kind == "internal" for d in drafts)
    assert drafts[0].text.startswith("陈杰,您好!")


def test_service_staff_escalating_for_their_own_client(templates):
    drafts = drafts_for(northwind(liaison=ZHANG_MIN), templates)
    assert summary(drafts) == [
        ("internal", "en/ack_presales", ("zhang.min@vendor.example.com",), ()),
        ("internal", "zh/new_requirement", ("li.wei@vendor.example.com",), ()),
    ]


def test_follow_up_tells_the_owner_only(templates):
    ctx = huaxin(event="follow_up", description="补充一下：最好也能在微信里审批。", attachments=("流程图.png",))
    drafts = drafts_for(ctx, templates)
    assert summary(drafts) == [("internal", "zh/follow_up", ("wang.fang@vendor.example.com",), ())]
    assert "> 补充一下：最好也能在微信里审批。" in drafts[0].text
    assert "- 流程图.png" in drafts[0].text


def test_follow_up_from_an_accepted_client_copies_the_account_owner(templates):
    drafts = drafts_for(northwind(event="follow_up"), templates)
    assert summary(drafts) == [("internal", "zh/follow_up", ("li.wei@vendor.example.com",),
                                ("zhang.min@vendor.example.com",))]


def test_new_requirement_tells_the_owner_everything_needed(templates):
    # The owner sees the SLA's next deadline (a high priority's 24 h), not the client's 3-day promise.
    ctx = yuanhang(attachments=("error.png", "server.log"), priority="high",
                   due_at=datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    note = drafts_for(ctx, templates)[1]
    assert note.subject == "新需求:工资计算报错"
    for expected in ("REQ-202611-003", "类型:问题修复", "优先级:高", "客户:远航物流(合作伙伴/代理商:智联软件)",
                     "阶段:实施中", "客户级别:核心客户", "提交人:刘畅 <liu.chang@yuanhang.example>",
                     "原因:rule feature-asks", "> 计算11月工资时报错，提示内部错误。", "- error.png", "- server.log",
                     "下一个期限:2026年11月24日 10:00"):
        assert expected in note.text, expected


def test_no_owner_means_no_internal_mail(templates):
    assert [d.template for d in drafts_for(huaxin(owner=None), templates)] == ["zh/ack_presales"]
    assert drafts_for(huaxin(event="follow_up", owner=None, account_owner=None), templates) == []


def test_unknown_event_is_a_programming_error(templates):
    with pytest.raises(ValueError):
        drafts_for(huaxin(event="closed"), templates)


def test_a_broken_template_fails_the_whole_event(tmp_path: Path, templates):
    """Nothing half-done: if one mail cannot be rendered, none is returned."""
    import shutil

    from mailflow.errors import TemplateError

    shutil.copytree(ROOT / "reply_templates", tmp_path / "t")
    (tmp_path / "t" / "zh" / "new_requirement.txt.j2").write_text("Subject: x\n\n{{ ctx.nonexistent }}\n",
                                                                  encoding="utf-8")
    with pytest.raises(TemplateError, match=r"zh/new_requirement\.txt\.j2:3: "):
        drafts_for(huaxin(), Templates(tmp_path / "t"))
    assert any("new_requirement.txt.j2:3" in line for line in check_templates(tmp_path / "t"))
