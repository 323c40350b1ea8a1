"""refusal(): who on staff may use which command on a requirement.

The policy, one table (mailflow/commands/permissions.py):

| who                                                   | commands                                              |
|-------------------------------------------------------|-------------------------------------------------------|
| anyone on staff                                       | #note, #help, #assign to themselves                   |
| the requirement's own people (owner, liaison, account | #status, #patch, #done, #decline, #reply, #merge      |
| owner) or a lead                                      |                                                       |
| a lead (``manager`` counts as lead)                   | #assign to someone else, #priority, #type, #stage     |
| a planner, lead or not                                | #plan, #confirm                                       |

People are those of the shipped rules/staff.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.classify import load_rules
from mailflow.classify.model import Origin, Staff
from mailflow.commands.permissions import is_lead, refusal
from mailflow.commands.syntax import Command, parse_subject


# The people of the shipped rules/staff.yaml: li.wei lead+developer, zhao.lei developer,
# wang.fang lead+planner, liu.yang planner, zhang.min service, sun.hao lead+manager.
STAFF = {s.handle: s for s in load_rules(Path(__file__).resolve().parent.parent / "rules").staff}


def person(handle: str, name: str, *roles: str) -> Staff:
    """Someone with exactly these roles, for the cases the shipped staff do not cover."""
    return Staff(handle=handle, name=name, email=f"{handle}@vendor.example.com", roles=roles, team=None, manager=None,
                 origin=Origin("test", 1))
# The requirement in these tests: zhao.lei owns it, zhang.min is the liaison, no account owner.
OWN = ("zhao.lei", "zhang.min", None)


def command(token: str) -> Command:
    (parsed,) = parse_subject(f"Re: [REQ-202611-001] {token}").commands
    return parsed


def may(handle: str, token: str, own=OWN) -> bool:
    return refusal(STAFF[handle], command(token), own=own) is None


# Every command for every person of staff.yaml, on a requirement owned by zhao.lei with liaison zhang.min.
#            li.wei  zhao.lei wang.fang liu.yang zhang.min sun.hao
#            lead    owner    lead+plan planner  liaison   lead+mgr
TABLE = {
    "#note": (True, True, True, True, True, True),
    "#help": (True, True, True, True, True, True),
    "#status:in_progress": (True, True, True, False, True, True),
    "#patch:KB-1024": (True, True, True, False, True, True),
    "#done": (True, True, True, False, True, True),
    "#decline": (True, True, True, False, True, True),
    "#reply": (True, True, True, False, True, True),
    "#merge:REQ-202611-002": (True, True, True, False, True, True),
    "#assign:chen.jie": (True, False, True, False, False, True),
    "#priority:high": (True, False, True, False, False, True),
    "#type:bug": (True, False, True, False, False, True),
    "#stage:service": (True, False, True, False, False, True),
    "#plan:v2.3@2026-12-15": (False, False, True, True, False, False),
    "#confirm": (False, False, True, True, False, False),
}
OWN_WORK = ["#status:cancelled", "#done", "#reply", "#decline", "#patch:HF-7", "#merge:REQ-202611-002"]
PEOPLE = ("li.wei", "zhao.lei", "wang.fang", "liu.yang", "zhang.min", "sun.hao")


@pytest.mark.parametrize(
    ("token", "handle", "allowed"),
    [(token, handle, allowed) for token, row in TABLE.items() for handle, allowed in zip(PEOPLE, row)],
)
def test_the_whole_permission_table(token, handle, allowed):
    assert may(handle, token) is allowed


@pytest.mark.parametrize("handle", PEOPLE)
def test_anyone_on_staff_may_take_a_requirement_on_themselves(handle):
    assert may(handle, f"#assign:{handle}")


@pytest.mark.parametrize("target", ["li.wei", "zhang.min", "chen.jie"])
def test_only_a_lead_may_assign_someone_else_not_even_the_owner(target):
    assert not may("zhao.lei", f"#assign:{target}")  # the owner handing it on
    assert not may("liu.yang", f"#assign:{target}")  # a planner
    assert may("li.wei", f"#assign:{target}") and may("sun.hao", f"#assign:{target}")


def test_assigning_to_yourself_ignores_case_and_the_at_sign():
    assert may("zhao.lei", "#assign:@Zhao.Lei")


@pytest.mark.parametrize("token", OWN_WORK)
@pytest.mark.parametrize(
    ("handle", "own"),
    [
        ("zhao.lei", ("zhao.lei", None, None)),  # the owner
        ("zhang.min", ("li.wei", "zhang.min", None)),  # the liaison
        ("liu.yang", ("li.wei", None, "liu.yang")),  # the customer's account owner
    ],
)
def test_the_requirements_own_people_may_work_on_it(token, handle, own):
    assert may(handle, token, own=own)


@pytest.mark.parametrize("token", OWN_WORK)
def test_staff_who_are_not_its_people_may_not_work_on_it(token):
    assert not may("zhao.lei", token, own=("li.wei", "zhang.min", None))
    assert not may("zhao.lei", token, own=(None, None, None))


@pytest.mark.parametrize("token", ["#status:closed", "#done", "#reply", "#priority:low", "#assign:zhao.lei"])
def test_a_lead_may_work_on_any_requirement(token):
    assert may("li.wei", token, own=(None, None, None))


def test_manager_counts_as_lead():
    boss = person("qian.bo", "钱博", "manager")
    assert is_lead(boss)
    assert refusal(boss, command("#priority:high"), own=(None, None, None)) is None
    assert refusal(boss, command("#assign:zhao.lei"), own=(None, None, None)) is None
    assert refusal(boss, command("#status:cancelled"), own=(None, None, None)) is None


@pytest.mark.parametrize(
    ("roles", "lead"),
    [(("lead",), True), (("manager",), True), (("lead", "manager"), True), (("planner",), False),
     (("developer", "service"), False), ((), False)],
)
def test_is_lead(roles, lead):
    assert is_lead(person("x", "X", *roles)) is lead


@pytest.mark.parametrize("token", ["#plan:v2.3@2026-12-15", "#confirm"])
@pytest.mark.parametrize("handle", ["li.wei", "sun.hao"])
def test_a_lead_who_is_not_a_planner_may_not_plan_or_confirm(token, handle):
    assert not may(handle, token, own=(handle, None, None))


@pytest.mark.parametrize("token", ["#plan:v2.3@2026-12-15", "#confirm"])
def test_a_planner_may_plan_any_requirement_without_being_its_owner_or_a_lead(token):
    assert may("liu.yang", token, own=(None, None, None))


def test_the_owner_who_is_not_a_planner_may_not_plan_their_own_requirement():
    assert not may("zhao.lei", "#plan:v2.3@2026-12-15", own=("zhao.lei", None, None))


# --- what the refusal says ---------------------------------------------------

@pytest.mark.parametrize(
    ("handle", "token", "own", "expected"),
    [
        ("zhao.lei", "#priority:high", OWN, "#priority:high: needs a lead; zhao.lei has roles developer"),
        ("zhao.lei", "#assign:li.wei", OWN, "#assign:li.wei: needs a lead; zhao.lei has roles developer"),
        ("li.wei", "#plan:v2.3@2026-12-15", OWN,
         "#plan:v2.3@2026-12-15: needs a planner; li.wei has roles lead, developer"),
        ("sun.hao", "#confirm", OWN, "#confirm: needs a planner; sun.hao has roles lead, manager"),
        ("liu.yang", "#done", OWN, "#done: needs the requirement's own people or a lead; liu.yang has roles planner"),
        ("zhang.min", "#Status:Closed", ("li.wei", None, None),
         "#Status:Closed: needs the requirement's own people or a lead; zhang.min has roles service"),
    ],
)
def test_the_refusal_names_the_command_as_written_and_the_roles(handle, token, own, expected):
    assert refusal(STAFF[handle], command(token), own=own) == expected


def test_someone_without_roles_is_told_so():
    intern = person("xiao.ming", "小明")
    assert refusal(intern, command("#priority:low"), own=OWN) == "#priority:low: needs a lead; xiao.ming has roles none"
