"""routing.yaml: the ordered rules that set type, priority and owner.

Conditions are written the way an admin thinks ("subject contains 报错"), so
the YAML accepts a few short forms; they are all turned into ``Condition``
values here, once, with regexes compiled, so matching a mail is cheap and can
no longer fail.
"""

from __future__ import annotations

import re

from mailflow.classify.model import PRIORITIES, STAGES, TIERS, TYPES, Actions, Condition, Defaults, Origin, Rule
from mailflow.classify.source import (
    LineDict,
    LineList,
    Where,
    check_keys,
    expect_list,
    expect_mapping,
    get_bool,
    get_choice,
    get_text,
    get_texts,
    kind,
)

FIELDS = ("sender", "domain", "customer", "stage", "tier", "subject", "body", "text",
          "header:<Name>", "attachment_type", "language")
OPERATORS = ("equals", "in", "contains", "regex")
LANGUAGES = ("zh", "en")
RULE_KEYS = ("name", "description", "when", "when_any", "then")
THEN_KEYS = ("type", "priority", "owner", "team", "tags", "stop")


def read_routing(where: Where, data: object, handles: set[str] | None, teams: set[str] | None,
                 customers: set[str] | None) -> tuple[tuple[Rule, ...], Defaults]:
    """Rules in file order, and the routing defaults (type, priority, team, owner)."""
    defaults = Defaults()
    if data is None:
        return (), defaults
    top = expect_mapping(where, data, 1, "routing.yaml")
    if top is None:
        return (), defaults
    check_keys(where, top, ("defaults", "rules"), ("defaults", "rules"))
    refs = _Refs(handles, teams, customers)
    if isinstance(top.get("defaults"), LineDict):
        defaults = _read_defaults(where.inside("defaults: "), top["defaults"], refs)
    elif "defaults" in top and top["defaults"] is not None:
        expect_mapping(where, top["defaults"], top.key_line("defaults"), '"defaults"')
    items = expect_list(where, top["rules"], top.key_line("rules"), '"rules"') \
        if top.get("rules") is not None else None
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items or []):
        entry = expect_mapping(where, item, items.item_line(index), f"rule {index + 1}")
        if entry is None:
            continue
        name = get_text(where, entry, "name")
        here = where.inside(f'rule "{name}": ' if name else f"rule {index + 1}: ")
        check_keys(here, entry, RULE_KEYS, ("name", "then"))
        if name in seen:
            here.error(entry.key_line("name"), f'duplicate rule name (first at line {seen[name]})')
        elif name:
            seen[name] = entry.key_line("name")
        if "when" not in entry and "when_any" not in entry:
            here.error(entry.line, 'needs "when" (all must hold) or "when_any" (one must hold)')
        get_text(here, entry, "description")
        rules.append(Rule(
            name=name or f"rule {index + 1}",
            conditions_all=_read_conditions(here, entry, "when", refs),
            conditions_any=_read_conditions(here, entry, "when_any", refs),
            actions=_read_actions(here, entry, refs),
            origin=Origin(where.file, entry.line)))
    return tuple(rules), defaults


class _Refs:
    """Names other files define; None when that file could not be read (then nothing is checked)."""

    def __init__(self, handles: set[str] | None, teams: set[str] | None,
                 customers: set[str] | None) -> None:
        self.handles, self.teams, self.customers = handles, teams, customers

    def check(self, where: Where, line: int, what: str, value: str) -> None:
        known = {"owner": self.handles, "team": self.teams, "customer": self.customers}[what]
        if known is not None and value not in known:
            problem = "is not in staff" if what == "owner" else "does not exist"
            where.error(line, f'{what} "{value}" {problem} (known: {", ".join(sorted(known)) or "none"})')


def _read_defaults(where: Where, block: LineDict, refs: _Refs) -> Defaults:
    check_keys(where, block, ("type", "priority", "team", "owner"))
    team, owner = get_text(where, block, "team"), get_text(where, block, "owner")
    for what, value in (("team", team), ("owner", owner)):
        if value:
            refs.check(where, block.key_line(what), what, value)
    if not team and not owner:
        where.error(block.line, 'needs "team" or "owner", so every requirement gets an owner')
    return Defaults(type=get_choice(where, block, "type", TYPES) or "other",
                    priority=get_choice(where, block, "priority", PRIORITIES) or "medium",
                    team=team, owner=owner)


