"""The requirement's status machine (BRIEF §3): which moves are allowed.

receive -> evaluate -> assign -> execute -> verify -> archive. Work is
``done`` only when the client has verified it (``pending_verification`` ->
``done``), so nothing is marked finished on our word alone; a lead may
override any move, and the override is logged as one. Pure: the caller
records the event.
"""

from __future__ import annotations

STATUSES = ("new", "in_progress", "pending_verification", "done", "closed", "cancelled")
OPEN = ("new", "in_progress", "pending_verification")

# from -> the statuses anyone allowed to change this requirement may move it to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"in_progress", "pending_verification", "cancelled", "closed"}),
    "in_progress": frozenset({"new", "pending_verification", "cancelled", "closed"}),
    "pending_verification": frozenset({"in_progress", "done"}),
    "done": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"in_progress"}),  # reopened
    "cancelled": frozenset({"new"}),  # taken up again
}
# Moves that belong to one way of making them (``via``), and how a person asks for it.
VIA: dict[tuple[str, str], tuple[str, str]] = {
    ("pending_verification", "done"): ("client", "the client's verification (通过 / pass)"),
    ("new", "closed"): ("decline", "#decline (with the reason and a workaround for the client)"),
    ("in_progress", "closed"): ("decline", "#decline (with the reason and a workaround for the client)"),
    ("new", "pending_verification"): ("done", "#done (with how it was solved)"),
    ("in_progress", "pending_verification"): ("done", "#done (with how it was solved)"),
}

LABELS = {"new": "待处理", "in_progress": "处理中", "pending_verification": "待验证", "done": "已完成",
          "closed": "已关闭", "cancelled": "已取消"}


def move_problem(current: str, target: str, *, lead: bool, via: str = "status") -> str | None:
    """None when ``current`` -> ``target`` is allowed when made by ``via`` (``status``, ``done``,
    ``decline``, ``client``); otherwise why not, in one line. A lead's ``#status`` may make any move."""
    if current == target:
        return f"already {target}"
    override = lead and via == "status"
    if target not in TRANSITIONS.get(current, frozenset()) and not override:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "nothing"
        return f"{current} cannot become {target} (from {current}: {allowed}; a lead may override)"
    owner = VIA.get((current, target))
    if owner is not None and owner[0] != via and not override:
        return f"{current} -> {target} goes through {owner[1]}"
    return None


def is_override(current: str, target: str, via: str = "status") -> bool:
    """Whether the move is only allowed because a lead made it (logged as an override)."""
    owner = VIA.get((current, target))
    return target not in TRANSITIONS.get(current, frozenset()) or (owner is not None and owner[0] != via)
