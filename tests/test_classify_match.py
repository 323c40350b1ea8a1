"""How a new mail is classified and routed with the shipped demo rules."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mailflow.classify import classify, load_rules
from mailflow.classify.model import Rules
from mailflow.parse.model import Address, Attachment, ParsedMail

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


def make_mail(subject: str = "", body: str = "", sender: str = "王工 <wang.gong@yuanhang.example>",
              attachments: tuple[tuple[str, str], ...] = (), text: str | None = None,
              to: tuple[str, ...] = ("support@vendor.example.com",), cc: tuple[str, ...] = (),
              headers: tuple[tuple[str, str], ...] = ()) -> ParsedMail:
    """A ParsedMail as the parse stage would hand it over; ``text`` defaults to the body."""

    def address(value: str) -> Address:
        name, _, email = value.rpartition("<")
        return Address(name.strip(), email.rstrip(">").strip().lower()) if email.endswith(">") \
            else Address("", value.lower())

    files = tuple(Attachment(filename=name, content_type=ctype, size=3,
                             sha256=hashlib.sha256(b"abc").hexdigest(), data=b"abc")
                  for name, ctype in attachments)
    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in subject + body) else "en"
    return ParsedMail(
        message_id="<m1@example.net>", in_reply_to=None, references=(), subject=subject,
        sender=address(sender), reply_to=None, to=tuple(address(a) for a in to),
        cc=tuple(address(a) for a in cc), date=None, headers=headers,
        text=body if text is None else text, reply_text=body, html=None, language=language,
        attachments=files, automated=None, defects=(), content_hash="0" * 64)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_DIR)


def names(decision) -> list[str]:
    return [hit.rule for hit in decision.hits]


def test_zh_bug_from_implementation_customer_goes_to_least_loaded_bugfix_member(rules):
    mail = make_mail(subject="导出月度报表时报错",
                     body="您好，在导出月度报表时系统提示“内部错误”，请帮忙看一下。")
    decision = classify(mail, rules, {"li.wei": 3, "zhao.lei": 1})
    assert (decision.type, decision.priority) == ("bug", "medium")
    assert (decision.team, decision.owner) == ("bugfix", "zhao.lei")
    assert (decision.customer, decision.customer_key) == ("远航物流", "yuanhang")
    assert (decision.stage, decision.tier) == ("implementation", "core")
    assert (decision.account_owner, decision.partner) == ("chen.jie", "智联软件")
    assert decision.sender_staff is None
    assert names(decision) == ["bug-reports"]
    assert decision.hits[0].reasons == ('text contains "报错"',)
    assert decision.owner_reason.startswith("team bugfix: zhao.lei has the fewest open requirements (1)")
    assert 'rule "bug-reports" (' in decision.owner_reason


def test_en_feature_ask_from_presales_prospect_goes_to_product(rules):
    mail = make_mail(subject="Feature request: export stock list to Excel",
                     body="Hello, we would like to have an export of the stock list to Excel. "
                          "Our warehouse team needs it every Monday.",
                     sender="Ms. Chen <chen@huaxin.example>")
    decision = classify(mail, rules, {"wang.fang": 4, "liu.yang": 2})
    assert (decision.type, decision.priority) == ("feature", "medium")
    assert (decision.team, decision.owner) == ("product", "liu.yang")
    assert (decision.customer_key, decision.stage, decision.tier) == ("huaxin", "presales", "standard")
    assert names(decision) == ["feature-asks", "presales-tag"]
    assert decision.hits[0].reasons == ('text contains "feature request"',
                                        'text matches regex "would like (to have|to see|an? |the ability)" '
                                        '("would like to have")')
    assert decision.tags == ("presales",)


def test_bug_and_feature_go_to_different_owners(rules):
    bug = classify(make_mail(subject="打印运单报错", body="打印时报错。"), rules, {})
    feature = classify(make_mail(subject="新功能", body="希望增加批量打印功能。"), rules, {})
    assert (bug.type, feature.type) == ("bug", "feature")
    assert bug.owner != feature.owner and bug.team != feature.team


def test_strategic_customer_bug_is_high_priority(rules):
    mail = make_mail(subject="POS app crash when scanning coupons",
                     body="Since this morning the POS app crashes whenever a coupon is scanned.",
                     sender="Store Ops <ops@northwind.example.com>")
    decision = classify(mail, rules, {})
    assert (decision.type, decision.priority, decision.team) == ("bug", "high", "bugfix")
    assert (decision.customer, decision.stage, decision.tier) == ("Northwind Retail", "service", "strategic")
    assert decision.account_owner == "zhang.min"
    assert names(decision) == ["bug-reports", "strategic-customer-bugs"]
    assert decision.hits[1].reasons == ('tier equals "strategic"', 'text contains "crash"')


def test_urgent_zh_mail_is_high_priority(rules):
    mail = make_mail(subject="紧急：生产环境无法登录",
                     body="今天早上开始所有用户无法登录系统，仓库已经停工，请尽快处理。")
    decision = classify(mail, rules, {})
    assert (decision.type, decision.priority, decision.team) == ("bug", "high", "bugfix")
    assert names(decision) == ["bug-hints", "urgent-words"]
    assert decision.hits[1].reasons == ('text contains "紧急"',)


def test_unknown_sender_gets_presales_standard_defaults(rules):
    mail = make_mail(subject="咨询价格", body="你们的系统一共多少钱？我们有二十个用户。",
                     sender="someone@gmail.example")
    decision = classify(mail, rules, {})
    assert decision.customer is None and decision.customer_key is None
    assert (decision.stage, decision.tier) == ("presales", "standard")
    assert (decision.account_owner, decision.partner) == (None, None)
    assert (decision.type, decision.priority, decision.team, decision.owner) == \
        ("other", "medium", "product", "wang.fang")
    assert names(decision) == ["presales-tag"]
    assert decision.owner_reason == ("team product: wang.fang has the fewest open requirements "
                                     "(0, tied with liu.yang: first in the team list); "
                                     "team set by the routing defaults")


FORWARD = """请总部帮忙看一下这个问题，客户比较着急。

