"""Load and validate ``rules/`` (customers.yaml, staff.yaml, routing.yaml).

Admins edit these files by hand, often in a hurry; a typo must never turn
into silently wrong routing. So everything is checked when the files are
loaded — keys, types, allowed values, cross references, regexes — and each
problem is one line ``file:line: what is wrong``. Other ``*.yaml`` files in
the directory (sla.yaml, calendar.yaml, ...) belong to other stages and are
left alone here.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailflow.classify.model import STAGES, TIERS, Customer, Defaults, Origin, Rules, Staff, Team
from mailflow.classify.routing_rules import read_routing
from mailflow.classify.source import (
    LineDict,
    Problems,
    Where,
    check_keys,
    expect_list,
    expect_mapping,
    get_choice,
    get_text,
    get_texts,
    read_yaml,
)
from mailflow.errors import RuleError

FILES = ("staff.yaml", "customers.yaml", "routing.yaml")  # staff first: the others name staff
HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
KEY = HANDLE
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+\Z")


def load_rules(directory: Path) -> Rules:
    """The validated rules; raises RuleError with the first problem found."""
    rules, problems = _load(Path(directory))
    if problems:
        raise RuleError(problems[0])
    assert rules is not None
    return rules


def check_rules(directory: Path) -> list[str]:
    """Every problem in the rules directory, one ``file:line: reason`` each; [] when fine."""
    return _load(Path(directory))[1]


def _load(directory: Path) -> tuple[Rules | None, list[str]]:
    problems = Problems()
    if not directory.is_dir():
        return None, [f"{directory}: rules directory not found"]
    places = {name: Where(str(directory / name), problems) for name in FILES}
    staff_data = read_yaml(directory / "staff.yaml", places["staff.yaml"])
    staff, teams, support = _read_staff(places["staff.yaml"], staff_data)
    handles = {s.handle for s in staff} if staff_data is not None else None
    customer_data = read_yaml(directory / "customers.yaml", places["customers.yaml"])
    customers, who_defaults = _read_customers(places["customers.yaml"], customer_data, handles)
    routing_data = read_yaml(directory / "routing.yaml", places["routing.yaml"])
    routing, route_defaults = read_routing(
        places["routing.yaml"], routing_data, handles,
        {t.name for t in teams} if staff_data is not None else None,
        {c.key for c in customers} if customer_data is not None else None)
    defaults = Defaults(type=route_defaults.type, priority=route_defaults.priority,
                        team=route_defaults.team, owner=route_defaults.owner,
                        stage=who_defaults.stage, tier=who_defaults.tier)
    rules = Rules(customers=tuple(customers), staff=tuple(staff), teams=tuple(teams),
                  routing=routing, defaults=defaults, support_addresses=support)
    return rules, problems.lines()


# --- staff.yaml ----------------------------------------------------------------

def _read_staff(where: Where, data: object) -> tuple[list[Staff], list[Team], tuple[str, ...]]:
    if data is None:
        return [], [], ()
    top = expect_mapping(where, data, 1, "staff.yaml")
    if top is None:
        return [], [], ()
    check_keys(where, top, ("support_addresses", "staff", "teams"), ("support_addresses", "staff"))
    support = []
    for address, line in get_texts(where, top, "support_addresses"):
        if EMAIL.match(address):
            support.append(address.lower())
        else:
            where.error(line, f'support address "{address}" is not an e-mail address')
    staff: list[Staff] = []
    seen_handles: dict[str, int] = {}
    seen_emails: dict[str, str] = {}
    team_refs: list[tuple[Staff, int]] = []  # checked once every person and team is known
    manager_refs: list[tuple[Staff, int]] = []
    people = expect_list(where, top.get("staff"), top.key_line("staff"), '"staff"') \
        if "staff" in top else None
    for index, item in enumerate(people or []):
        entry = expect_mapping(where, item, people.item_line(index), f"staff entry {index + 1}")
        if entry is None:
            continue
        handle = get_text(where, entry, "handle")
        here = where.inside(f'staff "{handle}": ' if handle else "")
        check_keys(here, entry, ("handle", "name", "email", "roles", "team", "manager"),
                   ("handle", "name", "email"))
        if handle is None:
            continue
        if not HANDLE.match(handle):
            here.error(entry.key_line("handle"), "a handle is lower-case letters, digits, '.', '_' or '-'")
        if handle in seen_handles:
            here.error(entry.key_line("handle"),
                       f'duplicate handle "{handle}" (first at line {seen_handles[handle]})')
            continue
        seen_handles[handle] = entry.key_line("handle")
        email = (get_text(here, entry, "email") or "").lower()
        if email and not EMAIL.match(email):
            here.error(entry.key_line("email"), f'"{email}" is not an e-mail address')
        elif email in seen_emails:
            here.error(entry.key_line("email"), f'e-mail "{email}" already belongs to "{seen_emails[email]}"')
        if email:
            seen_emails.setdefault(email, handle)
        person = Staff(handle=handle, name=get_text(here, entry, "name") or handle, email=email,
                       roles=tuple(role for role, _ in get_texts(here, entry, "roles")),
                       team=get_text(here, entry, "team"), manager=get_text(here, entry, "manager"),
                       origin=Origin(where.file, entry.line))
        staff.append(person)
        if person.team:
            team_refs.append((person, entry.key_line("team")))
        if person.manager == handle:
            here.error(entry.key_line("manager"), "cannot be their own manager")
        elif person.manager:
            manager_refs.append((person, entry.key_line("manager")))
    for person, line in manager_refs:
        if person.manager not in seen_handles:
            where.inside(f'staff "{person.handle}": ').error(line, f'manager "{person.manager}" is not in staff')
    teams = _read_teams(where, top, seen_handles, staff)
    names = {t.name: t for t in teams}
    for person, line in team_refs:
        team = names.get(person.team)
        here = where.inside(f'staff "{person.handle}": ')
        if team is None:
            here.error(line, f'team "{person.team}" does not exist '
                             f'(teams: {", ".join(names) or "none defined"})')
        elif person.handle not in team.members:
            here.error(line, f'team "{person.team}" does not list "{person.handle}" in its members')
    return staff, teams, tuple(support)


def _read_teams(where: Where, top: LineDict, handles: dict[str, int],
                staff: list[Staff]) -> list[Team]:
    if "teams" not in top:
        return []
    items = expect_list(where, top["teams"], top.key_line("teams"), '"teams"')
    teams: list[Team] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items or []):
        entry = expect_mapping(where, item, items.item_line(index), f"team entry {index + 1}")
        if entry is None:
            continue
        name = get_text(where, entry, "name")
        here = where.inside(f'team "{name}": ' if name else "")
        check_keys(here, entry, ("name", "lead", "members"), ("name",))
        if name is None:
            continue
        if name in seen:
            here.error(entry.key_line("name"), f'duplicate team "{name}" (first at line {seen[name]})')
            continue
        seen[name] = entry.key_line("name")
        members = []
        for handle, line in get_texts(here, entry, "members"):
            if handle not in handles:
                here.error(line, f'member "{handle}" is not in staff')
            elif handle not in members:
                members.append(handle)
        if "members" not in entry:  # members default to the staff who name this team
            members = [s.handle for s in staff if s.team == name]
        lead = get_text(here, entry, "lead")
        if lead and lead not in handles:
            here.error(entry.key_line("lead"), f'lead "{lead}" is not in staff')
        if not members:
            here.error(entry.key_line("members"), "a team needs at least one member (list them in "
                       '"members", or name the team in their "team")')
        teams.append(Team(name=name, members=tuple(members), lead=lead))
    return teams


# --- customers.yaml ------------------------------------------------------------

def _read_customers(where: Where, data: object,
                    handles: set[str] | None) -> tuple[list[Customer], Defaults]:
    defaults = Defaults()
    if data is None:
        return [], defaults
    top = expect_mapping(where, data, 1, "customers.yaml")
    if top is None:
        return [], defaults
    check_keys(where, top, ("defaults", "customers"), ("customers",))
    if "defaults" in top:
        block = expect_mapping(where, top["defaults"], top.key_line("defaults"), '"defaults"')
        if block is not None:
            here = where.inside("defaults: ")
            check_keys(here, block, ("stage", "tier"))
            defaults = Defaults(stage=get_choice(here, block, "stage", STAGES) or defaults.stage,
                                tier=get_choice(here, block, "tier", TIERS) or defaults.tier)
    items = expect_list(where, top.get("customers"), top.key_line("customers"), '"customers"') \
        if "customers" in top else None
    customers: list[Customer] = []
    keys: dict[str, int] = {}
    owners: dict[str, tuple[str, int]] = {}  # domain or address -> (customer key, line)
    for index, item in enumerate(items or []):
        entry = expect_mapping(where, item, items.item_line(index), f"customer entry {index + 1}")
        if entry is None:
            continue
        key = get_text(where, entry, "key")
        here = where.inside(f'customer "{key}": ' if key else "")
        allowed = ("key", "name", "stage", "tier", "domains", "addresses", "account_owner", "partner")
        clean = check_keys(here, entry, allowed, ("key", "name", "stage", "tier"))
        if key is None:
            continue
        if not KEY.match(key):
            here.error(entry.key_line("key"), "a key is lower-case letters, digits, '.', '_' or '-'")
        if key in keys:
            here.error(entry.key_line("key"), f'duplicate customer key "{key}" (first at line {keys[key]})')
            continue
        keys[key] = entry.key_line("key")
        domains = _claim(here, owners, key, get_texts(here, entry, "domains"), DOMAIN, "domain")
        addresses = _claim(here, owners, key, get_texts(here, entry, "addresses"), EMAIL, "address")
        if clean and "domains" not in entry and "addresses" not in entry:
            here.error(entry.line, 'needs "domains" or "addresses", or no mail can ever match it')
        owner = get_text(here, entry, "account_owner")
        if owner and handles is not None and owner not in handles:
            here.error(entry.key_line("account_owner"), f'account_owner "{owner}" is not in staff')
        customers.append(Customer(
            key=key, name=get_text(here, entry, "name") or key,
            stage=get_choice(here, entry, "stage", STAGES) or defaults.stage,
            tier=get_choice(here, entry, "tier", TIERS) or defaults.tier,
            account_owner=owner, domains=tuple(domains), addresses=tuple(addresses),
            partner=get_text(here, entry, "partner"), origin=Origin(where.file, entry.line)))
    return customers, defaults


def _claim(where: Where, owners: dict[str, tuple[str, int]], key: str,
           values: list[tuple[str, int]], shape: re.Pattern[str], what: str) -> list[str]:
    """Normalise domains/addresses and make sure no two customers claim the same one."""
    kept = []
    for raw, line in values:
        value = raw.lower().lstrip("@") if what == "domain" else raw.lower()
        if not shape.match(value):
            where.error(line, f'"{raw}" is not a valid {what}')
            continue
        if value in owners and owners[value][0] != key:
            other, other_line = owners[value]
            where.error(line, f'{what} "{value}" already belongs to customer "{other}" (line {other_line})')
            continue
        owners[value] = (key, line)
        if value not in kept:
            kept.append(value)
    return kept
