"""The mails of a requirement's life after receipt: who gets each, in which words (BRIEF §1–§2, issue 3)."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from dataclasses import replace
from datetime import date, datetime

import pytest

from conftest import ROOT, SHANGHAI
from mailflow.classify.model import STAGES, TYPES
from mailflow.parse.model import Address
from mailflow.reply import Templates, check_templates, drafts_for, missing_facts
from mailflow.reply.engine import COMMITTAL_TEMPLATES, REQUIRED
from mailflow.reply.guard import Plan, check_draft, load_commitment
from mailflow.reply.model import EVENTS, Alternative, Draft, ReplyContext
from mailflow.send.headers import compose
from test_reply_engine import CHEN_JIE, WANG_FANG, ZHANG_MIN, huaxin, northwind, staff, summary, yuanhang

ZHAO_LEI = staff("zhao.lei", "赵磊", "bugfix")
HUAXIN = ("wang.jl@huaxin.example",)
EMMA = "emma.clark@northwind.example.com"
V, DAY, PATCH = "v2.3", date(2026, 12, 15), "KB-1024"
ALTERNATIVES = (
    Alternative("在现有审批页面上做移动端适配", cost="约 5 人天", time="约 2 周", risk="低:不影响现有流程"),
    Alternative("通过企业微信推送待办,点开后审批", cost="约 8 人天", time="约 3 周", risk="中:依赖企业微信接口"),
    Alternative("开发独立的移动审批应用"),
)
HELD = "我们保证下个版本实现移动审批。"

# What each event needs to be sent (missing_facts), with realistic values.
FACTS: dict[str, dict[str, object]] = {
    "need_info": {"items": ("使用的手机型号和系统版本", "需要在手机上审批的流程名称", "一张审批页面的截图")},
    "progress": {},
    "plan_proposed": {"message": "在现有审批页面上做移动端适配,手机浏览器即可审批。"},
    "plan_confirmed": {"plan_confirmed": True, "plan_version": V, "plan_date": DAY},
    "declined": {"message": "审批需要调用贵公司内网的签章服务,手机端无法访问。",
                 "workaround": "出差时可通过 VPN 用笔记本电脑在浏览器中审批。"},
    "resolved": {"resolution": "修正了审批人为空时的判断逻辑。", "resolved_at": datetime(2026, 12, 10, 15, 0, tzinfo=SHANGHAI),
                 "plan_patch": PATCH},
    "verification_request": {"plan_patch": PATCH},
    "satisfaction_request": {},
    "staff_reply": {"message": "王经理您好,关于移动审批,我们正在分析贵公司的审批流程。"},
    "merged": {"merged_into": "REQ-202611-002"},
    "service_redirect": {},
    "command_result": {"recipient": ZHAO_LEI, "command_lines": ("#priority:high → 优先级改为 高",)},
    "command_refused": {"recipient": ZHAO_LEI, "command_lines": ("#status:finished: 没有这个状态",)},
    "blocked_notice": {"recipient": ZHAO_LEI, "blocked_reason": "commitment guard: “保证” before a confirmed plan",
                       "blocked_text": HELD},
    "verification_failed": {"description": "不通过,手机上点审批还是报错。"},
    "verification_passed": {"description": "通过"},
    "client_reply": {"description": "请问补丁要在测试环境先装吗?"},
    "change_request": {"description": "审批还需要支持手写签名。", "plan_version": V, "plan_date": DAY},
    "follow_up": {"description": "补充一下:最好也能在微信里审批。"},
    "received": {},
    "assigned": {"owner_reason": "李伟 指派: 熟悉审批模块"},
    "sla_reminder": {"deadline": "feedback", "deadline_at": datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)},
    "sla_escalation": {"deadline": "plan", "deadline_at": datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI),
                       "escalate_to": (ZHAO_LEI,)},
}
CLIENT_EVENTS = ("need_info", "progress", "plan_proposed", "plan_confirmed", "declined", "resolved",
                 "verification_request", "satisfaction_request", "staff_reply", "merged")


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(ROOT / "reply_templates")


def event(builder, name: str, **changes: object) -> ReplyContext:  # type: ignore[no-untyped-def]
    return builder(event=name, **{**FACTS[name], **changes})


def numbered(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^(\d+)\. (.+)$", text, re.MULTILINE)


def test_the_event_list_and_the_facts_table_agree():
    assert set(FACTS) == set(EVENTS)


# --- who gets what -----------------------------------------------------------------

def test_a_deadline_reminder_goes_to_the_owner_and_an_escalation_also_to_their_manager(templates):
    [reminder] = drafts_for(event(huaxin, "sla_reminder"), templates)
    assert (reminder.kind, reminder.template, reminder.to, reminder.cc) == (
        "internal", "zh/sla_reminder", ("wang.fang@vendor.example.com",), ())
    assert reminder.subject.startswith("即将到期:答复客户") and "2026年11月26日 10:00" in reminder.text
    [escalation] = drafts_for(event(yuanhang, "sla_escalation"), templates)
    assert (escalation.to, escalation.cc) == (("li.wei@vendor.example.com",), ("zhao.lei@vendor.example.com",))
    assert escalation.subject.startswith("已逾期:处理方案") and "已同时通知:赵磊" in escalation.text
    en = drafts_for(event(huaxin, "sla_escalation"), templates, internal_language="en")[0]
    assert en.subject.startswith("Overdue: handling plan") and "Also told: 赵磊." in en.text


@pytest.mark.parametrize("name", CLIENT_EVENTS)
def test_client_mail_goes_to_the_client_in_their_language(templates, name):
    assert summary(drafts_for(event(huaxin, name), templates)) == [("external", f"zh/{name}", HUAXIN, ())]
    en = drafts_for(event(yuanhang, name, language="en"), templates)
    assert [(d.kind, d.template, d.to, d.language) for d in en] == [
        ("external", f"en/{name}", ("liu.chang@yuanhang.example",), "en")]


@pytest.mark.parametrize("name", CLIENT_EVENTS)
def test_an_accepted_clients_mail_goes_to_their_account_owner_to_pass_on(templates, name):
    drafts = drafts_for(event(northwind, name), templates)
    assert summary(drafts) == [("internal", f"en/{name}", ("zhang.min@vendor.example.com",), ())]
    text = drafts[0].text
    assert text.startswith("[To pass on] This customer is past acceptance")
    assert f"our mail for Emma Clark <{EMMA}>" in text
    if name != "staff_reply":  # relayed as written: staff write their own greeting
        assert "Dear Emma Clark," in text
    # No account owner on record: the requirement's owner passes it on.
    assert summary(drafts_for(event(northwind, name, account_owner=None), templates))[0][:3] == (
        "internal", f"en/{name}", ("li.wei@vendor.example.com",))


def test_an_accepted_client_never_receives_anything_but_the_redirect(templates):
    for name, stage_ctx in itertools.product(EVENTS, (northwind, lambda **c: northwind(language="zh", **c))):
        for draft in drafts_for(event(stage_ctx, name), templates):
            if EMMA in draft.to + draft.cc:
                assert draft.template.endswith("/redirect_service") and draft.kind == "external", name
            else:
                assert draft.kind == "internal", name


def test_the_redirect_can_be_asked_for_alone(templates):
    assert summary(drafts_for(event(northwind, "service_redirect"), templates)) == [
        ("external", "en/redirect_service", (EMMA,), ())]
    assert drafts_for(event(huaxin, "service_redirect"), templates) == []  # we answer prospects ourselves
    staff_wrote = northwind(liaison=ZHANG_MIN, submitter=Address("张敏", "zhang.min@vendor.example.com"))
    assert drafts_for(replace(staff_wrote, event="service_redirect"), templates) == []


def test_client_mail_on_a_requirement_our_staff_raised_goes_to_them(templates):
    raised = yuanhang(liaison=CHEN_JIE, submitter=Address("陈杰", "chen.jie@vendor.example.com"))
    drafts = drafts_for(replace(raised, event="need_info", **FACTS["need_info"]), templates)
    assert summary(drafts) == [("internal", "zh/need_info", ("chen.jie@vendor.example.com",), ())]
    assert drafts[0].text.startswith("【请转交客户】该客户由您联络。以下是给远航物流的邮件,请核对后转发。")
    assert "\n您好!\n" in drafts[0].text  # greets the client, not our colleague


def test_staff_forwarding_for_a_client_keeps_the_client_and_is_not_copied(templates):
    """Copying staff on client mail would count against the client's flood limit; they see the outbox."""
    forwarded = yuanhang(liaison=CHEN_JIE)  # chen.jie forwarded liu.chang's mail
    assert summary(drafts_for(replace(forwarded, event="progress"), templates)) == [
        ("external", "zh/progress", ("liu.chang@yuanhang.example",), ())]


