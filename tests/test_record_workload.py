"""The open workload a batch balances teams by: counted once, then kept up to date, never stale.

A batch counts open requirements per owner once (a GROUP BY over every
requirement) and follows what its own mails do: new requirements, commands
that reassign or close, client replies that reopen. What it holds must be
what counting again would say.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mailflow.record.lookup import counted_new_owner, moved_workload, open_workload, requirement
from mailflow.store.session import open_store
from mailflow.store.tables import Requirement

WHEN = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
START = {  # id: (owner, status)
    "REQ-202611-001": ("wang.fang", "new"),
    "REQ-202611-002": ("wang.fang", "in_progress"),
    "REQ-202611-003": ("liu.yang", "new"),
    "REQ-202611-004": (None, "new"),
    "REQ-202611-005": ("zhang.min", "closed"),
    "REQ-202611-006": ("liu.yang", "pending_verification"),
}
MOVES = {  # what the batch's mails do to them
    "REQ-202611-001": ("liu.yang", "new"),                # #assign:liu.yang
    "REQ-202611-003": ("liu.yang", "closed"),             # #status:closed
    "REQ-202611-004": ("zhang.min", "in_progress"),       # assigned at last, and started
    "REQ-202611-005": ("zhang.min", "in_progress"),       # reopened by the client's reply
    "REQ-202611-006": ("liu.yang", "pending_verification"),  # a note: nothing moves
}


def _requirement(rid: str, owner: str | None, status: str) -> Requirement:
    return Requirement(id=rid, owner=owner, status=status, submitter_email="a@huaxin.example", submitted_at=WHEN,
                       created_at=WHEN, updated_at=WHEN)


def test_the_count_a_batch_keeps_is_what_counting_again_says(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s:
        s.add_all(_requirement(rid, *start) for rid, start in START.items())
    with store.session() as s:
        assert open_workload(s) == {"wang.fang": 2, "liu.yang": 2}
        for rid, after in MOVES.items():
            req = requirement(s, rid)
            assert req is not None
            before = (req.owner, req.status)
            req.owner, req.status = after
            moved_workload(s, before, after)
        s.add(_requirement("REQ-202611-007", "wang.fang", "new"))
        counted_new_owner(s, "wang.fang")
        kept = open_workload(s)
    with store.session() as s:
        assert kept == open_workload(s) == {"wang.fang": 2, "liu.yang": 2, "zhang.min": 2}
    store.close()


def test_nobodys_count_stays_behind_at_zero(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s:
        s.add(_requirement("REQ-202611-001", "wang.fang", "new"))
    with store.session() as s:
        assert open_workload(s) == {"wang.fang": 1}
        moved_workload(s, ("wang.fang", "new"), ("wang.fang", "closed"))
        assert open_workload(s) == {}  # as the GROUP BY has it: no row, not a zero
    store.close()