def _read_actions(where: Where, entry: LineDict, refs: _Refs) -> Actions:
    block = entry.get("then")
    if block is None:
        return Actions()
    block = expect_mapping(where, block, entry.key_line("then"), '"then"')
    if block is None:
        return Actions()
    check_keys(where, block, THEN_KEYS)
    if not block:
        where.error(block.line, '"then" sets nothing (expected some of ' + ", ".join(THEN_KEYS) + ")")
    owner, team = get_text(where, block, "owner"), get_text(where, block, "team")
    for what, value in (("owner", owner), ("team", team)):
        if value:
            refs.check(where, block.key_line(what), what, value)
    return Actions(type=get_choice(where, block, "type", TYPES),
                   priority=get_choice(where, block, "priority", PRIORITIES),
                   owner=owner, team=team,
                   tags=tuple(tag for tag, _ in get_texts(where, block, "tags")),
                   stop=get_bool(where, block, "stop") if "stop" in block else False)


def _read_conditions(where: Where, entry: LineDict, key: str, refs: _Refs) -> tuple[Condition, ...]:
    if key not in entry:
        return ()
    block = expect_mapping(where, entry[key], entry.key_line(key), f'"{key}"')
    if block is None:
        return ()
    if not block:
        where.error(entry.key_line(key), f'"{key}" has no conditions')
    conditions = []
    for field, spec in block.items():
        line = block.key_line(field)
        if not isinstance(field, str) or not _known_field(field):
            where.error(line, f'unknown condition field "{field}" (expected one of {", ".join(FIELDS)})')
            continue
        if field.startswith("header:"):
            field = "header:" + field[len("header:"):].strip()
        conditions.extend(_read_condition(where, field, spec, line, refs))
    return tuple(conditions)


def _known_field(field: str) -> bool:
    return field in FIELDS and field != "header:<Name>" or (
        field.startswith("header:") and bool(field[len("header:"):].strip()))


def _read_condition(where: Where, field: str, spec: object, line: int, refs: _Refs) -> list[Condition]:
    """``stage: service`` (equals), ``stage: [a, b]`` (in), or ``{operator: value, ...}``."""
    if isinstance(spec, LineList):
        spec_items = [("in", spec, line)]
    elif isinstance(spec, LineDict):
        spec_items = [(op, value, spec.key_line(op)) for op, value in spec.items()]
        if not spec_items:
            where.error(line, f'{field}: no operator given (expected one of {", ".join(OPERATORS)})')
    else:
        spec_items = [("equals", spec, line)]
    conditions = []
    for op, value, op_line in spec_items:
        if op not in OPERATORS:
            where.error(op_line, f'{field}: unknown operator "{op}" (expected one of {", ".join(OPERATORS)})')
            continue
        values = _values(where, field, op, value, op_line)
        if not values:
            continue
        if op in ("equals", "in"):
            _check_values(where, field, values, op_line, refs)
        patterns = []
        if op == "regex":
            for pattern in values:
                try:
                    patterns.append(re.compile(pattern, re.IGNORECASE))
                except re.error as exc:
                    where.error(op_line, f'{field}: bad regex "{pattern}": {exc}')
        if op != "regex" or len(patterns) == len(values):
            conditions.append(Condition(field=field, op=op, values=values, patterns=tuple(patterns)))
    return conditions


def _values(where: Where, field: str, op: str, value: object, line: int) -> tuple[str, ...]:
    """The operator's values as texts (numbers become texts: ``contains: 500``)."""
    items = list(value) if isinstance(value, list) else [value]
    if op == "equals" and isinstance(value, list):
        where.error(line, f'{field}: "equals" takes one value; use "in" for a list')
        return ()
    texts = []
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            where.error(line, f'{field}: "{op}" needs texts, got {kind(item)}')
            return ()
        texts.append(item.strip())
    if not texts:
        where.error(line, f'{field}: "{op}" needs at least one value')
    return tuple(texts)


def _check_values(where: Where, field: str, values: tuple[str, ...], line: int, refs: _Refs) -> None:
    choices = {"stage": STAGES, "tier": TIERS, "language": LANGUAGES}.get(field)
    for value in values:
        if choices and value.lower() not in choices:
            where.error(line, f'unknown {field} "{value}" (expected one of {", ".join(choices)})')
        elif field == "customer":
            refs.check(where, line, "customer", value.lower())
