"""`poll --once` answers as it goes: the first client of a long backlog hears back at once.

The demo inbox queues 29 replies; a real SMTP server on loopback reads
what went over the wire; a pretend clock decides when a turn is due. Two
tests are the whole thing, with a real Dovecot: `poll --once` with the first
reply out before the last mail was even recorded, and a poll killed while
it sends. The last says what a stop (a signal) does to a batch of sending.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mailflow.cli import cli as mailflow_cli
from mailflow.config import load_config, secret
from mailflow.errors import ConfigError
from mailflow.fetch.lease import MAILBOX_LEASE
from mailflow.send import sender, while_polling
from mailflow.send.while_polling import WhilePolling
from mailflow.store.session import Store, open_store
from mailflow.store.tables import Message, Outbox

from conftest import DEMO_INBOX, NOW
from dovecot_server import DovecotServer, configure_mailbox
from smtp_sink import SmtpSink

QUEUED = 29  # replies the demo inbox queues


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _relay(config_file: Path, sink: SmtpSink, extra: str = "") -> Path:
    with config_file.open("a", encoding="utf-8") as fh:  # the conftest config ends in its [smtp] table
        fh.write(f'host = "127.0.0.1"\nport = {sink.port}\nsecurity = "none"\ntimeout = 5\n{extra}')
    return config_file


def _ingest_demo(config: Path) -> None:
    result = CliRunner().invoke(mailflow_cli, ["--config", str(config), "ingest", str(DEMO_INBOX)], obj={},
                                env={"MAILFLOW_NOW": NOW.isoformat()})
    assert result.exit_code == 0, result.output


@pytest.fixture
def queued(config_file: Path, smtp_sink: SmtpSink):  # noqa: ANN201
    """The demo inbox ingested (29 replies pending), and what a poll's sender needs."""
    config_path = _relay(config_file, smtp_sink)
    _ingest_demo(config_path)
    config = load_config(config_path)
    store = open_store(config.database_url)
    clock = Clock()
    sending = WhilePolling(store, config.smtp, lambda: secret(config.smtp, "smtp"), now=lambda: NOW,
                           monotonic=clock)
    yield sending, clock, store
    store.close()


def _statuses(store: Store) -> dict[str, int]:
    with store.session() as session:
        return dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())


def test_the_first_reply_goes_at_once_then_a_turn_every_interval(queued, smtp_sink: SmtpSink) -> None:
    sending, clock, store = queued

    sending.after(0)  # a mail that queued nothing (an auto-reply skipped): no turn, no connection
    assert sending.turns == 0
    sending.after(1)  # the first reply of the poll: at once
    assert len(smtp_sink.received) == QUEUED and sending.turns == 1

    clock.now += 1.9
    sending.after(2)  # queued, but 2 seconds (the default interval) have not gone by
    assert sending.turns == 1
    clock.now += 0.1
    sending.after(0)  # … now they have, and something was queued since the last turn
    assert sending.turns == 2
    clock.now += 10
    sending.after(0)  # nothing queued since: no turn
    assert sending.turns == 2

    report = sending.finish()
    assert (report.sent, report.deferred, report.failed, report.stopped) == (QUEUED, 0, 0, "")
    assert set(smtp_sink.count_by_message_id().values()) == {1}
    assert _statuses(store) == {"sent": QUEUED}


