"""The demo inbox in, `mailflow outbox send` out, a real SMTP server on
loopback reading what actually went over the wire."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from mailflow.cli import cli as mailflow_cli

from conftest import DEMO_INBOX, NOW
from smtp_sink import SmtpSink


def _config(config_file: Path, sink: SmtpSink) -> Path:
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(f'host = "127.0.0.1"\nport = {sink.port}\nsecurity = "none"\ntimeout = 5\n')
    return config_file


def _run(config: Path, *args: str, at=NOW, expect: int = 0):
    result = CliRunner().invoke(mailflow_cli, ["--config", str(config), *args], obj={},
                                env={"MAILFLOW_NOW": at.isoformat()})
    assert result.exit_code == expect, f"{result.output}\n{result.exception!r}"
    return result


def test_every_queued_mail_goes_out_once_with_its_headers_and_to_the_right_people(
        config_file: Path, smtp_sink: SmtpSink) -> None:
    config = _config(config_file, smtp_sink)
    _run(config, "ingest", str(DEMO_INBOX))
    queued = json.loads(_run(config, "outbox", "list", "--json").output)

    assert "29 sent" in _run(config, "outbox", "send").output
    assert sorted(smtp_sink.count_by_message_id().items()) == sorted((q["message_id"], 1) for q in queued)
    for row in queued:
        [got] = [r for r in smtp_sink.received if r.message["Message-ID"] == row["message_id"]]
        assert sorted(got.rcpt_tos) == sorted(row["to"] + row["cc"])
        assert got.mail_from == "support@vendor.example.com"
        msg = got.message
        assert msg["Subject"].count(f"[{row['requirement']}]") == 1
        assert msg["Auto-Submitted"] in ("auto-replied", "auto-generated")
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["Date"] and msg["Message-ID"] == row["message_id"]

    # A service-stage client (Northwind) hears only the redirect; their service contact gets the rest.
    northwind = [r for r in smtp_sink.received if any(a.endswith("@northwind.example.com") for a in r.rcpt_tos)]
    assert {r.message["X-Mailflow-Kind"] for r in northwind} == {"external"}
    assert all("redirect" in _template(queued, r) for r in northwind)
    assert any(r.message["Content-Language"] == "en" for r in northwind)
    zhang = smtp_sink.to("zhang.min@vendor.example.com")
    assert any("service_request" in _template(queued, r) for r in zhang)
    # Prospects writing in Chinese are answered in Chinese.
    [huaxin] = [r for r in smtp_sink.to("zhang.wei@huaxin.example")]
    assert huaxin.message["Content-Language"] == "zh-CN"

    assert "0 sent" in _run(config, "outbox", "send").output  # a sent mail is never sent again
    assert len(smtp_sink.received) == 29
    assert {q["status"] for q in json.loads(_run(config, "outbox", "list", "--json").output)} == {"sent"}


def _template(queued: list[dict], received) -> str:
    return next(q["template"] for q in queued if q["message_id"] == received.message["Message-ID"])


def test_an_smtp_server_that_is_down_loses_nothing_and_later_gets_each_mail_once(
        config_file: Path, smtp_sink: SmtpSink) -> None:
    config = _config(config_file, smtp_sink)
    _run(config, "ingest", *sorted(str(p) for p in DEMO_INBOX.glob("0[1-4]-*.eml")))
    smtp_sink.stop()

    down = _run(config, "outbox", "send")
    assert "0 sent" in down.output
    assert down.stderr.strip()  # says why, in one line per mail it tried
    rows = json.loads(_run(config, "outbox", "list", "--json").output)
    assert {r["status"] for r in rows} == {"pending"}

    smtp_sink.start()  # back, on the same port
    # the one mail tried while it was down waits out its backoff; the others go now
    assert f"{len(rows) - 1} sent" in _run(config, "outbox", "send").output
    later = NOW + timedelta(minutes=15)
    assert "1 sent" in _run(config, "outbox", "send", at=later).output
    assert set(smtp_sink.count_by_message_id().values()) == {1}
    assert len(smtp_sink.received) == len(rows)
