"""``rules explain``: the lines an admin reads to see why a mail was routed so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailflow.classify import classify, explain, load_rules
from mailflow.classify.model import Rules
from test_classify_match import FORWARD, RULES_DIR, make_mail


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_DIR)


def origin(rules: Rules, name: str) -> str:
    return str(next(rule.origin for rule in rules.routing if rule.name == name))


def customer_origin(rules: Rules, key: str) -> str:
    return str(next(c.origin for c in rules.customers if c.key == key))


def run(mail, rules, workload=None) -> list[str]:
    return explain(mail, rules, classify(mail, rules, workload or {}))


def test_zh_bug_from_a_customer(rules):
    mail = make_mail(subject="导出月度报表时报错", body="在导出月度报表时系统提示“内部错误”。")
    lines = run(mail, rules, {"li.wei": 2, "zhao.lei": 1})
    bug_rule = origin(rules, "bug-reports")
    assert lines[:7] == [
        "sender: 王工 <wang.gong@yuanhang.example>",
        f"customer: 远航物流 (yuanhang, {customer_origin(rules, 'yuanhang')}) — sender domain yuanhang.example",
        "  stage implementation, tier core, account owner chen.jie, partner 智联软件",
        "language: zh; subject: 导出月度报表时报错",
        f'rule "bug-reports" ({bug_rule}) fired:',
        '    - text contains "报错"',
        "    then: type bug, team bugfix",
    ]
    assert lines[7].startswith("did not fire (9): screenshot-or-log, how-to-questions, ")
    assert lines[8:] == [
        "result: type bug, priority medium, owner zhao.lei (team bugfix)",
        f'owner reason: team bugfix: zhao.lei has the fewest open requirements (1); '
        f'team set by rule "bug-reports" ({bug_rule})',
    ]


def test_unknown_sender_shows_the_defaults(rules):
    lines = run(make_mail(subject="咨询价格", body="多少钱？", sender="someone@gmail.example"), rules)
    assert lines[1] == "customer: none — no customer matches the sender; defaults apply (stage presales, tier standard)"
    assert "result: type other, priority medium, owner wang.fang (team product)" in lines
    assert lines[-1] == "tags: presales"


def test_staff_forward_names_the_staff_member_and_the_client(rules):
    mail = make_mail(subject="Fwd: 运单打印异常", body="请看", text=FORWARD,
                     sender="陈杰 <chen.jie@vendor.example.com>")
    lines = run(mail, rules)
    assert lines[0] == "sender: 陈杰 <chen.jie@vendor.example.com> — our staff member chen.jie"
    assert lines[1].endswith("— staff chen.jie forwarded mail from wang.gong@yuanhang.example "
                             "(domain yuanhang.example)")


def test_subdomain_match_is_explained(rules):
    lines = run(make_mail(subject="Login slow", body="slow", sender="it@mail.huaxin.example"), rules)
    assert lines[1].endswith("— sender mail.huaxin.example is a subdomain of huaxin.example")


def test_no_rule_fired(tmp_path):
    for name in ("staff.yaml", "customers.yaml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "routing.yaml").write_text(
        "defaults: {team: product}\nrules:\n"
        "  - name: bugs\n    when: {text: {contains: error}}\n    then: {type: bug, team: bugfix}\n",
        encoding="utf-8")
    rules = load_rules(tmp_path)
    lines = run(make_mail(subject="hello", body="hi", sender="a@gmail.example"), rules)
    assert "no rule fired: type, priority and owner come from the routing defaults" in lines
    assert "did not fire (1): bugs" in lines


def test_stop_is_explained(tmp_path):
    for name in ("staff.yaml", "customers.yaml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "routing.yaml").write_text(
        "defaults: {team: product}\nrules:\n"
        "  - name: vip\n    when: {customer: northwind}\n    then: {owner: zhang.min, priority: high, stop: true}\n"
        "  - name: bugs\n    when: {text: {contains: error}}\n    then: {type: bug, team: bugfix}\n",
        encoding="utf-8")
    rules = load_rules(tmp_path)
    lines = run(make_mail(subject="error", body="error", sender="ops@northwind.example.com"), rules)
    routing = Path(tmp_path) / "routing.yaml"
    assert lines[4:] == [
        f'rule "vip" ({routing}:3) fired:',
        '    - customer equals "northwind"',
        "    then: priority high, owner zhang.min; stop: later rules are not evaluated",
        "not evaluated after stop (1): bugs",
        "result: type other, priority high, owner zhang.min (team service)",
        f'owner reason: rule "vip" ({routing}:3) names owner zhang.min',
    ]
