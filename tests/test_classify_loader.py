"""Loading rules/: the shipped example works, and every mistake is one ``file:line: reason``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.classify import check_rules, load_rules
from mailflow.errors import RuleError

REPO = Path(__file__).resolve().parents[1]

STAFF = """\
support_addresses: [support@vendor.example.com]
staff:
  - handle: li.wei
    name: 李伟
    email: li.wei@vendor.example.com
    roles: [lead, developer]
    team: bugfix
  - handle: wang.fang
    name: 王芳
    email: wang.fang@vendor.example.com
    roles: [lead, planner]
    team: product
teams:
  - name: bugfix
    members: [li.wei]
  - name: product
    members: [wang.fang]
"""

CUSTOMERS = """\
defaults: {stage: presales, tier: standard}
customers:
  - key: huaxin
    name: 华信制造
    stage: presales
    tier: standard
    domains: [huaxin.example]
    account_owner: wang.fang
  - key: yuanhang
    name: 远航物流
    stage: implementation
    tier: core
    domains: [yuanhang.example]
"""

ROUTING = """\
defaults: {type: other, priority: medium, team: product}
rules:
  - name: bugs
    when_any:
      subject: {contains: [报错, error]}
      text: {regex: '无法(登录|导出)'}
    then: {type: bug, team: bugfix}
  - name: urgent
    when:
      text: {contains: [紧急, urgent]}
    then: {priority: high}
"""


def write_rules(root: Path, **files: str) -> Path:
    """A rules/ directory under root with the good files, some replaced by ``files``."""
    directory = root / "rules"
    directory.mkdir()
    texts = {"staff": STAFF, "customers": CUSTOMERS, "routing": ROUTING} | files
    for name, text in texts.items():
        if text is not None:
            (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """Work in tmp_path so paths in messages read "rules/...", as an admin would see them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def first_error(**files: str) -> str:
    write_rules(Path.cwd(), **files)
    with pytest.raises(RuleError) as err:
        load_rules(Path("rules"))
    return str(err.value)


def test_shipped_rules_load_without_errors(monkeypatch):
    monkeypatch.chdir(REPO)
    assert check_rules(Path("rules")) == []
    rules = load_rules(Path("rules"))
    assert [c.key for c in rules.customers] == ["huaxin", "yuanhang", "northwind"]
    assert {s.handle for s in rules.staff} == {"li.wei", "zhao.lei", "wang.fang", "liu.yang",
                                               "zhang.min", "chen.jie", "zhou.qing", "sun.hao"}
    assert rules.team("bugfix").members == ("li.wei", "zhao.lei")
    assert rules.support_addresses == ("support@vendor.example.com",)
    assert (rules.defaults.stage, rules.defaults.tier, rules.defaults.team) == ("presales", "standard", "product")
    assert rules.routing[0].origin.file == "rules/routing.yaml"


def test_minimal_rules_load(here):
    rules = load_rules(write_rules(here))
    bugs = rules.routing[0]
    assert (bugs.name, str(bugs.origin)) == ("bugs", f"{here / 'rules' / 'routing.yaml'}:3")
    assert [c.field for c in bugs.conditions_any] == ["subject", "text"]
    assert bugs.conditions_any[1].patterns[0].pattern == "无法(登录|导出)"


def test_other_yaml_files_are_left_to_other_stages(here):
    directory = write_rules(here)
    (directory / "sla.yaml").write_text("this: [is not: checked here", encoding="utf-8")
    assert check_rules(directory) == []


def test_yaml_syntax_error(here):
    routing = ROUTING.replace("    then: {type: bug, team: bugfix}", "    then {type: bug, team: bugfix}")
    assert first_error(routing=routing) == "rules/routing.yaml:7: YAML syntax error: mapping values are not allowed here"


def test_yaml_syntax_error_names_where_the_construct_began(here):
    routing = ROUTING.replace("    then: {priority: high}", "    then\n      priority: high")
    assert first_error(routing=routing) == (
        "rules/routing.yaml:12: YAML syntax error: could not find expected ':' "
        "(while scanning a simple key at line 11)")


def test_a_directory_of_thousands_of_customers_loads_and_its_mistakes_keep_their_lines(here):
    """Read by libyaml where PyYAML has it (the Python scanner took 4 s for 10,000 customers): the
    same data, the same line numbers, and a syntax error still in the Python parser's words."""
    many = "".join(f"  - key: c{n:05d}\n    name: Customer {n}\n    stage: presales\n    tier: standard\n"
                   f"    domains: [c{n:05d}.example.com]\n" for n in range(2_000))
    customers = CUSTOMERS + many
    write_rules(here, customers=customers)
    rules = load_rules(Path("rules"))
    assert len(rules.customers) == 2_002
    last_key_line = 14 + 5 * 1_999  # CUSTOMERS is 13 lines; each customer 5 more
    assert rules.customers[-1].origin.line == last_key_line
    last = customers.rstrip("\n").rpartition("\n")[0] + "\n    domains: [c00042.example.com]\n"
    (here / "rules" / "customers.yaml").write_text(last, encoding="utf-8")
    error = first_error_in_place()
    assert error.startswith(f"rules/customers.yaml:{last_key_line + 4}: ") and "c00042.example.com" in error, error
    broken = customers.replace("    name: Customer 1999\n", "    name: Customer 1999: the last\n")
    (here / "rules" / "customers.yaml").write_text(broken, encoding="utf-8")
    assert first_error_in_place() == (f"rules/customers.yaml:{last_key_line + 1}: YAML syntax error: "
                                      "mapping values are not allowed here")


