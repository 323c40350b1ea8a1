"""``rules explain``: tell an admin, in plain lines, why a mail was routed so.

Admins tune routing.yaml by trying a real mail against it; they need to see
the customer match, each rule that fired with the words that made it fire,
and where the owner came from — every line pointing back to ``file:line``.
"""

from __future__ import annotations

from mailflow.classify.match import match_customer
from mailflow.classify.model import Actions, Decision, Rules
from mailflow.parse.model import ParsedMail


def explain(mail: ParsedMail, rules: Rules, decision: Decision) -> list[str]:
    """Human-readable lines: sender, customer, rules fired, result, owner reason."""
    found = match_customer(mail, rules)
    staff = f" — our staff member {found.sender_staff.handle}" if found.sender_staff else ""
    lines = [f"sender: {mail.sender}{staff}"]
    customer = found.customer
    if customer is not None:
        lines.append(f"customer: {customer.name} ({customer.key}, {customer.origin}) — {found.how}")
        lines.append(f"  stage {customer.stage}, tier {customer.tier}, "
                     f"account owner {customer.account_owner or '-'}, partner {customer.partner or '-'}")
    else:
        lines.append(f"customer: none — {found.how} (stage {decision.stage}, tier {decision.tier})")
    lines.append(f"language: {mail.language}; subject: {mail.subject}")
    lines.extend(_rule_lines(rules, decision))
    owner = decision.owner or "-"
    team = f" (team {decision.team})" if decision.team else ""
    lines.append(f"result: type {decision.type}, priority {decision.priority}, owner {owner}{team}")
    lines.append(f"owner reason: {decision.owner_reason}")
    if decision.tags:
        lines.append(f"tags: {', '.join(decision.tags)}")
    return lines


def _rule_lines(rules: Rules, decision: Decision) -> list[str]:
    by_name = {rule.name: rule for rule in rules.routing}
    fired = {hit.rule for hit in decision.hits}
    lines: list[str] = []
    stopped_at: int | None = None
    for hit in decision.hits:
        lines.append(f'rule "{hit.rule}" ({hit.origin}) fired:')
        lines.extend(f"    - {reason}" for reason in hit.reasons)
        rule = by_name.get(hit.rule)
        if rule is not None:
            stop = "; stop: later rules are not evaluated" if rule.actions.stop else ""
            lines.append(f"    then: {_describe(rule.actions)}{stop}")
            if rule.actions.stop:
                stopped_at = rules.routing.index(rule)
    if not decision.hits:
        lines.append("no rule fired: type, priority and owner come from the routing defaults")
    last = len(rules.routing) if stopped_at is None else stopped_at + 1
    missed = [rule.name for rule in rules.routing[:last] if rule.name not in fired]
    skipped = [rule.name for rule in rules.routing[last:]]
    if missed:
        lines.append(f"did not fire ({len(missed)}): {', '.join(missed)}")
    if skipped:
        lines.append(f"not evaluated after stop ({len(skipped)}): {', '.join(skipped)}")
    return lines


def _describe(actions: Actions) -> str:
    parts = [f"{name} {value}" for name, value in (
        ("type", actions.type), ("priority", actions.priority),
        ("owner", actions.owner), ("team", actions.team)) if value]
    if actions.tags:
        parts.append(f"tags {', '.join(actions.tags)}")
    return ", ".join(parts) or "nothing"
