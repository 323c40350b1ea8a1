"""Classify one new mail: who the customer is, which rules fire, who owns it.

Pure: the open-requirement counts (``workload``) are passed in, so the same
mail and the same numbers always give the same Decision — which is what
``rules explain`` relies on to show an admin what the pipeline would do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mailflow.classify.model import Condition, Customer, Decision, Rule, RuleHit, Rules, Staff
from mailflow.parse.model import ParsedMail

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class CustomerMatch:
    """The customer a mail belongs to, and how we know (shown by ``rules explain``)."""

    customer: Customer | None
    how: str
    sender_staff: Staff | None


def customer_for_address(email: str, rules: Rules) -> tuple[Customer, str] | None:
    """Exact address first, then the domain or the nearest parent domain."""
    email = email.lower()
    customer = rules.customer_by_address(email)
    if customer is not None:
        return customer, f"address {email}"
    domain = email.rpartition("@")[2]
    parts = domain.split(".")
    for start in range(len(parts) - 1):  # mail.huaxin.example, then huaxin.example
        candidate = ".".join(parts[start:])
        customer = rules.customer_by_domain(candidate)
        if customer is not None:
            if start == 0:
                return customer, f"domain {candidate}"
            return customer, f"{domain} is a subdomain of {candidate}"
    return None


def match_customer(mail: ParsedMail, rules: Rules) -> CustomerMatch:
    """Whose request this is; for staff forwarding a client's mail, the client's."""
    staff = rules.staff_by_email(mail.sender.email)
    if staff is None:
        found = customer_for_address(mail.sender.email, rules)
        if found:
            return CustomerMatch(found[0], f"sender {found[1]}", None)
        return CustomerMatch(None, "no customer matches the sender; defaults apply", None)
    ours = {s.email for s in rules.staff} | set(rules.support_addresses)
    for email in ADDRESS.findall(mail.text):
        found = None if email.lower() in ours else customer_for_address(email, rules)
        if found:
            return CustomerMatch(found[0], f"staff {staff.handle} forwarded mail from "
                                           f"{email.lower()} ({found[1]})", staff)
    for kind, addresses in (("To", mail.to), ("Cc", mail.cc)):
        for address in addresses:
            found = customer_for_address(address.email, rules)
            if found and address.email not in ours:
                return CustomerMatch(found[0], f"staff {staff.handle} wrote with {kind} "
                                               f"{address.email} ({found[1]})", staff)
    return CustomerMatch(None, f"staff {staff.handle} wrote, but no customer address was found "
                               "in the text, To or Cc; defaults apply", staff)


def classify(mail: ParsedMail, rules: Rules, workload: Mapping[str, int]) -> Decision:
    """Run the routing rules in order over one mail; later rules override earlier ones."""
    found = match_customer(mail, rules)
    customer = found.customer
    facts = _Facts(mail, customer, rules, staff_wrote=found.sender_staff is not None)
    type_, priority = rules.defaults.type, rules.defaults.priority
    assigned: Rule | None = None
    tags: list[str] = []
    hits: list[RuleHit] = []
    for rule in rules.routing:
        reasons = fires(rule, facts)
        if reasons is None:
            continue
        hits.append(RuleHit(rule=rule.name, origin=rule.origin, reasons=tuple(reasons)))
        actions = rule.actions
        type_ = actions.type or type_
        priority = actions.priority or priority
        if actions.owner or actions.team:
            assigned = rule
        tags.extend(tag for tag in actions.tags if tag not in tags)
        if actions.stop:
            break
    owner, team, reason = _assign(assigned, rules, workload)
    return Decision(
        customer=customer.name if customer else None,
        customer_key=customer.key if customer else None,
        stage=customer.stage if customer else rules.defaults.stage,
        tier=customer.tier if customer else rules.defaults.tier,
        account_owner=customer.account_owner if customer else None,
        partner=customer.partner if customer else None,
        type=type_, priority=priority, owner=owner, team=team, owner_reason=reason,
        tags=tuple(tags), hits=tuple(hits),
        sender_staff=found.sender_staff.handle if found.sender_staff else None)


class _Facts:
    """The values conditions look at, as (text, label) candidates per field.

    Each field's candidates are worked out (and case-folded) once per mail:
    every rule of the file asks again, and a long body folded once per
    condition was most of classifying.
    """

    def __init__(self, mail: ParsedMail, customer: Customer | None, rules: Rules,
                 staff_wrote: bool) -> None:
        self.mail, self.customer = mail, customer
        self.stage = customer.stage if customer else rules.defaults.stage
        self.tier = customer.tier if customer else rules.defaults.tier
        # A staff forward carries the client's words in the forwarded part, not in reply_text.
        self.body = mail.text if staff_wrote or not mail.reply_text.strip() else mail.reply_text
        self._folded: dict[str, list[tuple[str, str, str | None]]] = {}

    def folded(self, field: str) -> list[tuple[str, str, str | None]]:
        """(value, value case-folded, label) for each candidate of ``field``."""
        found = self._folded.get(field)
        if found is None:
            found = self._folded[field] = [(value, value.casefold(), label) for value, label in self.values(field)]
        return found

    def values(self, field: str) -> list[tuple[str, str | None]]:
        mail = self.mail
        if field.startswith("header:"):
            name = field[len("header:"):].lower()
            return [(value, None) for key, value in mail.headers if key.lower() == name]
        if field == "attachment_type":
            found = []
            for attachment in mail.attachments:
                found.append((attachment.content_type, attachment.filename))
                ext = attachment.filename.rpartition(".")[2] if "." in attachment.filename else ""
                if ext:
                    found.extend([(ext, attachment.filename), ("." + ext, attachment.filename)])
            return found
        value = {
            "sender": mail.sender.email,
            "domain": mail.sender.email.rpartition("@")[2],
            "customer": self.customer.key if self.customer else "",
            "stage": self.stage,
            "tier": self.tier,
            "subject": mail.subject,
            "body": self.body,
            "text": f"{mail.subject}\n{self.body}",
            "language": mail.language,
        }[field]
        return [(value, None)] if value else []


def fires(rule: Rule, facts: _Facts) -> list[str] | None:
    """One reason per condition that held, or None when the rule does not fire."""
    reasons = []
    for condition in rule.conditions_all:
        reason = _holds(condition, facts)
        if reason is None:
            return None
        reasons.append(reason)
    if rule.conditions_any:
        held = [r for r in (_holds(c, facts) for c in rule.conditions_any) if r is not None]
        if not held:
            return None
        reasons.extend(held)
    return reasons


def _holds(condition: Condition, facts: _Facts) -> str | None:
    """Why the condition holds (e.g. ``subject contains "报错"``), or None."""
    field, op = condition.field, condition.op
    for value, folded, label in facts.folded(field):
        suffix = f" ({label})" if label else ""
        if op == "regex":
            for pattern in condition.patterns:
                hit = pattern.search(value)
                if hit:
                    return f'{field} matches regex "{pattern.pattern}" ("{_clip(hit.group(0))}"){suffix}'
            continue
        for wanted, wanted_folded in zip(condition.values, condition.folded):
            if op == "contains" and wanted_folded in folded:
                return f'{field} contains "{wanted}"{suffix}'
            if op in ("equals", "in") and wanted_folded == folded:
                if op == "equals":
                    return f'{field} equals "{wanted}"{suffix}'
                return f'{field} in [{", ".join(condition.values)}] ("{value}"){suffix}'
    return None


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _assign(rule: Rule | None, rules: Rules, workload: Mapping[str, int]) -> tuple[str | None, str | None, str]:
    """Exactly one owner: the rule's owner, else its team's least-loaded member; then defaults."""
    sources = []
    if rule is not None:
        sources.append((rule.actions.owner, rule.actions.team, f'rule "{rule.name}" ({rule.origin})'))
    sources.append((rules.defaults.owner, rules.defaults.team, "the routing defaults"))
    for owner, team_name, why in sources:
        person = rules.staff_by_handle(owner) if owner else None
        if person is not None:
            return person.handle, team_name or person.team, f"{why} names owner {person.handle}"
        team = rules.team(team_name) if team_name else None
        if team is not None and team.members:
            loads = [(workload.get(handle, 0), index, handle) for index, handle in enumerate(team.members)]
            count, _, handle = min(loads)
            tied = [h for c, _, h in loads if c == count and h != handle]
            tie = f", tied with {', '.join(tied)}: first in the team list" if tied else ""
            return handle, team.name, (f"team {team.name}: {handle} has the fewest open "
                                       f"requirements ({count}{tie}); team set by {why}")
        if team is not None and team.lead:
            return team.lead, team.name, f"team {team.name} has no members; its lead {team.lead} (team set by {why})"
    if rules.staff:
        first = rules.staff[0]
        return first.handle, first.team, f"no rule or default names a usable owner; first in staff: {first.handle}"
    return None, None, "no staff defined"