---------- Forwarded message ---------
From: 王工 <wang.gong@yuanhang.example>
Date: 2026年11月20日 09:12
To: 陈杰 <chen.jie@vendor.example.com>
Subject: 运单打印异常

打印运单时提示“打印模板异常”，无法打印。
"""


def test_staff_forwarding_a_client_mail_is_the_clients_request(rules):
    mail = make_mail(subject="Fwd: 运单打印异常", body="请总部帮忙看一下这个问题，客户比较着急。",
                     text=FORWARD, sender="陈杰 <chen.jie@vendor.example.com>")
    decision = classify(mail, rules, {"li.wei": 0, "zhao.lei": 1})
    assert decision.sender_staff == "chen.jie"
    assert (decision.customer_key, decision.stage, decision.tier) == ("yuanhang", "implementation", "core")
    assert (decision.type, decision.owner) == ("bug", "li.wei")
    assert names(decision) == ["bug-hints", "bug-reports"]


def test_staff_mail_with_the_client_in_cc_is_the_clients_request(rules):
    mail = make_mail(subject="Northwind: question about report filters",
                     body="How do I filter the sales report by store? Asked by the client in Cc.",
                     sender="zhang.min@vendor.example.com", cc=("ops@northwind.example.com",))
    decision = classify(mail, rules, {})
    assert (decision.sender_staff, decision.customer_key) == ("zhang.min", "northwind")
    assert (decision.type, decision.team, decision.owner) == ("service", "service", "zhang.min")


def test_staff_mail_without_any_client_falls_back_to_defaults(rules):
    mail = make_mail(subject="内部测试", body="测试一下。", sender="li.wei@vendor.example.com")
    decision = classify(mail, rules, {})
    assert (decision.sender_staff, decision.customer, decision.stage) == ("li.wei", None, "presales")


@pytest.mark.parametrize("workload, owner", [
    ({"li.wei": 2, "zhao.lei": 2}, "li.wei"),  # tie: first in the team's members list
    ({"li.wei": 5}, "zhao.lei"),  # nobody listed counts as no open requirements
    ({"li.wei": 0, "zhao.lei": 7}, "li.wei"),
])
def test_team_member_with_fewest_open_requirements_gets_it(rules, workload, owner):
    decision = classify(make_mail(subject="系统崩溃", body="保存订单时崩溃。"), rules, workload)
    assert decision.owner == owner


def test_tie_is_named_in_the_owner_reason(rules):
    decision = classify(make_mail(subject="系统崩溃", body="保存订单时崩溃。"), rules,
                        {"li.wei": 2, "zhao.lei": 2})
    assert decision.owner_reason.startswith(
        "team bugfix: li.wei has the fewest open requirements (2, tied with zhao.lei: first in the team list)")


def test_subdomain_sender_belongs_to_the_customer(rules):
    mail = make_mail(subject="Login page is slow", body="The login page takes 20 seconds.",
                     sender="it@mail.huaxin.example")
    decision = classify(mail, rules, {})
    assert (decision.customer_key, decision.type, decision.team) == ("huaxin", "improvement", "product")


def test_exact_address_wins_over_domain(rules):
    northwind = next(c for c in rules.customers if c.key == "northwind")
    moved = replace(northwind, addresses=("cio@huaxin.example",))
    custom = replace(rules, customers=tuple(moved if c.key == "northwind" else c for c in rules.customers))
    decision = classify(make_mail(subject="hello", body="hi", sender="cio@huaxin.example"), custom, {})
    assert decision.customer_key == "northwind"


def test_ten_thousand_customers_are_found_by_address_domain_and_parent_domain(rules):
    """A vendor's directory can be large; the shipped customers are still found, and the last of
    10,000 more as readily as the first (looked up, not searched for, in each mail)."""
    model = rules.customers[0]
    many = tuple(replace(model, key=f"c{n:05d}", name=f"Customer {n}", domains=(f"c{n:05d}.example.com",),
                         addresses=(f"buyer{n}@webmail.example",)) for n in range(10_000))
    big = replace(rules, customers=(*many, *rules.customers))
    for sender, key in (("it@mail.huaxin.example", "huaxin"), ("ops@c09999.example.com", "c09999"),
                        ("x@eu.c00042.example.com", "c00042"), ("buyer7777@webmail.example", "c07777"),
                        ("other@webmail.example", None)):
        decision = classify(make_mail(subject="Login page is slow", body="It takes 20 s.", sender=sender), big, {})
        assert decision.customer_key == key, sender
    forwarded = make_mail(subject="Fwd: export fails", sender="li.wei@vendor.example.com",
                          body="From: ops@c05000.example.com\nThe export fails.")
    assert classify(forwarded, big, {}).customer_key == "c05000"


def test_screenshot_attachment_alone_means_bug(rules):
    mail = make_mail(subject="看附件", body="见截图。", attachments=(("screen.png", "image/png"),))
    decision = classify(mail, rules, {})
    assert decision.type == "bug"
    assert decision.hits[0].reasons == (
        'attachment_type in [png, jpg, jpeg, gif, bmp, log, dmp, har] ("png") (screen.png)',)


def test_forgotten_password_is_service_even_when_login_fails(rules):
    mail = make_mail(subject="忘记密码", body="忘记密码了，无法登录，怎么重置？")
    decision = classify(mail, rules, {})
    assert (decision.type, decision.team, decision.owner) == ("service", "service", "zhang.min")


ROUTING_WITH_OWNER = """\
defaults: {team: product}
rules:
  - name: northwind-cio
    when:
      sender: cio@northwind.example.com
      header:X-Priority: {regex: '^[12]'}
    then: {owner: li.wei, priority: high, tags: [vip], stop: true}
  - name: bugs
    when_any:
      text: {contains: [error]}
    then: {type: bug, team: bugfix}