def test_a_turn_begins_no_mail_after_its_time_and_gives_the_rest_back(queued, smtp_sink: SmtpSink,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sending, _, store = queued
    ticks = iter(range(10**6))
    monkeypatch.setattr(sender, "monotonic", lambda: float(next(ticks)))  # each look at the clock: a second on
    monkeypatch.setattr(while_polling, "TURN_SECONDS", 8.0)
    sending.after(1)

    sent = len(smtp_sink.received)
    assert sending.turns == 1 and 0 < sent < QUEUED  # a slow relay: the turn ended with mail still due
    with store.session() as session:  # the rest was given back untouched: no attempt counted, due at once
        assert set(session.execute(select(Outbox.attempts, Outbox.next_attempt_at)
                                   .where(Outbox.status == "pending"))) == {(0, None)}
    assert _statuses(store) == {"sent": sent, "pending": QUEUED - sent}
    assert sending.finish().sent == QUEUED and len(smtp_sink.received) == QUEUED
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_a_relay_that_is_down_costs_one_attempt_not_one_per_turn_nor_one_more_at_the_end(
        queued, smtp_sink: SmtpSink) -> None:
    sending, clock, store = queued
    smtp_sink.stop()
    for _ in range(6):  # six mails queue replies, 10 s apart: all within the minute the relay rests
        sending.after(1)
        clock.now += 9.9
    assert sending.turns == 1

    report = sending.finish()
    assert report.sent == 0 and "Connection refused" in report.stopped
    with store.session() as session:
        rows = session.execute(select(Outbox.status, Outbox.attempts)).all()
    assert {status for status, _ in rows} == {"pending"} and len(rows) == QUEUED
    assert sum(attempts for _, attempts in rows) == 1  # the first mail met the closed port; the rest wait


def test_a_relay_that_was_down_is_tried_again_a_minute_later(queued, smtp_sink: SmtpSink) -> None:
    sending, clock, store = queued
    smtp_sink.stop()
    sending.after(1)
    smtp_sink.start()
    clock.now += 59
    sending.after(1)
    assert sending.turns == 1 and smtp_sink.received == []  # resting
    clock.now += 1
    sending.after(0)
    assert sending.turns == 2 and len(smtp_sink.received) == QUEUED - 1  # the one deferred waits its minute

    report = sending.finish()
    assert (report.sent, report.deferred, report.stopped) == (QUEUED - 1, 1, "")
    assert any(line.startswith("sending stopped during the poll (") and "Connection refused" in line
               for line in report.lines)
    assert _statuses(store) == {"sent": QUEUED - 1, "pending": 1}


def test_a_missing_password_does_not_stop_the_poll_only_the_sending(
        config_file: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILFLOW_TEST_NO_SUCH_SECRET", raising=False)
    config_path = _relay(config_file, smtp_sink, 'password_env = "MAILFLOW_TEST_NO_SUCH_SECRET"\n')
    _ingest_demo(config_path)
    config = load_config(config_path)
    store = open_store(config.database_url)
    try:
        sending = WhilePolling(store, config.smtp, lambda: secret(config.smtp, "smtp"), now=lambda: NOW,
                               monotonic=Clock())
        sending.after(1)  # must not raise into the poll
        with pytest.raises(ConfigError, match="MAILFLOW_TEST_NO_SUCH_SECRET is not set"):
            sending.finish()  # the same one-line error as before, once the mail is recorded
        assert smtp_sink.received == [] and _statuses(store) == {"pending": QUEUED}
    finally:
        store.close()


def _mail(n: int) -> bytes:
    return (f"From: Li Na <li.na.{n}@huaxin.example>\r\nTo: support@vendor.example.com\r\n"
            f"Subject: Export fails {n}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0800\r\n"
            f"Message-ID: <while-polling.{n}@huaxin.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Exporting the monthly report fails with error 500. Case {n}.\r\n\r\nLi Na\r\n").encode()


def test_poll_once_sends_the_first_reply_before_the_backlog_is_done(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = configure_mailbox(_relay(config_file, smtp_sink, "send_while_polling = 0\n"), dovecot, None)
    dovecot.append_many("INBOX", [_mail(n) for n in range(1, 151)])  # two groups of fetching (100 + 50)

    result = CliRunner().invoke(mailflow_cli, ["--config", str(config), "poll", "--once"], obj={})  # the real clock
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert result.stdout.strip().splitlines()[-1].endswith(f"new 150 / follow-ups 0 / staff 0 / skipped automated 0"
                                                          f" / duplicates 0 / failed 0 / sent {len(smtp_sink.received)}")
    store = open_store(load_config(config).database_url)
    try:
        with store.session() as session:
            rows = session.execute(select(Outbox.created_at, Outbox.sent_at, Outbox.status)).all()
    finally:
        store.close()
    assert len(rows) >= 150 and {status for _, _, status in rows} == {"sent"}
    first_sent: datetime = min(sent for _, sent, _ in rows)
    last_queued: datetime = max(created for created, _, _ in rows)
    assert first_sent < last_queued  # answered while the rest of the backlog was still being read
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_a_poll_killed_while_it_sends_loses_no_reply(config_file: Path, dovecot: DovecotServer,
                                                     smtp_sink: SmtpSink) -> None:
    """The sender's contract, now that a poll sends as it goes: a reply on its way when the process
    dies is sent again once its claim's lease is over (never lost); one the relay had already taken
    but not yet recorded may go twice, with the same Message-ID and bytes, so the receiver sees one."""
    config = configure_mailbox(_relay(config_file, smtp_sink, "send_while_polling = 0\n"), dovecot, None)
    total = 400
    dovecot.append_many("INBOX", [_mail(n) for n in range(1, total + 1)])
    env = {**os.environ, "MAILFLOW_NOW": NOW.isoformat()}
    child = subprocess.Popen([sys.executable, "-m", "mailflow.cli", "--config", str(config), "poll", "--once"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not smtp_sink.received and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)  # as replies go out: some on their way, some sent and not yet recorded
    finally:
        child.wait()
    assert 0 < len(smtp_sink.received), "the poll should have been killed while sending"

    after_lease = NOW + MAILBOX_LEASE + timedelta(seconds=1)  # the dead poll's mailbox lease is over
    rest = CliRunner().invoke(mailflow_cli, ["--config", str(config), "poll", "--once"], obj={},
                              env={"MAILFLOW_NOW": after_lease.isoformat()})
    assert rest.exit_code == 0, rest.output
    after_claims = NOW + sender.LEASE + timedelta(seconds=1)  # … and so are the claims of the replies it had in hand
    late = CliRunner().invoke(mailflow_cli, ["--config", str(config), "outbox", "send"], obj={},
                              env={"MAILFLOW_NOW": after_claims.isoformat()})
    assert late.exit_code == 0, late.output

    store = open_store(load_config(config).database_url)
    try:
        with store.session() as session:
            rows = dict(session.execute(select(Outbox.message_id, Outbox.status)).all())
            stored = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
    finally:
        store.close()
    assert stored == total  # every mail recorded once
    assert len(rows) >= total and set(rows.values()) == {"sent"}
    received = smtp_sink.count_by_message_id()
    assert set(received) == set(rows)  # every reply reached the relay: none lost
    twice = [message_id for message_id, n in received.items() if n > 1]
    config_smtp = load_config(config).smtp
    assert set(received.values()) <= {1, 2} and len(twice) <= config_smtp.connections * sender.MARK_BATCH
    for message_id in twice:  # the very same mail again: receivers that dedupe by Message-ID see one
        assert len({r.data for r in smtp_sink.received if r.message["Message-ID"] == message_id}) == 1


def test_a_stop_ends_sending_after_the_mails_on_their_way_and_holds_none_for_its_lease(
        queued, smtp_sink: SmtpSink) -> None:
    """What a signal does to `outbox send` and to a poll's turn: the mails on their way are answered and
    recorded, the rest are given back at once (due now, no attempt counted), and none goes twice."""
    sending, _, store = queued
    stop = threading.Event()
    smtp_sink.on_data = lambda count: stop.set() if count == 5 else None  # SIGTERM, as the fifth mail lands

    report = sender.send_pending(store, sending.config, "", now=lambda: NOW, stop=stop)
    assert 5 <= report.sent < QUEUED and report.stopped == "" and len(smtp_sink.received) == report.sent
    with store.session() as session:
        waiting = session.execute(select(Outbox.attempts, Outbox.next_attempt_at)
                                  .where(Outbox.status == "pending")).all()
    assert len(waiting) == QUEUED - report.sent and set(waiting) == {(0, None)}

    rest = sender.send_pending(store, sending.config, "", now=lambda: NOW)  # the next run: at once, not in 10 min
    assert rest.sent == QUEUED - report.sent
    assert set(smtp_sink.count_by_message_id().values()) == {1}