@pytest.mark.parametrize("name", ["verification_failed", "verification_passed", "client_reply", "change_request"])
def test_owner_notifications_go_to_the_owner_in_our_language(templates, name):
    assert summary(drafts_for(event(huaxin, name), templates)) == [
        ("internal", f"zh/{name}", ("wang.fang@vendor.example.com",), ())]
    # An accepted client's account owner is copied, as on a follow-up; English on request.
    drafts = drafts_for(event(northwind, name), templates, internal_language="en")
    assert summary(drafts) == [("internal", f"en/{name}", ("li.wei@vendor.example.com",),
                                ("zhang.min@vendor.example.com",))]


def test_command_results_go_to_whoever_sent_the_commands(templates):
    assert summary(drafts_for(event(huaxin, "command_result"), templates)) == [
        ("internal", "zh/command_result", ("zhao.lei@vendor.example.com",), ())]
    # A refusal also tells the owner: someone tried to change their requirement.
    assert summary(drafts_for(event(huaxin, "command_refused"), templates)) == [
        ("internal", "zh/command_refused", ("zhao.lei@vendor.example.com",), ("wang.fang@vendor.example.com",))]
    assert summary(drafts_for(event(huaxin, "command_refused", recipient=WANG_FANG), templates)) == [
        ("internal", "zh/command_refused", ("wang.fang@vendor.example.com",), ())]


