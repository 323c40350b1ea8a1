"""Rule data (loaded from YAML) and the classify stage's result, ``Decision``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

STAGES = ("presales", "implementation", "service")
TIERS = ("strategic", "core", "standard")
TYPES = ("improvement", "bug", "feature", "service", "other")
PRIORITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Origin:
    """Where a rule item was written, so every message can say file:line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Customer:
    key: str  # stable slug, e.g. "huaxin"
    name: str  # display name, e.g. "华信制造"
    stage: str  # one of STAGES
    tier: str  # one of TIERS
    account_owner: str | None  # staff handle of our internal owner of this customer
    domains: tuple[str, ...]  # lower-case sender domains
    addresses: tuple[str, ...]  # lower-case exact addresses (win over domains)
    partner: str | None  # partner / agent name, when sold through one
    origin: Origin


@dataclass(frozen=True)
class Staff:
    handle: str  # e.g. "li.wei"
    name: str
    email: str  # lower-case
    roles: tuple[str, ...]  # e.g. ("lead", "planner", "developer", "service")
    team: str | None
    manager: str | None  # handle of the person escalations go to
    origin: Origin


@dataclass(frozen=True)
class Team:
    name: str
    members: tuple[str, ...]  # staff handles
    lead: str | None


@dataclass(frozen=True)
class Condition:
    """One test of a routing rule; ``describe`` is shown by ``rules explain``."""

    field: str  # sender | domain | customer | stage | tier | subject | body | text | header:NAME | attachment_type | language
    op: str  # equals | in | contains | regex
    values: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False)
    folded: tuple[str, ...] = field(init=False, repr=False, compare=False)  # ``values`` case-folded, once

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", tuple(value.casefold() for value in self.values))

    def describe(self) -> str:
        return f"{self.field} {self.op} {list(self.values)}"


@dataclass(frozen=True)
class Actions:
    type: str | None = None
    priority: str | None = None
    owner: str | None = None  # staff handle
    team: str | None = None  # team name: the member with the fewest open requirements gets it
    tags: tuple[str, ...] = ()
    stop: bool = False


@dataclass(frozen=True)
class Rule:
    name: str
    conditions_all: tuple[Condition, ...]  # every one must hold
    conditions_any: tuple[Condition, ...]  # at least one must hold (when any are given)
    actions: Actions
    origin: Origin


@dataclass(frozen=True)
class Defaults:
    type: str = "other"
    priority: str = "medium"
    team: str | None = None
    owner: str | None = None
    stage: str = "presales"  # stage of an unknown sender
    tier: str = "standard"


@dataclass(frozen=True)
class Rules:
    """All admin-edited rules, validated. Built once per process, reused per mail."""

    customers: tuple[Customer, ...]
    staff: tuple[Staff, ...]
    teams: tuple[Team, ...]
    routing: tuple[Rule, ...]
    defaults: Defaults
    support_addresses: tuple[str, ...]  # our own addresses: never reply to them

    def staff_by_handle(self, handle: str) -> Staff | None:
        return self._staff_index[0].get(handle)

    def staff_by_email(self, email: str) -> Staff | None:
        return self._staff_index[1].get(email.lower())

    def customer_by_address(self, email: str) -> Customer | None:
        """The customer that names this exact (lower-case) address."""
        return self._customer_index[0].get(email)

    def customer_by_domain(self, domain: str) -> Customer | None:
        """The customer that names this exact (lower-case) domain; parent domains are the caller's."""
        return self._customer_index[1].get(domain)

    # Indexes, built on first use. Why: every mail asks for its sender's customer, and going through
    # the list cost a loop over every customer per domain level: with 10,000 customers, more than all
    # the rest of recording a mail. In file order, the first claim wins, as the loops did (the loader
    # refuses two claims of one domain or address anyway).
    @cached_property
    def _customer_index(self) -> tuple[dict[str, Customer], dict[str, Customer]]:
        by_address: dict[str, Customer] = {}
        by_domain: dict[str, Customer] = {}
        for customer in self.customers:
            for address in customer.addresses:
                by_address.setdefault(address, customer)
            for domain in customer.domains:
                by_domain.setdefault(domain, customer)
        return by_address, by_domain

    @cached_property
    def _staff_index(self) -> tuple[dict[str, Staff], dict[str, Staff]]:
        by_handle: dict[str, Staff] = {}
        by_email: dict[str, Staff] = {}
        for person in self.staff:
            by_handle.setdefault(person.handle, person)
            by_email.setdefault(person.email, person)
        return by_handle, by_email

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, and why: what ``rules explain`` prints."""

    rule: str
    origin: Origin
    reasons: tuple[str, ...]  # one line per condition that held


@dataclass(frozen=True)
class Decision:
    """How one new requirement is classified and routed."""

    customer: str | None  # customer display name; None for an unknown sender
    customer_key: str | None
    stage: str
    tier: str
    account_owner: str | None  # staff handle
    partner: str | None
    type: str
    priority: str
    owner: str | None  # staff handle: exactly one owner when any staff exists
    team: str | None
    owner_reason: str  # logged: why this owner
    tags: tuple[str, ...]
    hits: tuple[RuleHit, ...]
    sender_staff: str | None  # handle when the mail came from our own staff (they become liaison)