"""


@pytest.fixture
def owner_rules(tmp_path) -> Rules:
    for name in ("staff.yaml", "customers.yaml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "routing.yaml").write_text(ROUTING_WITH_OWNER, encoding="utf-8")
    return load_rules(tmp_path)


def test_rule_naming_an_owner_and_stopping(owner_rules, tmp_path):
    mail = make_mail(subject="error in report", body="There is an error.",
                     sender="cio@northwind.example.com", headers=(("X-Priority", "1 (Highest)"),))
    decision = classify(mail, owner_rules, {"li.wei": 9})
    assert (decision.owner, decision.team, decision.priority, decision.type) == ("li.wei", "bugfix", "high", "other")
    assert decision.owner_reason == f'rule "northwind-cio" ({tmp_path / "routing.yaml"}:3) names owner li.wei'
    assert names(decision) == ["northwind-cio"]  # stop: "bugs" was never evaluated
    assert decision.hits[0].reasons == ('sender equals "cio@northwind.example.com"',
                                        'header:X-Priority matches regex "^[12]" ("1")')
    assert decision.tags == ("vip",)


def test_header_condition_that_does_not_hold(owner_rules):
    mail = make_mail(subject="error in report", body="There is an error.",
                     sender="cio@northwind.example.com", headers=(("X-Priority", "3"),))
    decision = classify(mail, owner_rules, {})
    assert names(decision) == ["bugs"]
    assert (decision.type, decision.team) == ("bug", "bugfix")
