"""Who may use which command: the roles of ``rules/staff.yaml`` against the requirement.

One table, so an admin (and a reviewer) reads the whole policy at once:

- anyone on staff: ``#note``, ``#help``, and ``#assign`` to themselves (taking it on);
- the people of the requirement (its owner, liaison or account owner) or a lead:
  ``#status``, ``#patch``, ``#done``, ``#decline``, ``#reply``, ``#merge``;
- a lead: ``#assign`` to someone else, ``#priority``, ``#type``, ``#stage``;
- a planner, lead or not: ``#plan`` and ``#confirm`` (only a confirmed plan unlocks committal replies).

``manager`` counts as lead. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailflow.classify.model import Staff
from mailflow.commands.syntax import Command

LEAD_ROLES = frozenset({"lead", "manager"})
ANYONE, OWN, LEAD, PLANNER = "anyone on staff", "the requirement's own people or a lead", "a lead", "a planner"
NEEDS = {
    "note": ANYONE, "help": ANYONE,
    "status": OWN, "patch": OWN, "done": OWN, "decline": OWN, "reply": OWN, "merge": OWN,
    "priority": LEAD, "type": LEAD, "stage": LEAD,
    "plan": PLANNER, "confirm": PLANNER,
}


def is_lead(staff: Staff) -> bool:
    return bool(LEAD_ROLES & set(staff.roles))


def refusal(staff: Staff, command: Command, *, own: Iterable[str | None]) -> str | None:
    """None when ``staff`` may use ``command`` on a requirement whose people are ``own``; else why not."""
    needs = NEEDS.get(command.word, LEAD)
    if command.word == "assign":
        needs = ANYONE if command.value == staff.handle else LEAD
    if needs == PLANNER:  # a plan is a product decision: being a lead is not enough
        allowed = "planner" in staff.roles
    else:
        allowed = needs == ANYONE or is_lead(staff) or (needs == OWN and staff.handle in {h for h in own if h})
    if allowed:
        return None
    roles = ", ".join(staff.roles) or "none"
    return f"{command.raw}: needs {needs}; {staff.handle} has roles {roles}"