def test_a_held_mail_is_reported_to_the_owner_and_its_author(templates):
    drafts = drafts_for(event(huaxin, "blocked_notice"), templates)
    assert summary(drafts) == [("internal", "zh/blocked_notice", ("wang.fang@vendor.example.com",),
                                ("zhao.lei@vendor.example.com",))]
    text = drafts[0].text
    assert "发给 王经理 <wang.jl@huaxin.example> 的邮件被谨慎用语检查拦下,没有发出。" in text
    assert "原因:commitment guard: “保证” before a confirmed plan" in text
    assert f"> {HELD}" in text
    # Held system text (no author): the owner alone.
    assert summary(drafts_for(event(huaxin, "blocked_notice", recipient=None), templates))[0][3] == ()


def test_no_one_to_tell_means_no_mail(templates):
    assert drafts_for(event(northwind, "progress", owner=None, account_owner=None), templates) == []
    assert drafts_for(event(huaxin, "verification_failed", owner=None, account_owner=None), templates) == []


# --- what each mail says -----------------------------------------------------------

def test_need_info_asks_for_each_item_numbered(templates):
    text = drafts_for(event(huaxin, "need_info", items=("手机型号", "  ", "流程名称")), templates)[0].text
    assert numbered(text) == [("1", "手机型号"), ("2", "流程名称")]
    assert "请直接回复本邮件,补充以下信息:\n1. 手机型号\n" in text
    en = drafts_for(event(huaxin, "need_info", language="en", items=("the phone model",)), templates)[0].text
    assert "Please reply to this mail with:\n1. the phone model\n" in en


def test_progress_reports_what_staff_wrote_or_a_neutral_line(templates):
    text = drafts_for(event(huaxin, "progress", message="已完成审批流程的梳理,正在分析手机端的签章方式。"),
                      templates)[0].text
    assert "现将目前的进展告知如下:\n\n已完成审批流程的梳理,正在分析手机端的签章方式。\n" in text
    assert "我们正在分析处理,目前没有需要您配合的事项。" in drafts_for(event(huaxin, "progress"), templates)[0].text
    assert "We are analysing it; at present nothing is needed from you." in drafts_for(
        event(northwind, "progress", stage="presales"), templates)[0].text


