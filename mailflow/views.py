"""Store rows -> the JSON of SPEC.md and plain-text tables.

Kept apart from the CLI so that the JSON contract has one definition that
tests and later a web view can share.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailflow.store.tables import Outbox, Requirement


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def requirement_json(req: Requirement, tz: ZoneInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": req.id,
        "status": req.status,
        "type": req.type,
        "priority": req.priority,
        "customer": req.customer,
        "customer_stage": req.customer_stage,
        "customer_tier": req.customer_tier,
        "partner": req.partner,
        "submitter": {"name": req.submitter_name, "email": req.submitter_email},
        "liaison": req.liaison,
        "account_owner": req.account_owner,
        "owner": req.owner,
        "team": req.team,
        "owner_reason": req.owner_reason,
        "subject": req.subject,
        "description": req.description,
        "language": req.language,
        "tags": list(req.tags or []),
        "submitted_at": _iso(req.submitted_at, tz),
        "due_at": _iso(req.due_at, tz),
        "plan": {
            "version": req.plan_version,
            "date": req.plan_date,
            "patch": req.plan_patch,
            "confirmed": bool(req.plan_confirmed),
            "confirmed_by": req.plan_confirmed_by,
        },
        "verification": req.verification,
        "satisfaction": req.satisfaction,
        "completed_at": _iso(req.completed_at, tz),
        "notes": req.notes,
    }
    data["attachments"] = [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                            "sha256": a.sha256} for a in req.attachments]
    data["messages"] = [{"message_id": m.message_id, "direction": m.direction, "from": m.from_addr,
                         "to": list(m.to_addrs or []), "subject": m.subject, "at": _iso(m.at, tz),
                         "status": m.status} for m in req.messages]
    data["events"] = [{"at": _iso(e.at, tz), "actor": e.actor, "kind": e.kind, "detail": e.detail}
                      for e in req.events]
    return data


def outbox_json(row: Outbox) -> dict[str, Any]:
    return {
        "message_id": row.message_id,
        "requirement": row.requirement_id,
        "kind": row.kind,
        "to": list(row.to_addrs or []),
        "cc": list(row.cc_addrs or []),
        "subject": row.subject,
        "template": row.template,
        "status": row.status,
        "reason": row.reason,
    }


def width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    out, used = "", 0
    for ch in text:
        w = width(ch)
        if used + w > limit - 1:
            break
        out, used = out + ch, used + w
    return out + "…"


def table(headers: list[str], rows: list[list[str]], limits: dict[int, int] | None = None) -> str:
    """A plain aligned table that stays aligned with Chinese text in it."""
    return "\n".join(table_lines(headers, lambda: rows, limits))


def table_lines(headers: list[str], rows: Callable[[], Iterable[Sequence[object]]],
                limits: dict[int, int] | None = None) -> Iterator[str]:
    """``table``'s lines, the rows read twice (once for the widths, once to print) instead of held.

    Why: a listing of a desk's history (a million mails in the outbox after a
    busy month) must not hold it. ``rows`` is a query, run twice; a row that
    arrives between the two runs is printed all the same, at worst wider than
    its column.
    """
    limits = limits or {}
    widths = [width(h) for h in headers]
    for row in rows():
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], width(clip(str(cell), limits.get(i, 40))))

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(c + " " * max(0, widths[i] - width(c)) for i, c in enumerate(row)).rstrip()

    yield fmt(headers)
    yield fmt(["-" * w for w in widths])
    for row in rows():
        yield fmt([clip(str(c), limits.get(i, 40)) for i, c in enumerate(row)])
