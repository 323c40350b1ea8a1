"""What the reply stage consumes (``ReplyContext``) and produces (``Draft``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mailflow.classify.model import Staff
from mailflow.parse.model import Address

EVENTS = (
    "received",  # a new requirement: ack (or redirect) to the client, notes to our people
    "follow_up",  # the client wrote again: their owner is told, the client hears nothing automatic
    # To the client (a service-stage client's go to its account owner to pass on):
    "need_info",  # we need something from the client: ``items``, numbered
    "progress",  # weekly update while in progress: ``message`` or a neutral default
    "plan_proposed",  # a possible plan, still under evaluation: names no version or date
    "plan_confirmed",  # the confirmed plan: ``plan_version``, ``plan_date``, ``plan_patch``
    "declined",  # cannot be done: ``message`` (reason) and ``workaround`` / ``alternatives``
    "resolved",  # ``resolution``, ``resolved_at``, ``plan_patch``, ``install_steps``
    "verification_request",  # please reply 通过 / 不通过 (pass / fail, 1 / 2)
    "satisfaction_request",  # please reply 满意 / 一般 / 不满意 (1 / 2 / 3)
    "staff_reply",  # ``message`` written by our staff (#reply), relayed as it is
    "merged",  # this request is handled together with ``merged_into``
    "service_redirect",  # the service-stage redirect alone, to the client (once per thread)
    # To our staff:
    "assigned",  # to the new owner: the requirement is theirs now (``owner_reason`` says who and why)
    "command_result",  # to ``recipient``: the commands applied (``command_lines``)
    "command_refused",  # to ``recipient`` (copy to the owner): what was refused and why
    "blocked_notice",  # to the owner (copy to ``recipient``): a mail held by the commitment guard
    "verification_failed",  # to the owner: the client's words (``description``)
    "verification_passed",  # to the owner: the client confirmed the solution
    "client_reply",  # to the owner: a client's reply that needs a person (``description``)
    "change_request",  # to the owner: the client changed the scope after a plan existed
    "sla_reminder",  # to the owner: a deadline (``deadline``, ``deadline_at``) is near
    "sla_escalation",  # to the owner, copying ``escalate_to`` (their manager): a deadline has passed
)


@dataclass(frozen=True)
class Alternative:
    """One possible solution offered to a client, with what it would take (BRIEF §2)."""

    title: str  # what would be done, in the client's language
    cost: str = ""  # e.g. "约 3 人天" / "about 3 person-days"; empty: not yet estimated
    time: str = ""  # e.g. "约 2 周" / "about 2 weeks"
    risk: str = ""  # e.g. "低:不影响现有流程" / "low: existing flows unchanged"


@dataclass(frozen=True)
class ReplyContext:
    """Facts about one requirement at the moment an event happens.

    Built by the pipeline from the record; templates see only these names,
    so admins editing a template cannot reach into the database.
    """

    event: str  # one of EVENTS
    requirement_id: str  # "REQ-202611-001"
    subject: str  # the client's subject, without our tag
    description: str  # the client's own words, verbatim
    language: str  # "zh" | "en": the client's language
    stage: str  # presales | implementation | service
    tier: str
    customer: str | None
    partner: str | None
    type: str
    priority: str
    submitter: Address
    owner: Staff | None
    account_owner: Staff | None
    liaison: Staff | None  # set when our own staff wrote in on a client's behalf
    answer_by: datetime | None  # local time by which the first real answer is due
    answer_within_days: int  # working days, stated in the acknowledgement
    attachments: tuple[str, ...]  # file names received
    # Added by the reply stage (defaults keep older callers working):
    owner_reason: str = ""  # why this owner was chosen, told to the owner
    mail_text: str = ""  # the whole mail text, signature included: where a phone number usually is
    # Added for the events after receipt (all optional; ``missing_facts`` says which an event needs):
    plan_version: str | None = None  # "v2.3": the planned version, proposed or confirmed
    plan_date: date | None = None  # the planned delivery date
    plan_patch: str | None = None  # "KB-1024": the patch number, when known
    plan_confirmed: bool = False  # True only once the plan is confirmed (version, date, who)
    message: str = ""  # free text from staff: a #reply body, the progress note, the decline reason,
    #                    the proposed way of implementing (plan_proposed), a note on need_info / refusals
    workaround: str = ""  # declined: what the client can do instead
    items: tuple[str, ...] = ()  # need_info: what we ask the client for, listed 1, 2, 3
    alternatives: tuple[Alternative, ...] = ()  # declined / plan_proposed: options with cost, time, risk
    resolution: str = ""  # resolved: how it was solved
    resolved_at: datetime | None = None  # resolved: when it was solved
    install_steps: tuple[str, ...] = ()  # resolved: how to download and install the patch, in order
    command_lines: tuple[str, ...] = ()  # command_result / command_refused: one line per command
    blocked_reason: str = ""  # blocked_notice: why the guard held the mail (names the phrase)
    blocked_text: str = ""  # blocked_notice: the text that was held
    recipient: Staff | None = None  # the staff member a command result is for; on staff-written
    #                                 text (staff_reply, declined …) its author, told if it is held
    merged_into: str | None = None  # merged: the requirement this one now continues in
    deadline: str = ""  # sla_reminder / sla_escalation: which clock (first_response | feedback | plan)
    deadline_at: datetime | None = None  # … and when it is (was) due, local time
    escalate_to: tuple[Staff, ...] = ()
    due_at: datetime | None = None  # local time of the requirement's next SLA deadline (internal mail only)  # sla_escalation: who else is told (the owner's manager)


@dataclass(frozen=True)
class Draft:
    """One mail to queue. The subject carries no tag: the composer adds it."""

    kind: str  # "external" (to a client) | "internal" (to our staff)
    template: str  # e.g. "zh/ack_presales"
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    language: str