def test_a_proposed_plan_commits_to_nothing_and_asks_the_client_to_confirm_the_way(templates):
    ctx = event(huaxin, "plan_proposed", plan_version=V, plan_date=DAY, plan_patch=PATCH)
    text = drafts_for(ctx, templates)[0].text
    assert "方案正在评估,尚未确定版本和时间。" in text
    assert "拟定的实现方式:\n在现有审批页面上做移动端适配,手机浏览器即可审批。" in text
    assert "请您确认这种实现方式是否符合贵公司的业务需要" in text
    en = drafts_for(replace(ctx, language="en"), templates)[0].text
    assert "It is under evaluation; no version or date has been decided." in en
    assert "Please confirm whether this way of implementing it meets your business needs" in en
    for words in (text, en):
        assert not re.search(r"v2\.3|2026年|12月15|15 Dec|Dec 2026|KB-1024", words)


def test_alternatives_are_numbered_with_cost_time_and_risk(templates):
    for name in ("plan_proposed", "declined"):
        text = drafts_for(event(huaxin, name, alternatives=ALTERNATIVES), templates)[0].text
        assert "1. 在现有审批页面上做移动端适配\n   成本:约 5 人天;工期:约 2 周;风险:低:不影响现有流程\n" in text
        assert "2. 通过企业微信推送待办,点开后审批\n   成本:约 8 人天;工期:约 3 周;风险:中:依赖企业微信接口\n" in text
        assert "3. 开发独立的移动审批应用\n   成本:待评估;工期:待评估;风险:待评估\n" in text
        en = drafts_for(event(huaxin, name, alternatives=ALTERNATIVES[2:], language="en"), templates)[0].text
        assert ("1. 开发独立的移动审批应用\n   Cost: to be estimated; time needed: to be estimated; "
                "risk: to be estimated\n") in en


def test_a_decline_gives_the_reason_and_a_workaround(templates):
    text = drafts_for(event(huaxin, "declined"), templates)[0].text
    assert "很抱歉,这项需求目前无法按您提出的方式实现。" in text
    assert "原因:\n审批需要调用贵公司内网的签章服务,手机端无法访问。\n" in text
    assert "变通方法:\n出差时可通过 VPN 用笔记本电脑在浏览器中审批。\n" in text
    en = drafts_for(event(huaxin, "declined", language="en", alternatives=ALTERNATIVES, workaround=""),
                    templates)[0].text
    assert "The reason:\n审批需要调用贵公司内网的签章服务" in en and "What you can do instead" not in en
    assert "Alternatives (cost and time are first estimates):\n1. " in en


def test_a_confirmed_plan_names_version_date_and_patch_but_not_who_confirmed(templates):
    ctx = event(huaxin, "plan_confirmed", plan_patch=PATCH)
    text = drafts_for(ctx, templates)[0].text
    assert "开发计划已经确认:\n\n版本:v2.3\n计划日期:2026年12月15日\n补丁号:KB-1024\n" in text
    assert "该需求计划在 v2.3 版本中实现,计划于2026年12月15日提供。" in text
    assert "王芳" not in text and "wang.fang" not in text
    en = drafts_for(replace(ctx, language="en", plan_patch=None), templates)[0].text
    assert "It is planned for version v2.3, to be delivered on 15 Dec 2026." in en and "Patch" not in en


def test_the_resolution_names_method_time_patch_and_how_to_install(templates):
    text = drafts_for(event(huaxin, "resolved"), templates)[0].text
    assert "(编号 REQ-202611-001),已于2026年12月10日处理完成。" in text  # past tense: no promise to the guard
    assert "解决方法:\n修正了审批人为空时的判断逻辑。\n\n补丁号:KB-1024\n" in text
    steps = numbered(text.split("补丁的下载和安装:")[1])
    assert steps[0] == ("1", "登录客户支持门户,在“补丁下载”中按补丁号 KB-1024 查找并下载补丁包;")
    assert len(steps) == 4
    given = ("从支持门户下载 KB-1024.zip", "停止应用服务后解压覆盖", "重新启动应用服务")
    en = drafts_for(event(northwind, "resolved", stage="presales", install_steps=given), templates)[0].text
    assert "How it was solved:\n修正了审批人为空时的判断逻辑。\n" in en  # as staff wrote it
    assert "(REQ-202611-006) was resolved on 10 Dec 2026.\n" in en and "\nPatch: KB-1024\n" in en
    assert numbered(en) == [("1", given[0]), ("2", given[1]), ("3", given[2])]
    # No patch (a configuration fix): no download section at all.
    plain = drafts_for(event(huaxin, "resolved", plan_patch=None, resolved_at=None), templates)[0].text
    assert "下载" not in plain and not numbered(plain) and "现已处理完成。" in plain