def first_error_in_place() -> str:
    with pytest.raises(RuleError) as err:
        load_rules(Path("rules"))
    return str(err.value)


def test_unknown_key(here):
    customers = CUSTOMERS.replace("    domains: [huaxin.example]", "    domian: [huaxin.example]")
    assert first_error(customers=customers) == (
        'rules/customers.yaml:7: customer "huaxin": unknown key "domian" (expected one of key, name, '
        "stage, tier, domains, addresses, account_owner, partner)")


def test_unknown_condition_field(here):
    routing = ROUTING.replace("      subject: {contains", "      subjct: {contains")
    assert first_error(routing=routing) == (
        'rules/routing.yaml:5: rule "bugs": unknown condition field "subjct" (expected one of sender, '
        "domain, customer, stage, tier, subject, body, text, header:<Name>, attachment_type, language)")


def test_bad_stage_value(here):
    customers = CUSTOMERS.replace("stage: implementation", "stage: implementing")
    assert first_error(customers=customers) == (
        'rules/customers.yaml:11: customer "yuanhang": unknown stage "implementing" '
        "(expected one of presales, implementation, service)")


def test_unknown_owner_handle(here):
    routing = ROUTING.replace("then: {priority: high}", "then: {priority: high, owner: li.wie}")
    assert first_error(routing=routing) == (
        'rules/routing.yaml:11: rule "urgent": owner "li.wie" is not in staff (known: li.wei, wang.fang)')


def test_unknown_account_owner(here):
    customers = CUSTOMERS.replace("account_owner: wang.fang", "account_owner: zhou.qing")
    assert first_error(customers=customers) == (
        'rules/customers.yaml:8: customer "huaxin": account_owner "zhou.qing" is not in staff')


def test_unknown_team(here):
    routing = ROUTING.replace("team: bugfix}", "team: bugs}")
    assert first_error(routing=routing) == (
        'rules/routing.yaml:7: rule "bugs": team "bugs" does not exist (known: bugfix, product)')


def test_bad_regex(here):
    routing = ROUTING.replace("'无法(登录|导出)'", "'无法(登录|导出'")
    assert first_error(routing=routing) == (
        'rules/routing.yaml:6: rule "bugs": text: bad regex "无法(登录|导出": '
        "missing ), unterminated subpattern at position 2")


def test_duplicate_rule_name(here):
    routing = ROUTING.replace("- name: urgent", "- name: bugs")
    assert first_error(routing=routing) == 'rules/routing.yaml:8: rule "bugs": duplicate rule name (first at line 3)'


def test_duplicate_domain(here):
    customers = CUSTOMERS.replace("domains: [yuanhang.example]", "domains: [yuanhang.example, huaxin.example]")
    assert first_error(customers=customers) == (
        'rules/customers.yaml:13: customer "yuanhang": domain "huaxin.example" already belongs to '
        'customer "huaxin" (line 7)')


def test_duplicate_staff_handle(here):
    staff = STAFF.replace("handle: wang.fang", "handle: li.wei")
    assert first_error(staff=staff) == 'rules/staff.yaml:8: staff "li.wei": duplicate handle "li.wei" (first at line 3)'


def test_duplicate_yaml_key(here):
    staff = STAFF.replace("    name: 王芳\n", "    name: 王芳\n    name: 王方\n")
    assert first_error(staff=staff) == 'rules/staff.yaml:10: duplicate key "name" (YAML keeps only the last one)'


def test_wrong_type(here):
    routing = ROUTING.replace("then: {priority: high}", "then: {priority: high, stop: maybe}")
    assert first_error(routing=routing) == 'rules/routing.yaml:11: rule "urgent": "stop" must be true or false, got a text'


def test_missing_file(here):
    assert first_error(routing=None) == (
        "rules/routing.yaml: file not found (a rules directory needs customers.yaml, staff.yaml and routing.yaml)")


def test_empty_file(here):
    assert first_error(staff="# nothing yet\n") == "rules/staff.yaml:1: the file is empty"


def test_team_without_members(here):
    staff = STAFF.replace("    members: [wang.fang]\n", "").replace("    team: product\nteams", "\nteams")
    assert first_error(staff=staff) == (
        'rules/staff.yaml:16: team "product": a team needs at least one member '
        '(list them in "members", or name the team in their "team")')


def test_missing_directory(here):
    with pytest.raises(RuleError, match="^nowhere: rules directory not found$"):
        load_rules(Path("nowhere"))


def test_check_rules_lists_every_problem_in_file_order(here):
    staff = STAFF.replace("team: product\nteams", "team: sales\nteams")
    routing = ROUTING.replace("subject: {contains", "subjct: {contains").replace("priority: high", "priority: urgent")
    write_rules(here, staff=staff, routing=routing)
    assert check_rules(Path("rules")) == [
        'rules/staff.yaml:12: staff "wang.fang": team "sales" does not exist (teams: bugfix, product)',
        'rules/routing.yaml:5: rule "bugs": unknown condition field "subjct" (expected one of sender, '
        "domain, customer, stage, tier, subject, body, text, header:<Name>, attachment_type, language)",
        'rules/routing.yaml:11: rule "urgent": unknown priority "urgent" (expected one of high, medium, low)',
    ]
