"""What every mail needs, loaded once per process: config, rules, templates, store.

Loading validates everything up front (rules, commitment phrases,
calendar, SLA clocks, templates), so a broken file stops the start, not the hundredth mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from mailflow.classify import load_rules
from mailflow.classify.model import Rules
from mailflow.config import Config
from mailflow.parse.model import Address
from mailflow.record.directory import sync_directory
from mailflow.reply import Templates
from mailflow.reply.guard import COMMITMENT_FILE, CommitmentRules, load_commitment
from mailflow.sla.calendar import WorkCalendar
from mailflow.sla.calendar_file import CALENDAR_FILE, load_calendar
from mailflow.sla.policy import DEFAULT as DEFAULT_SLA
from mailflow.sla.policy import SLA_FILE, SlaPolicy, load_sla
from mailflow.store.session import Store


@dataclass
class Runtime:
    """What every mail needs, loaded once per process (never per mail)."""

    config: Config
    rules: Rules
    templates: Templates
    commitment: CommitmentRules
    store: Store
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    calendar: WorkCalendar = field(default_factory=WorkCalendar)  # working time: rules/calendar.yaml
    sla: SlaPolicy = DEFAULT_SLA  # the clocks: rules/sla.yaml

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.general.timezone)

    @property
    def sender(self) -> Address:
        smtp = self.config.smtp
        return Address(smtp.from_name, smtp.from_address.lower())


def load_runtime(config: Config, store: Store, clock: Callable[[], datetime] | None = None) -> Runtime:
    rules_dir = config.path(config.paths.rules)
    rules = load_rules(rules_dir)
    commitment = load_commitment(rules_dir / COMMITMENT_FILE)
    calendar = load_calendar(rules_dir / CALENDAR_FILE, ZoneInfo(config.general.timezone))
    sla = load_sla(rules_dir / SLA_FILE)
    templates = Templates(config.path(config.paths.templates))
    with store.session() as session:
        sync_directory(session, rules)
    runtime = Runtime(config=config, rules=rules, templates=templates, commitment=commitment, store=store,
                      calendar=calendar, sla=sla)
    if clock is not None:
        runtime.clock = clock
    return runtime