def test_verification_and_satisfaction_requests_name_the_answers_we_understand(templates):
    """The words are those SPEC.md "Clients' replies" parses."""
    zh = drafts_for(event(huaxin, "verification_request"), templates)[0].text
    assert "补丁号 KB-1024" in zh
    assert "\n通过(或 1):" in zh and "\n不通过(或 2):" in zh
    en = drafts_for(event(huaxin, "verification_request", language="en"), templates)[0].text
    assert "\npass (or 1):" in en and "\nfail (or 2):" in en
    zh = drafts_for(event(huaxin, "satisfaction_request"), templates)[0].text
    assert "\n满意(或 1)\n一般(或 2)\n不满意(或 3)\n" in zh
    en = drafts_for(event(huaxin, "satisfaction_request", language="en"), templates)[0].text
    assert "\nsatisfied (or 1)\nneutral (or 2)\nunsatisfied (or 3)\n" in en


def test_a_staff_reply_is_relayed_as_written_with_our_footer(templates):
    draft = drafts_for(event(huaxin, "staff_reply"), templates)[0]
    assert draft.subject == "移动端审批功能咨询"  # the thread's subject: mail clients keep the thread
    assert draft.text.startswith("王经理您好,关于移动审批,我们正在分析贵公司的审批流程。\n\n客户支持中心\n")


def test_a_merged_request_points_the_client_to_the_one_that_continues(templates):
    text = drafts_for(event(huaxin, "merged"), templates)[0].text
    assert "与需求 REQ-202611-002 内容相同,我们已将两者合并处理。" in text
    assert "此后的沟通请以需求编号 REQ-202611-002 为准" in text


def test_command_mails_list_the_lines_and_the_valid_forms(templates):
    result = drafts_for(event(huaxin, "command_result"), templates)[0]
    assert result.subject == "命令已执行:移动端审批功能咨询"
    assert "- #priority:high → 优先级改为 高\n" in result.text and "#merge:" not in result.text
    helped = drafts_for(event(huaxin, "command_result", command_lines=("#help",), language="en"), templates,
                        internal_language="en")[0]
    assert "- #plan:VERSION@YYYY-MM-DD — propose a plan" in helped.text
    refused = drafts_for(event(huaxin, "command_refused"), templates)[0]
    assert "所以这次没有任何改动" in refused.text
    assert "问题:\n- #status:finished: 没有这个状态\n" in refused.text
    assert "- #status:new|in_progress|pending_verification|done|closed|cancelled — 修改状态" in refused.text


def test_owner_notifications_quote_the_clients_words(templates):
    failed = drafts_for(event(huaxin, "verification_failed", plan_patch=PATCH), templates)[0]
    assert failed.subject == "验证未通过:移动端审批功能咨询"
    assert "验证未通过,需求已退回给您" in failed.text and "补丁号:KB-1024" in failed.text
    assert "> 不通过,手机上点审批还是报错。" in failed.text
    change = drafts_for(event(huaxin, "change_request"), templates)[0].text
    assert "原计划:v2.3,2026年12月15日(未确认)" in change and "> 审批还需要支持手写签名。" in change


# --- the careful-reply rule over every new template --------------------------------

COMMITTAL = [
    r"will be (?:fixed|implemented|delivered|released|added|included|resolved|available|done)",
    r"\bguarantee", r"\bpromise", r"\bdefinitely\b", r"\bcertainly\b", r"next (?:release|version) will",
    r"保证", r"承诺", r"一定", r"肯定会", r"将于.{0,20}(?:上线|修复|发布|完成)", r"下个?版本会", r"下一版本会",
    r"会(?:修复|上线|实现|解决|发布|开发)", r"马上(?:修复|解决)",
]
VERSIONS = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b|版本\s*\d")
DATES = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                   r"Nov|Dec) \d{4}\b|\b\d{4}-\d{2}-\d{2}\b")


