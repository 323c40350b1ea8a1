"""`mailflow report --mail`: the month's report reaches our managers, and nobody else, over real SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO_INBOX
from smtp_sink import SmtpSink

MANAGER = "sun.hao@vendor.example.com"


@pytest.fixture
def cli_smtp(cli, config_file: Path, smtp_sink: SmtpSink):
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(f'host = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\ntimeout = 5\n')
    return cli


def test_the_report_is_mailed_to_staff_as_html_with_a_text_part(cli_smtp, smtp_sink: SmtpSink) -> None:
    cli_smtp("ingest", str(DEMO_INBOX))
    out = cli_smtp("report", "--month", "2026-11", "--mail", "--to", MANAGER).output
    assert "report 2026-11: queued for sun.hao@vendor.example.com" in out
    # --mail sends the outbox, as poll --once does: the demo's replies went too.
    [mail] = [m for m in smtp_sink.received if m.message["X-Mailflow-Kind"] is None]
    assert mail.rcpt_tos == (MANAGER,)
    assert mail.message["Subject"] == "需求月报 / Monthly requirements report 2026-11"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.message.get_body(("plain",)).get_content()
    html = mail.message.get_body(("html",)).get_content()
    assert "需求总数 / Requirements: 11" in text
    assert 'id="chart-types"' in html and "zhang.wei@huaxin.example" not in html
    [attached] = list(mail.message.iter_attachments())
    assert attached.get_filename() == "mailflow-report-2026-11.html"
    # It is in the outbox like every other mail, sent.
    assert '"template": "report"' in cli_smtp("outbox", "list", "--json").output


def test_a_recipient_outside_our_staff_is_refused_and_nothing_is_queued(cli_smtp, smtp_sink: SmtpSink) -> None:
    result = cli_smtp("report", "--month", "2026-11", "--mail", "--to", "cfo@huaxin.example", expect=1)
    assert result.stderr.strip() == ("mailflow: error: report --mail: cfo@huaxin.example is not in rules/staff.yaml; "
                                     "the report goes to our own staff only")
    assert cli_smtp("outbox", "list", "--json").output.strip() == "[]"
    assert smtp_sink.received == []


def test_a_bad_month_is_a_usage_error(cli) -> None:
    result = cli("report", "--month", "2026-13", expect=2)
    assert "month must be" in result.stderr


def test_the_report_writes_a_file_and_is_about_last_month_by_default(cli, tmp_path: Path) -> None:
    target = tmp_path / "oct.html"
    assert "report 2026-10: 0 requirements ->" in cli("report", "--format", "html", "-o", str(target)).output
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
