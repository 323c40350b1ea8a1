"""``lookup.lock``: a staff command's requirement, held and seen as committed, without flushing the batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from mailflow.record import lookup
from mailflow.store.session import Store, open_store
from mailflow.store.tables import Requirement

from conftest import SHANGHAI, recorded_statements

RID = "REQ-202611-001"
BEFORE = datetime(2026, 11, 23, 9, tzinfo=SHANGHAI)
LATER = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)


def _requirement(rid: str = RID, **fields) -> Requirement:
    return Requirement(id=rid, submitter_email="wang.fang@huaxin.example", submitted_at=BEFORE, created_at=BEFORE,
                       updated_at=BEFORE, **fields)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    with store.session() as s:
        s.add(_requirement(priority="normal", status="new"))
    yield store
    store.close()


def test_the_lock_keeps_what_this_transaction_changed_and_flushes_nothing_else(store: Store) -> None:
    with store.session() as s:
        req = lookup.requirement(s, RID)
        req.priority, req.updated_at = "high", LATER  # an earlier mail of the batch, not yet written
        s.add(_requirement("REQ-202611-002"))  # another new requirement of the batch
        with recorded_statements(store.engine) as seen:
            lookup.lock(s, req)
        assert len(seen) == 1 and seen[0].upper().startswith("SELECT")  # no INSERT, no UPDATE
        assert (req.priority, req.updated_at) == ("high", LATER)
        assert [r.id for r in s.new] == ["REQ-202611-002"]  # still waiting for the commit
    with store.session() as s:
        stored = s.get(Requirement, RID)
        assert (stored.priority, stored.updated_at) == ("high", LATER)
        assert s.get(Requirement, "REQ-202611-002") is not None


def test_a_requirement_added_in_this_transaction_needs_no_lock(store: Store) -> None:
    with store.session() as s:
        req = _requirement("REQ-202611-002", priority="low")
        s.add(req)
        with recorded_statements(store.engine) as seen:
            lookup.lock(s, req)
        assert seen == []
        assert req in s.new and req.priority == "low"


def test_the_lock_sees_what_another_worker_committed_meanwhile(store: Store, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no other worker commits inside this transaction")
    with store.session() as s:
        req = lookup.requirement(s, RID)
        req.priority = "high"
        with store.session() as other:  # another worker's staff command, committed first
            other.get(Requirement, RID).owner = "li.wei"
        lookup.lock(s, req)
        assert (req.owner, req.priority) == ("li.wei", "high")
    with store.session() as s:
        stored = s.get(Requirement, RID)
        assert (stored.owner, stored.priority) == ("li.wei", "high")


def test_a_second_worker_waits_for_the_first_to_commit(store: Store, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole writers")
    seen_status: list[str] = []
    locked = threading.Event()

    def second() -> None:
        with store.session() as s:
            req = lookup.requirement(s, RID)
            locked.set()
            lookup.lock(s, req)
            seen_status.append(req.status)

    with store.session() as s:
        req = lookup.requirement(s, RID)
        lookup.lock(s, req)
        worker = threading.Thread(target=second)
        worker.start()
        assert locked.wait(10)
        time.sleep(0.5)  # long enough for the second worker to pass the lock, if the lock let it
        assert seen_status == []
        req.status = "in_progress"
    worker.join(10)
    assert seen_status == ["in_progress"]