def _every_mail(templates: Templates):  # type: ignore[no-untyped-def]
    """Every draft of every event, stage, type and language, with a proposed (unconfirmed) plan on record."""
    builders = {"presales": huaxin, "implementation": yuanhang, "service": northwind}
    for name, stage, language, type_, internal in itertools.product(EVENTS, STAGES, ("zh", "en"), TYPES, ("zh", "en")):
        facts = {"plan_version": "v9.8", "plan_date": date(2031, 7, 19), "plan_patch": "KB-7777",
                 "alternatives": ALTERNATIVES, **FACTS[name]}
        ctx = builders[stage](event=name, language=language, type=type_, **facts)
        for draft in drafts_for(ctx, templates, internal_language=internal):
            yield ctx, draft


def _words(draft: Draft, ctx: ReplyContext) -> str:
    text = draft.subject + "\n" + draft.text + "\n" + re.sub(r"<[^>]+>", " ", draft.html or "")
    if draft.template.endswith("/blocked_notice"):  # names the phrase and quotes the held text, on purpose
        text = text.replace(ctx.blocked_text, "").replace(ctx.blocked_reason, "")
    return text


def test_no_template_commits_us_except_to_a_confirmed_plan(templates):
    seen: set[str] = set()
    for ctx, draft in _every_mail(templates):
        seen.add(draft.template)
        if draft.template.split("/")[1] in COMMITTAL_TEMPLATES:
            continue
        for pattern in COMMITTAL:
            hit = re.search(pattern, _words(draft, ctx), re.IGNORECASE)
            assert hit is None, f"{draft.template} ({ctx.stage}/{ctx.type}/{ctx.event}) says {hit.group(0)!r}"
    assert seen == set(REQUIRED)


def test_mail_for_the_client_names_no_plan_until_it_is_confirmed(templates):
    """A proposed plan's version, date and patch stay internal: only plan_confirmed and resolved name them."""
    client_facing = {*CLIENT_EVENTS, "ack_presales", "ack_implementation", "redirect_service"}
    for ctx, draft in _every_mail(templates):
        name = draft.template.split("/")[1]
        if name not in client_facing or name in COMMITTAL_TEMPLATES:
            continue
        hit = re.search(r"9\.8|2031|7月19|19 Jul|KB-7777", _words(draft, ctx))
        assert hit is None, f"{draft.template} ({ctx.stage}/{ctx.type}) names the plan: {hit.group(0)!r}"


def test_committal_templates_name_only_the_plans_version_and_date(templates):
    for ctx, draft in _every_mail(templates):
        if draft.template.split("/")[1] not in COMMITTAL_TEMPLATES:
            continue
        words = _words(draft, ctx)
        versions = {v.lstrip("v") for v in VERSIONS.findall(words)}
        dates = set(DATES.findall(words))
        assert versions <= {ctx.plan_version.lstrip("v")}, (draft.template, versions)  # type: ignore[union-attr]
        allowed = {"2031年7月19日", "19 Jul 2031", "2026年12月15日", "15 Dec 2026", "2026年12月10日", "10 Dec 2026"}
        assert dates <= allowed, (draft.template, dates)
        if ctx.event == "plan_confirmed":
            plan_day = "2026年12月15日" if draft.language == "zh" else "15 Dec 2026"
            assert dates == {plan_day} and versions == {"2.3"}


def test_the_shipped_guard_lets_every_shipped_client_mail_through(templates):
    """The templates and rules/commitment.yaml agree: no mail of ours is held for its own wording.

    Before confirmation with a proposed plan on record; plan_confirmed and
    resolved under the confirmed plan, whose version and date they name.
    """
    rules = load_commitment(ROOT / "rules" / "commitment.yaml")
    for ctx, draft in _every_mail(templates):
        if draft.kind == "internal" and "[To pass on]" not in draft.text and "【请转交客户】" not in draft.text:
            continue
        confirmed = draft.template.split("/")[1] in COMMITTAL_TEMPLATES
        if confirmed:
            ctx = replace(ctx, plan_version=V, plan_date=DAY, plan_confirmed=True)
            draft = drafts_for(ctx, templates)[0]
        plan = Plan(ctx.plan_version, ctx.plan_date.isoformat() if ctx.plan_date else None, ctx.plan_patch,
                    confirmed)
        verdict = check_draft(draft.subject, draft.text, draft.html, plan, rules,
                              client_words=(ctx.subject, ctx.description))
        assert verdict.allowed, f"{draft.template} ({ctx.stage}/{ctx.type}): {verdict.reason}"


