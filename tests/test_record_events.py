"""The process log is written at commit, in order, with its transaction or not at all."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from conftest import SHANGHAI
from mailflow.record.events import add_event, pending_events
from mailflow.store.session import open_store
from mailflow.store.tables import Event, Requirement

WHEN = datetime(2026, 11, 23, 10, 15, tzinfo=SHANGHAI)
RID = "REQ-202611-001"


def _kinds(store) -> list[str]:  # noqa: ANN001
    with store.session() as s:
        return list(s.scalars(select(Event.kind).where(Event.requirement_id == RID).order_by(Event.id)))


def test_steps_are_written_at_commit_in_order_after_the_requirement_they_belong_to(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s:
        s.add(Requirement(id=RID, submitter_email="a@huaxin.example", submitted_at=WHEN, created_at=WHEN,
                          updated_at=WHEN))  # not flushed yet: the log must wait for it
        for kind in ("created", "classified", "assigned"):
            add_event(s, RID, at=WHEN, actor="mailflow", kind=kind)
        assert [e["kind"] for e in pending_events(s, RID)] == ["created", "classified", "assigned"]
        assert pending_events(s, "REQ-202611-002") == []
    assert _kinds(store) == ["created", "classified", "assigned"]
    store.close()


def test_a_rolled_back_transaction_takes_its_steps_with_it_and_a_savepoint_keeps_them(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s:
        s.add(Requirement(id=RID, submitter_email="a@huaxin.example", submitted_at=WHEN, created_at=WHEN,
                          updated_at=WHEN))
    with pytest.raises(RuntimeError):
        with store.session() as s:
            add_event(s, RID, at=WHEN, actor="x", kind="lost")
            raise RuntimeError("the mail failed")
    with store.session() as s:
        add_event(s, RID, at=WHEN, actor="x", kind="kept")
        with pytest.raises(RuntimeError):
            with s.begin_nested():
                raise RuntimeError("a claim that was taken already")
        add_event(s, RID, at=WHEN, actor="x", kind="after")
    assert _kinds(store) == ["kept", "after"]
    store.close()


def test_a_naive_time_is_refused_where_it_is_logged(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s, pytest.raises(ValueError, match="naive"):
        add_event(s, RID, at=datetime(2026, 11, 23, 10, 15), actor="x", kind="created")
    store.close()
