"""The SLA policy admins edit (``rules/sla.yaml``): which clocks run, and how long each is.

BRIEF §4 is the default, so a desk without the file still keeps the brief's
promises: high priority gets a first response within 24 h and a handling
plan within 48 h; medium and low get feedback within 3 working days; a
requirement in progress gets news at least weekly. Strategic customers may
be given tighter clocks per priority. Durations are read by
``sla.calendar.parse_duration`` ("24h", "3 working days", "7 days"), so
the file says in words whether holidays stop a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailflow.classify.model import PRIORITIES, TIERS
from mailflow.classify.source import LineDict, Problems, Where, check_keys, expect_mapping, kind, read_mapping
from mailflow.errors import RuleError
from mailflow.sla.calendar import Duration, parse_duration

SLA_FILE = "sla.yaml"
# What each clock waits for; ``sla.clock`` says which record events meet it.
CLOCKS = ("first_response", "feedback", "plan")
KEYS = ("clocks", "tiers", "progress_every", "remind_at")


@dataclass(frozen=True)
class SlaPolicy:
    """Clocks per priority, tighter ones per tier, the progress rhythm and when to remind."""

    clocks: Mapping[str, Mapping[str, Duration]]  # priority -> clock name -> duration
    tiers: Mapping[str, Mapping[str, Mapping[str, Duration]]] = field(default_factory=dict)  # tier -> priority -> …
    progress_every: Duration = Duration(7, "days")
    remind_at: float = 0.75  # the owner is reminded when this share of a clock has run
    source: str = "<defaults>"

    def clocks_for(self, priority: str, tier: str) -> dict[str, Duration]:
        """The clocks of one requirement: the priority's, with its tier's overrides on top."""
        base = dict(self.clocks.get(priority, self.clocks.get("medium", {})))
        base.update(self.tiers.get(tier, {}).get(priority, {}))
        return base


DEFAULT = SlaPolicy(clocks={
    "high": {"first_response": Duration(24, "hours"), "plan": Duration(48, "hours")},
    "medium": {"feedback": Duration(3, "working_days")},
    "low": {"feedback": Duration(3, "working_days")},
})


def load_sla(path: Path) -> SlaPolicy:
    """The policy in ``path``, or the brief's defaults when there is no such file.

    Raises RuleError (``file:line: reason``) with the first problem.
    """
    policy, problems = _load(Path(path))
    if problems:
        raise RuleError(problems[0])
    return policy


def check_sla(path: Path) -> list[str]:
    """Every problem in the file, one ``file:line: reason`` each; [] when fine or absent."""
    return _load(Path(path))[1]


def _load(path: Path) -> tuple[SlaPolicy, list[str]]:
    if not path.is_file():
        return DEFAULT, []
    problems = Problems()
    where = Where(str(path), problems)
    top = read_mapping(path, where)
    if top is None:
        return DEFAULT, problems.lines()
    check_keys(where, top, KEYS)
    clocks = DEFAULT.clocks
    if "clocks" in top:
        clocks = _per_priority(where, top["clocks"], top.key_line("clocks"), "clocks", complete=True)
    tiers: dict[str, dict[str, dict[str, Duration]]] = {}
    raw_tiers = top.get("tiers")
    if raw_tiers is not None:
        mapping = expect_mapping(where, raw_tiers, top.key_line("tiers"), '"tiers"')
        for tier, value in (mapping or {}).items():
            if tier not in TIERS:
                where.error(mapping.key_line(tier), f'unknown tier "{tier}" (expected one of {", ".join(TIERS)})')
                continue
            tiers[tier] = _per_priority(where, value, mapping.key_line(tier), f'tier "{tier}"', complete=False)
    progress = DEFAULT.progress_every
    if "progress_every" in top:
        progress = _duration(where, top["progress_every"], top.key_line("progress_every"), '"progress_every"') \
            or progress
    remind_at = _share(where, top.get("remind_at", DEFAULT.remind_at), top.key_line("remind_at"))
    return SlaPolicy(clocks=clocks, tiers=tiers, progress_every=progress, remind_at=remind_at,
                     source=str(path)), problems.lines()


def _per_priority(where: Where, value: object, line: int, what: str,
                  complete: bool) -> dict[str, dict[str, Duration]]:
    mapping = expect_mapping(where, value, line, what)
    if mapping is None:
        return {}
    if complete:
        for priority in PRIORITIES:
            if priority not in mapping:
                where.error(line, f'{what}: missing priority "{priority}" (every priority needs its clocks)')
    result: dict[str, dict[str, Duration]] = {}
    for priority, clocks in mapping.items():
        if priority not in PRIORITIES:
            where.error(mapping.key_line(priority),
                        f'{what}: unknown priority "{priority}" (expected one of {", ".join(PRIORITIES)})')
            continue
        named = expect_mapping(where, clocks, mapping.key_line(priority), f'{what}: "{priority}"')
        if named is None:
            continue
        result[priority] = _clocks(where, named, f'{what}: "{priority}"', need_one=complete)
    return result


def _clocks(where: Where, named: LineDict, what: str, need_one: bool) -> dict[str, Duration]:
    found: dict[str, Duration] = {}
    for name, value in named.items():
        if name not in CLOCKS:
            where.error(named.key_line(name), f'{what}: unknown clock "{name}" (expected one of {", ".join(CLOCKS)})')
            continue
        duration = _duration(where, value, named.key_line(name), f'{what}: "{name}"')
        if duration is not None:
            found[name] = duration
    if need_one and not named:
        where.error(named.line, f"{what}: no clock (a requirement must have at least one deadline)")
    return found


def _duration(where: Where, value: object, line: int, what: str) -> Duration | None:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        where.error(line, f'{what} must be a duration such as "24h" or "3 working days", got {kind(value)}')
        return None
    try:
        return parse_duration(value)
    except ValueError as err:
        where.error(line, f"{what}: {err}")
        return None


def _share(where: Where, value: object, line: int) -> float:
    """``75%`` or ``0.75``: how much of a clock has run when the owner is reminded."""
    text = str(value).strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        share = -1.0
    if isinstance(value, bool) or not 0 < share < 1:
        where.error(line, f'"remind_at" must be a share of the clock between 0 and 1, like 75% or 0.75, got {text!r}')
        return DEFAULT.remind_at
    return share