# --- facts an event cannot go without ----------------------------------------------

@pytest.mark.parametrize(("name", "changes", "lacking"), [
    ("need_info", {"items": ()}, "items"),
    ("need_info", {"items": ("  ",)}, "items"),
    ("declined", {"message": ""}, "message (the reason"),
    ("declined", {"workaround": ""}, "workaround or alternatives"),
    ("plan_confirmed", {"plan_confirmed": False}, "a confirmed plan"),
    ("plan_confirmed", {"plan_date": None}, "a confirmed plan"),
    ("resolved", {"resolution": " "}, "resolution"),
    ("staff_reply", {"message": ""}, "message"),
    ("merged", {"merged_into": None}, "merged_into"),
    ("command_result", {"recipient": None}, "recipient"),
    ("command_refused", {"command_lines": ()}, "command_lines"),
    ("blocked_notice", {"blocked_text": ""}, "blocked_reason and blocked_text"),
])
def test_an_event_without_its_facts_is_refused_before_any_mail(templates, name, changes, lacking):
    ctx = event(huaxin, name, **changes)
    assert any(item.startswith(lacking) for item in missing_facts(ctx))
    with pytest.raises(ValueError, match=re.escape(lacking)):
        drafts_for(ctx, templates)


def test_a_decline_may_offer_alternatives_instead_of_one_workaround(templates):
    ctx = event(huaxin, "declined", workaround="", alternatives=ALTERNATIVES)
    assert missing_facts(ctx) == ()
    assert all(missing_facts(event(huaxin, name)) == () for name in EVENTS)


# --- the HTML part -----------------------------------------------------------------

@pytest.mark.parametrize("language", ["zh", "en"])
def test_html_parts_exist_for_the_ack_the_confirmed_plan_and_the_resolution(templates, language):
    script = "<script>alert('x')</script>"
    acks = drafts_for(huaxin(language=language, description=f"希望支持手机审批 {script}"), templates)
    confirmed = drafts_for(event(huaxin, "plan_confirmed", language=language, message=script), templates)
    resolved = drafts_for(event(huaxin, "resolved", language=language, resolution=script,
                                install_steps=(script,)), templates)
    for draft in (acks[0], confirmed[0], resolved[0]):
        assert draft.html is not None and draft.html.startswith("<!DOCTYPE html>"), draft.template
        assert script not in draft.html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in draft.html
        assert script in draft.text  # the plain part is plain
        assert "REQ-202611-001" in draft.html
    assert "<li style=\"margin:0 0 4px;\">&lt;script&gt;" in resolved[0].html  # type: ignore[operator]
    assert acks[1].html is None  # internal notes stay plain text
    assert drafts_for(event(huaxin, "progress", language=language), templates)[0].html is None


def test_html_of_a_mail_to_pass_on_carries_the_note_too(templates):
    draft = drafts_for(event(northwind, "resolved"), templates)[0]
    assert draft.kind == "internal" and "[To pass on]" in (draft.html or "")
    assert "Emma Clark &lt;emma.clark@northwind.example.com&gt;" in (draft.html or "")


def test_a_draft_with_html_is_sent_as_multipart_alternative(templates):
    draft = drafts_for(event(huaxin, "resolved"), templates)[0]
    raw = compose(draft, requirement_id="REQ-202611-001", sender=Address("客户支持中心", "support@vendor.example.com"),
                  message_id="<REQ-202611-001.x@vendor.example.com>", in_reply_to=None, references=(),
                  now=datetime(2026, 12, 10, 16, 0, tzinfo=SHANGHAI))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_payload()  # type: ignore[misc]
    assert plain.get_content_type() == "text/plain" and "补丁号:KB-1024" in plain.get_content()
    assert html.get_content_type() == "text/html" and "KB-1024" in html.get_content()


def test_every_template_renders_for_every_event_stage_and_language():
    assert check_templates(ROOT / "reply_templates") == []
