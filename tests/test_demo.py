"""`mailflow demo` and `mailflow db upgrade`: the commands a newcomer runs first."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from click.testing import CliRunner

from mailflow.cli import cli

COMMITTAL = ["保证", "承诺", "一定会", "肯定会", "将于", "下个版本会", "will be fixed", "will be implemented",
             "will be delivered", "we guarantee", "we promise", "definitely"]


def test_the_demo_ingests_the_sample_inbox_and_writes_every_reply_as_eml(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(out), "--now", "2026-11-23T10:00:00+08:00"], obj={})
    assert result.exit_code == 0, result.output
    assert "18 mail(s): 11 new, 2 follow-up, 2 staff, 1 duplicate, 2 automated, 0 failed" in result.output
    assert "REQ-202611-011" in result.output and "远航物流" in result.output
    files = sorted((out / "outbox").glob("*.eml"))
    assert len(files) >= 22  # an ack and an owner note per requirement, at least
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["Message-ID"] and msg["Date"] and "[REQ-202611-" in msg["Subject"]
        text = msg.get_body(("plain",)).get_content()
        if msg["X-Mailflow-Kind"] == "external":
            assert not [p for p in COMMITTAL if p.lower() in text.lower()], path.name
            assert msg["Auto-Submitted"] == "auto-replied"


def test_the_demo_can_run_twice_in_the_same_place(tmp_path: Path) -> None:
    for _ in range(2):
        result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "d")], obj={})
        assert result.exit_code == 0, result.output
        assert "11 new" in result.output


def test_db_upgrade_reports_the_revision(cli) -> None:
    from alembic.script import ScriptDirectory

    from mailflow.store.session import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert f"database at revision {head}" in cli("db", "upgrade").output
    assert f"database at revision {head}" in cli("db", "upgrade").output  # idempotent
