"""A plan is proposed, then confirmed; only the confirmation unlocks promises."""

from __future__ import annotations

from datetime import date

import pytest

from mailflow.errors import MailflowError
from mailflow.record.plan import confirm_plan, propose_plan
from mailflow.store.session import open_store
from mailflow.store.tables import Requirement

from conftest import NOW


def _store_with_requirement(db_url: str):
    store = open_store(db_url)
    with store.session() as s:
        s.add(Requirement(id="REQ-202611-001", submitter_email="a@huaxin.example", submitted_at=NOW,
                          created_at=NOW, updated_at=NOW))
    return store


def test_confirming_needs_a_proposal_first(db_url: str) -> None:
    store = _store_with_requirement(db_url)
    with pytest.raises(MailflowError, match="no plan to confirm"):
        with store.session() as s:
            confirm_plan(s, "REQ-202611-001", actor="wang.fang", now=NOW)


def test_a_confirmed_plan_records_who_and_a_new_proposal_withdraws_it(db_url: str) -> None:
    store = _store_with_requirement(db_url)
    with store.session() as s:
        propose_plan(s, "REQ-202611-001", version="v2.3", planned=date(2026, 12, 15), actor="liu.yang", now=NOW)
        req = confirm_plan(s, "REQ-202611-001", actor="wang.fang", now=NOW)
        assert (req.plan_confirmed, req.plan_confirmed_by) == (True, "wang.fang")
        req = propose_plan(s, "REQ-202611-001", version="v2.4", planned=date(2027, 1, 20), actor="liu.yang", now=NOW)
        assert (req.plan_version, req.plan_date, req.plan_confirmed) == ("v2.4", "2027-01-20", False)
    with store.session() as s:
        kinds = [e.kind for e in s.get(Requirement, "REQ-202611-001").events]
    assert kinds == ["plan_proposed", "plan_confirmed", "plan_proposed"]
