"""`requirements list` and `outbox list`: a desk's whole history, written as it is read.

After a busy month a desk holds tens of thousands of requirements and
hundreds of thousands of mails; 6,546 requirements took `requirements list
--json` to 386 MB when all were loaded first. The listings now read a few
rows at a time; what they print must be exactly what the whole list printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from conftest import DEMO_INBOX
from mailflow.cli import records
from mailflow.config import load_config
from mailflow.store.session import open_store
from mailflow.store.tables import Outbox, Requirement
from mailflow.views import outbox_json, requirement_json, table


@pytest.fixture
def desk(cli, config_file: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo inbox ingested; listings read three rows at a time, so every listing takes several reads."""
    cli("ingest", str(DEMO_INBOX))
    monkeypatch.setattr(records, "READ_PER", 3)
    store = open_store(load_config(str(config_file)).database_url)
    yield store
    store.close()


def test_the_requirements_json_is_the_whole_list_read_a_few_at_a_time(cli, desk) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    with desk.session() as session:
        rows = session.scalars(select(Requirement).order_by(Requirement.id)).all()
        whole = json.dumps([requirement_json(r, tz) for r in rows], ensure_ascii=False, indent=2)
    assert len(rows) > 3
    assert cli("requirements", "list", "--json").output == whole + "\n"


def test_the_requirements_table_is_aligned_as_if_it_were_held_whole(cli, desk) -> None:
    with desk.session() as session:
        rows = session.scalars(select(Requirement).order_by(Requirement.id)).all()
        whole = table(["ID", "STATUS", "TYPE", "PRIO", "STAGE", "CUSTOMER", "OWNER", "SUBJECT"],
                      [[r.id, r.status, r.type, r.priority, r.customer_stage, r.customer or "-", r.owner or "-",
                        r.subject] for r in rows], limits={5: 18, 7: 40})
    assert cli("requirements", "list").output == whole + "\n"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in whole)  # Chinese subjects: two columns a character


def test_the_outbox_listings_are_the_whole_list(cli, desk) -> None:
    with desk.session() as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        whole = json.dumps([outbox_json(r) for r in rows], ensure_ascii=False, indent=2)
        pending = [r for r in rows if r.status == "pending"]
        shown = table(["REQUIREMENT", "KIND", "STATUS", "TEMPLATE", "TO", "SUBJECT"],
                      [[r.requirement_id or "-", r.kind, r.status, r.template, ", ".join(r.to_addrs or []), r.subject]
                       for r in pending], limits={5: 40})
    assert cli("outbox", "list", "--json").output == whole + "\n"
    assert cli("outbox", "list", "--status", "pending").output == shown + "\n"


def test_an_empty_listing_is_an_empty_list(cli, desk) -> None:
    assert cli("requirements", "list", "--json", "--owner", "nobody").output == "[]\n"
    assert cli("outbox", "list", "--json", "--status", "failed").output == "[]\n"
    assert cli("requirements", "list", "--owner", "nobody").output.splitlines()[0].startswith("ID  ")
