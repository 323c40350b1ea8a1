"""Whether a rendered mail may be queued, or must be held.

The last stop before the outbox, so every rule that keeps us from saying
the wrong thing to the wrong person lives here, in the order a person would
check it: is it going to the right kind of person, would it make two robots
talk to each other (RFC 3834), and does it promise what nobody has confirmed.
Pure: counts and rules are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailflow.reply.engine import CLIENT_FACING
from mailflow.reply.guard import CommitmentRules, Plan, check_draft
from mailflow.reply.model import Draft


def hold_reason(
    draft: Draft,
    *,
    plan: Plan,
    commitment: CommitmentRules,
    staff_emails: frozenset[str],
    own_addresses: frozenset[str],
    recent_auto_replies: Mapping[str, int],
    max_auto_replies_per_hour: int,
    client_words: tuple[str, ...] = (),
) -> str | None:
    """None when the draft may go; otherwise the one-line reason it is held.

    ``client_words`` are the client's own subject and text: quoting them back
    is not a promise of ours, even when they wrote "你们保证过…".
    """
    recipients = [a.lower() for a in (*draft.to, *draft.cc)]
    if draft.kind == "internal":
        outsiders = [a for a in recipients if a not in staff_emails]
        if outsiders:
            return f"internal notice addressed outside our staff: {', '.join(outsiders)}"
    else:
        own = [a for a in recipients if a in own_addresses]
        if own:
            return f"addressed to our own address {', '.join(own)}: would loop"
        for address in recipients:
            sent = recent_auto_replies.get(address, 0)
            if sent >= max_auto_replies_per_hour:
                return (f"flood protection: {sent} automatic replies to {address} in the last hour "
                        f"(limit {max_auto_replies_per_hour})")
    return guard_reason(draft, plan=plan, commitment=commitment, client_words=client_words)


def guard_reason(draft: Draft, *, plan: Plan, commitment: CommitmentRules,
                 client_words: tuple[str, ...] = ()) -> str | None:
    """The commitment guard alone: None, or why the draft promises what ``plan`` does not allow.

    Words for a client are guarded even when our staff pass them on (service stage).
    """
    if draft.kind == "external" or draft.template.rpartition("/")[2] in CLIENT_FACING:
        verdict = check_draft(draft.subject, draft.text, draft.html, plan, commitment, client_words=client_words)
        if not verdict.allowed:
            return f"commitment guard: {verdict.reason}"
    return None
