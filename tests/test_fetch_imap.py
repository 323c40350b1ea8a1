"""A real mailbox: Dovecot on loopback in, `mailflow poll --once`, a real SMTP server out.

Mail is delivered by IMAP APPEND, what the poller left behind is read back
over IMAP (flags, folders), replies are what the aiosmtpd sink received.
Nothing is mocked at the protocol level.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import undefer

from mailflow import pipeline
from mailflow.cli import cli as mailflow_cli
from mailflow.config import load_config
from mailflow.errors import ConfigError
from mailflow.fetch.imap import FAILED_KEYWORD, ImapMailbox, poll_all
from mailflow.fetch.lease import MAILBOX_LEASE
from mailflow.store.session import open_store
from mailflow.store.tables import ImapFolder, Message, Outbox

from conftest import DEMO_INBOX, MAIL, NOW, ROOT, bench_generator, outbox_to_send, stopped_as_systemd_stops
from dovecot_server import BUGS, SUPPORT, DovecotServer
from dovecot_server import configure_mailbox as _configure
from dovecot_server import mailbox_table, without_sending
from smtp_sink import SmtpSink

SEEN = b"\\Seen"


generate = bench_generator().generate


def _poll(config: Path, *, expect: int | None = 0, args: tuple[str, ...] = ("--once",), now: datetime = NOW) -> Result:
    result = CliRunner().invoke(mailflow_cli, ["--config", str(config), "poll", *args], obj={},
                                env={"MAILFLOW_NOW": now.isoformat()})
    if expect is not None:
        assert result.exit_code == expect, f"{result.output}\n{result.exception!r}"
    return result


def _summary(result: Result) -> dict[str, int]:
    """`fetched 3 / new 2 / ... / sent 4` -> {"fetched": 3, "new": 2, ...}."""
    line = result.stdout.strip().splitlines()[-1]
    return {part.rsplit(" ", 1)[0].strip(): int(part.rsplit(" ", 1)[1]) for part in line.split(" / ")}


def _incoming(config: Path) -> list[Message]:
    store = open_store(load_config(config).database_url)
    try:
        with store.session() as session:
            return list(session.scalars(select(Message).options(undefer(Message.raw))  # read after the session
                                        .where(Message.direction == "in").order_by(Message.id)))
    finally:
        store.close()


def _mail(n: int, *, sender: str = "li.na@huaxin.example", subject: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject or f"导出报表报错 {n}"
    msg["Date"] = "Mon, 23 Nov 2026 09:00:00 +0800"
    msg["Message-ID"] = f"<poll.{n}@huaxin.example>"
    msg.set_content(f"系统导出报表时报错,提示内部错误 500。编号 {n}\n\n李娜\n138-0000-0001\n")
    return msg.as_bytes()


# The backlog
def test_a_backlog_of_200_mails_is_stored_answered_and_flagged_once(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = _configure(config_file, dovecot, smtp_sink)
    mails = generate(200, seed=11)
    dovecot.append_many("INBOX", mails)

    started = time.monotonic()
    first = _summary(_poll(config))
    elapsed = time.monotonic() - started

    assert first["fetched"] == 200
    assert first["new"] + first["follow-ups"] + first["staff"] + first["skipped automated"] == 200
    assert first["duplicates"] == first["failed"] == 0
    stored = _incoming(config)
    assert len(stored) == 200
    assert {m.source for m in stored} == {f"imap:default/INBOX#{uid}" for uid in range(1, 201)}
    assert first["sent"] == outbox_to_send(config) == len(smtp_sink.received) > 0
    assert set(smtp_sink.count_by_message_id().values()) == {1}
    flags = dovecot.flags("INBOX")
    assert len(flags) == 200 and all(SEEN in f for f in flags.values())  # nothing deleted, all marked done
    assert elapsed < 30, f"200 mails took {elapsed:.1f} s"

    again = _summary(_poll(config))
    assert again["fetched"] == again["sent"] == 0
    assert len(_incoming(config)) == 200 and len(smtp_sink.received) == first["sent"]


def test_a_relay_that_is_down_after_the_poll_costs_one_attempt_and_loses_nothing(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = _configure(config_file, dovecot, smtp_sink)
    dovecot.append_many("INBOX", [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 121)])
    smtp_sink.stop()
    result = _poll(config)
    summary = _summary(result)
    assert (summary["new"], summary["sent"]) == (120, 0)
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("sending stopped:")]
    assert "Connection refused" in stopped
    store = open_store(load_config(config).database_url)
    try:
        with store.session() as session:
            rows = session.execute(select(Outbox.status, Outbox.attempts)).all()
    finally:
        store.close()
    assert len(rows) == outbox_to_send(config) >= 120 and {status for status, _ in rows} == {"pending"}
    assert sum(attempts for _, attempts in rows) == 1  # the first mail met the closed port; the rest wait

    smtp_sink.start()
    later = _summary(_poll(config))
    assert later["fetched"] == 0 and later["sent"] == len(smtp_sink.received) == len(rows) - 1  # not yet due: 1
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_fetching_does_not_mark_mail_seen_before_it_is_committed(
        config_file: Path, dovecot: DovecotServer, monkeypatch) -> None:
    """BODY.PEEK[]: a mail whose processing breaks off is still unread and still there."""
    config = _configure(config_file, dovecot, None)
    dovecot.append_many("INBOX", [_mail(1), _mail(2), _mail(3)])
    real = pipeline._process_parsed

    def database_gone_at_the_second(session, mail, raw, source, rt, now):  # noqa: ANN001, ANN202
        if source.endswith("#2"):
            raise OperationalError("INSERT INTO messages", {}, ConnectionRefusedError("connection refused"))
        return real(session, mail, raw, source, rt, now)

    monkeypatch.setattr(pipeline, "_process_parsed", database_gone_at_the_second)
    broken = _poll(config, expect=1)
    assert broken.stderr.strip().splitlines()[-1].startswith("mailflow: error: database: ")
    assert broken.stderr.strip().endswith("/INBOX#2 was not ingested")
    # The batch was rolled back and taken one by one: the first mail committed and flagged, no more.
    assert {uid: SEEN in f for uid, f in dovecot.flags().items()} == {1: True, 2: False, 3: False}

    monkeypatch.setattr(pipeline, "_process_parsed", real)
    healed = _summary(_poll(config))
    assert (healed["fetched"], healed["new"], healed["duplicates"]) == (2, 2, 0)
    assert sorted(m.message_id for m in _incoming(config)) == [f"<poll.{n}@huaxin.example>" for n in (1, 2, 3)]
    assert all(SEEN in f for f in dovecot.flags().values())


def test_a_large_mail_is_fetched_in_pieces_and_spooled_between_small_ones(
        config_file: Path, dovecot: DovecotServer, monkeypatch) -> None:
    """Never whole in memory: partial fetches to disk, its files decoded into the store as they stream."""
    from test_fetch_spool import _files, large_foxmail

    from mailflow.fetch import spool

    pieces = []
    real = spool.spool_download
    monkeypatch.setattr("mailflow.fetch.imap.spool_download",
                        lambda store, fetch, max_file: real(store, lambda at, n: pieces.append(at) or fetch(at, n),
                                                            max_file=max_file, piece=1024 * 1024))
    config = _configure(config_file, dovecot, None)
    big = large_foxmail()
    dovecot.append_many("INBOX", [_mail(1), big, _mail(2)])

    report = _summary(_poll(config))
    assert (report["fetched"], report["new"], report["failed"]) == (3, 3, 0)
    assert pieces == [n * 1024 * 1024 for n in range(len(big) // (1024 * 1024) + 1)]  # the last one came short
    stored = {m.source: m for m in _incoming(config)}
    large = stored["imap:default/INBOX#2"]
    root = Path(load_config(config).paths.attachments)
    assert large.raw_blob is not None and len(large.raw) < 16 * 1024
    assert (root / large.raw_blob).read_bytes() == big  # byte for byte as the server had it
    pdf = _files()["月度报表扫描件.pdf"]
    sha = hashlib.sha256(pdf).hexdigest()
    assert (root / sha[:2] / sha).read_bytes() == pdf
    assert stored["imap:default/INBOX#1"].raw_blob is None
    assert all(SEEN in f for f in dovecot.flags().values())


def _with_log(n: int, megabytes: float) -> bytes:
    """A client mail carrying a log of ``megabytes``: under the spooling size, so fetched whole."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"wang.zhe{n}@yuanhang.example", SUPPORT, f"导出失败日志 {n}"
    msg["Date"], msg["Message-ID"] = "Mon, 23 Nov 2026 09:00:00 +0800", f"<log.{n}@yuanhang.example>"
    msg.set_content("日志在附件里。\n\n王喆\n")
    msg.add_attachment(os.urandom(int(megabytes * 1024 * 1024)), maintype="application", subtype="zip",
                       filename=f"logs-{n}.zip")
    return msg.as_bytes()


def test_mail_under_the_spooling_size_is_fetched_a_transactions_worth_at_a_time(
        config_file: Path, dovecot: DovecotServer) -> None:
    """A FETCH holds no more than one pipeline batch of bodies: 40 mails of 3.9 MB fetched 32 MiB at a
    time, with the next chunk read ahead, took `poll --once` to 207 MB (bench: 200 MB at most)."""
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    dovecot.append_many("INBOX", [_with_log(n, 1.2) for n in range(6)])  # ~1.6 MB each in base64
    with ImapMailbox(config.imap) as box:
        fetched: list[int] = []
        real = box.client.fetch

        def fetch(uids, what, *args, **kwargs):  # noqa: ANN001, ANN202
            answer = real(uids, what, *args, **kwargs)
            if b"BODY.PEEK[]" in what:
                fetched.append(sum(len(item[b"BODY[]"]) for item in answer.values()))
            return answer

        box.client.fetch = fetch  # type: ignore[method-assign, union-attr]
        assert box.poll(rt).count(pipeline.NEW) == 6
    assert len(fetched) == 3 and all(size <= pipeline.BATCH_BYTES for size in fetched), fetched


def test_a_large_mail_the_store_cannot_take_stays_on_the_server_until_it_can(
        config_file: Path, dovecot: DovecotServer) -> None:
    from test_fetch_spool import large_foxmail

    config = _configure(config_file, dovecot, None)
    store = Path(load_config(config).paths.attachments)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("a file where the attachment store should be")
    dovecot.append_many("INBOX", [_mail(1), large_foxmail()])

    refused = _poll(config, expect=1)
    assert refused.stderr.strip().splitlines()[-1] == (
        f"mailflow: error: large mail not spooled to {store}: File exists")
    assert {uid: SEEN in f for uid, f in dovecot.flags().items()} == {1: True, 2: False}

    store.unlink()
    healed = _summary(_poll(config))
    assert (healed["fetched"], healed["new"]) == (1, 1)
    assert all(SEEN in f for f in dovecot.flags().values())


def test_a_crash_between_commit_and_flag_costs_nothing_and_doubles_nothing(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink, monkeypatch) -> None:
    config = _configure(config_file, dovecot, smtp_sink)
    dovecot.append_many("INBOX", [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 5)])
    real = ImapMailbox._settle

    class Killed(Exception):
        pass

    def die_after_committing(self, taken, tally):  # noqa: ANN001, ANN202
        raise Killed("process killed after the commit, before the flags")

    monkeypatch.setattr(ImapMailbox, "_settle", die_after_committing)
    crashed = _poll(config, expect=None)
    assert isinstance(crashed.exception, Killed)
    # The four were committed together; none is flagged or checkpointed.
    assert len(_incoming(config)) == 4
    assert not any(SEEN in f for f in dovecot.flags().values())

    monkeypatch.setattr(ImapMailbox, "_settle", real)
    after = _summary(_poll(config))
    assert (after["fetched"], after["duplicates"], after["new"]) == (4, 4, 0)  # all four recognised
    assert len(_incoming(config)) == 4
    assert all(SEEN in f for f in dovecot.flags().values())
    assert set(smtp_sink.count_by_message_id().values()) == {1}  # each was answered once, not twice
    assert len(smtp_sink.to("user3@huaxin.example")) == 1


def test_a_stop_in_the_middle_of_reporting_a_group_checkpoints_only_what_was_reported(
        config_file: Path, dovecot: DovecotServer) -> None:
    """The daemon stops by raising from on_outcome: the rest of the group is flagged, but comes again."""
    config = load_config(_configure(config_file, dovecot, None))
    dovecot.append_many("INBOX", [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 5)])
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    seen = []

    def stop_after_the_second(outcome: pipeline.Outcome) -> None:
        seen.append(outcome)
        if len(seen) == 2:
            raise KeyboardInterrupt

    try:
        with ImapMailbox(config.imap) as box:
            with pytest.raises(KeyboardInterrupt):
                box.poll(rt, on_outcome=stop_after_the_second)
            later: list[pipeline.Outcome] = []
            box.poll(rt, on_outcome=later.append)
    finally:
        rt.store.close()
    assert [o.kind for o in seen] == [pipeline.NEW, pipeline.NEW]
    assert all(SEEN in f for f in dovecot.flags().values())  # the group was settled together
    assert [o.kind for o in later] == [pipeline.DUPLICATE, pipeline.DUPLICATE]  # #3, #4 not reported yet


def test_a_folder_the_server_refuses_names_each_mail_and_still_marks_it_seen(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None, imap='processed_folder = "bad..name"\n')
    dovecot.append_many("INBOX", [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 4)])
    result = _poll(config)
    assert _summary(result)["new"] == 3
    for uid in (1, 2, 3):
        assert f"imap:default/INBOX#{uid}: stored, but the server refused to move it to 'bad..name'" in result.stderr
    assert dovecot.uids("INBOX") == [1, 2, 3]  # not moved, not lost
    assert all(SEEN in f for f in dovecot.flags().values())
    assert _summary(_poll(config))["fetched"] == 0


def test_sigkill_in_the_middle_of_a_batch_then_restart_processes_every_mail_exactly_once(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = _configure(config_file, dovecot, smtp_sink)
    total = 2 * pipeline.BATCH_MAILS + 40  # more than two batches: the kill falls after a commit, before the last
    dovecot.append_many("INBOX", generate(total, seed=5))
    mailflow = Path(sys.executable).parent / "mailflow"
    env = {**os.environ, "MAILFLOW_NOW": NOW.isoformat()}
    # Killed while processing (no relay configured for this run): processing once is what is tested here.
    child = subprocess.Popen([str(mailflow), "--config", str(without_sending(config)), "poll", "--once"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(_incoming(config)) < 20 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # no chance to tidy up: whatever was in hand is cut off
    finally:
        child.wait()
    cut = len(_incoming(config))
    assert 20 <= cut < total, "the poll should have been killed in the middle of the backlog"

    held = _poll(config)  # the dead poll's lease on the mailbox has not run out yet
    assert _summary(held)["fetched"] == 0 and "is polling this mailbox; left to it" in held.stderr
    rest = _summary(_poll(config, now=NOW + MAILBOX_LEASE + timedelta(seconds=1)))
    stored = _incoming(config)
    assert len(stored) == total and len({m.message_id for m in stored}) == total
    # Mails committed but not yet checkpointed come again and are recognised: at most one batch of them.
    assert rest["fetched"] - rest["duplicates"] == total - cut
    assert rest["duplicates"] <= pipeline.BATCH_MAILS
    assert all(SEEN in f for f in dovecot.flags().values())
    assert len(smtp_sink.received) == outbox_to_send(config)
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_sigterm_ends_the_poll_between_two_groups_and_the_next_poll_takes_over_at_once(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = _configure(config_file, dovecot, smtp_sink)
    total = 4 * pipeline.BATCH_MAILS
    dovecot.append_many("INBOX", generate(total, seed=5))
    mailflow = Path(sys.executable).parent / "mailflow"
    env = {**os.environ, "MAILFLOW_NOW": NOW.isoformat()}
    def twenty_mails_in(child: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 30
        while len(_incoming(config)) < 20 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)

    status, out, err = stopped_as_systemd_stops([str(mailflow), "--config", str(config), "poll", "--once"], env,
                                                twenty_mails_in)
    assert status == 128 + signal.SIGTERM, err
    assert "in another process" not in err  # its parsing process ended by the same signal is no news
    first = {part.rsplit(" ", 1)[0].strip(): int(part.rsplit(" ", 1)[1]) for part in out.strip().split(" / ")}
    assert 20 <= first["fetched"] < total, "the poll should have been stopped in the middle of the backlog"
    assert f"default/INBOX: stopped; {total - first['fetched']} mail(s) left for the next poll" in err
    assert "not sending the rest: stopped by SIGTERM" in err
    assert len(_incoming(config)) == first["fetched"]  # what it took is in, nothing half-done

    rest = _summary(_poll(config))  # at once: the stopped poll gave its lease back
    assert rest["fetched"] == total - first["fetched"] and rest["duplicates"] == 0  # checkpointed to the last mail
    assert len(_incoming(config)) == total
    assert all(SEEN in f for f in dovecot.flags().values())
    assert first["sent"] + rest["sent"] == len(smtp_sink.received) == outbox_to_send(config)
    assert set(smtp_sink.count_by_message_id().values()) == {1}  # nothing on its way was cut off


# Folders
def test_processed_mail_moves_to_processed_folder_and_broken_mail_to_failed_folder(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None, imap='processed_folder = "mailflow/processed"\n'
                                                         'failed_folder = "mailflow/failed"\n')
    demo = [p.read_bytes() for p in sorted(DEMO_INBOX.glob("0[1-4]-*.eml"))]
    broken = (MAIL / "not_an_email.eml").read_bytes()
    dovecot.append_many("INBOX", [demo[0], broken, *demo[1:]])
    on_the_server = dovecot.messages("INBOX")  # as Dovecot keeps them (it turns NUL and bare LF into 0x80, CRLF)

    result = _poll(config)
    summary = _summary(result)
    assert (summary["fetched"], summary["failed"]) == (5, 1)
    assert "not sending: smtp.host is not set" in result.stderr
    assert "imap:default/INBOX#2: failed" in result.stderr
    assert {"mailflow.processed", "mailflow.failed"} <= set(dovecot.folder_names())  # created: '/' -> '.'
    assert dovecot.uids("INBOX") == []
    assert sorted(dovecot.messages("mailflow.processed").values()) == sorted(v for k, v in on_the_server.items()
                                                                               if k != 2)
    assert list(dovecot.messages("mailflow.failed").values()) == [on_the_server[2]]  # kept, byte for byte
    [quarantined] = [m for m in _incoming(config) if m.status == "failed"]
    assert quarantined.raw == on_the_server[2] and quarantined.reason

    assert _summary(_poll(config))["fetched"] == 0  # never retried


def test_without_a_failed_folder_broken_mail_stays_flagged_and_is_not_retried(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None)
    dovecot.append("INBOX", (MAIL / "not_an_email.eml").read_bytes())
    assert _summary(_poll(config))["failed"] == 1
    assert dovecot.flags() == {1: {SEEN, FAILED_KEYWORD}}
    assert _summary(_poll(config))["fetched"] == 0


def test_broken_mail_cut_off_before_it_was_flagged_still_ends_up_as_failed(
        config_file: Path, dovecot: DovecotServer, monkeypatch) -> None:
    config = _configure(config_file, dovecot, None)
    dovecot.append("INBOX", (MAIL / "not_an_email.eml").read_bytes())
    monkeypatch.setattr(ImapMailbox, "_settle", lambda *args: (_ for _ in ()).throw(RuntimeError("killed")))
    assert isinstance(_poll(config, expect=None).exception, RuntimeError)
    monkeypatch.undo()

    again = _summary(_poll(config))
    assert (again["fetched"], again["duplicates"]) == (1, 1)  # already quarantined: not stored twice
    assert dovecot.flags() == {1: {SEEN, FAILED_KEYWORD}}  # but marked as failed, not as processed
    assert len(_incoming(config)) == 1


def test_a_uidvalidity_change_reads_the_folder_again_without_duplicates(
        config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> None:
    config = _configure(config_file, dovecot, smtp_sink, imap='folder = "support"\n')
    old = [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 6)]
    dovecot.append_many("support", old)
    assert _summary(_poll(config))["new"] == 5
    before = dovecot.uidvalidity("support")
    sent = len(smtp_sink.received)

    # The folder is rebuilt (a server migration, a restore): UIDs start again at 1.
    with dovecot.client() as c:
        c.delete_folder("support")
    fresh = [_mail(n, sender=f"user{n}@huaxin.example") for n in (6, 7)]
    dovecot.append_many("support", fresh + old)  # new mail gets UIDs 1-2, below the old checkpoint (5)
    assert dovecot.uidvalidity("support") != before

    result = _poll(config)
    summary = _summary(result)
    assert (summary["fetched"], summary["new"], summary["duplicates"]) == (7, 2, 5)
    assert "UIDVALIDITY changed" in result.stderr
    assert len(_incoming(config)) == 7
    assert len(smtp_sink.received) - sent == summary["sent"] > 0
    assert set(smtp_sink.count_by_message_id().values()) == {1}
    assert _summary(_poll(config))["fetched"] == 0


# Several mailboxes
def test_two_mailboxes_in_one_config_each_keep_their_own_state(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None, imap='name = "support"\n', mailboxes=mailbox_table(
        dovecot, password_env="MF_TEST_BUGS_PASSWORD", extra='processed_folder = "done"\n'))
    os.environ["MF_TEST_BUGS_PASSWORD"] = dovecot.users[BUGS]
    try:
        dovecot.append_many("INBOX", [_mail(1), _mail(2)])
        dovecot.append_many("INBOX", [_mail(3, sender="max@northwind.example.com")], user=BUGS)
        assert _summary(_poll(config))["fetched"] == 3
        sources = sorted(m.source for m in _incoming(config))
        assert sources == ["imap:bugs/INBOX#1", "imap:support/INBOX#1", "imap:support/INBOX#2"]
        assert dovecot.uids("done", user=BUGS) == [1] and dovecot.uids("INBOX", user=BUGS) == []
        assert all(SEEN in f for f in dovecot.flags().values())

        dovecot.append("INBOX", _mail(4, sender="max@northwind.example.com"), user=BUGS)
        assert _summary(_poll(config))["fetched"] == 1
        store = open_store(load_config(config).database_url)
        with store.session() as session:
            state = {(r.mailbox, r.folder): r.last_uid for r in session.scalars(select(ImapFolder))}
        store.close()
        assert state == {("support", "INBOX"): 2, ("bugs", "INBOX"): 2}
    finally:
        del os.environ["MF_TEST_BUGS_PASSWORD"]


# When the server is not there, or does not let us in
def test_an_unreachable_server_is_one_line_and_exit_1(config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None)
    dovecot.stop()
    result = _poll(config, expect=1)
    errors = [line for line in result.stderr.splitlines() if line.startswith("mailflow: error:")]
    assert errors == [f"mailflow: error: imap default (127.0.0.1:{dovecot.port}): cannot connect: Connection refused"]


def test_a_wrong_password_is_one_line_and_exit_1(config_file: Path, dovecot: DovecotServer) -> None:
    dovecot.users[SUPPORT] = "not-the-password"
    config = _configure(config_file, dovecot, None)
    result = _poll(config, expect=1)
    [error] = [line for line in result.stderr.splitlines() if line.startswith("mailflow: error:")]
    assert error.startswith(f"mailflow: error: imap default (127.0.0.1:{dovecot.port}): login as {SUPPORT} refused")


def test_poll_needs_once_and_a_mailbox(config_file: Path) -> None:
    assert _poll(config_file, expect=2, args=()).exit_code == 2
    assert "no mailbox to poll" in _poll(config_file, expect=1).stderr


def test_plain_text_imap_is_refused_beyond_this_host(config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None)
    config.write_text(config.read_text().replace('host = "127.0.0.1"\nport', 'host = "imap.example.com"\nport'))
    result = _poll(config, expect=1)
    assert result.stderr.strip() == ('mailflow: error: imap.security = "none" sends the password and mail in clear: '
                                     'allowed only to a server on this host (127.0.0.1, ::1, localhost), not '
                                     'imap.example.com; use "ssl" or "starttls"')


# For the daemon: connect once, poll many times, survive a restart, wait in IDLE
def test_one_connection_polls_again_and_again_and_survives_a_server_restart(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    with ImapMailbox(config.imap) as box:
        dovecot.append("INBOX", _mail(1))
        assert box.poll(rt).count(pipeline.NEW) == 1
        assert box.poll(rt).fetched == 0

        dovecot.restart()  # same port; our connection is gone
        dovecot.append("INBOX", _mail(2))
        got: list[pipeline.Outcome] = []
        report = box.poll(rt, on_outcome=got.append)
        assert report.fetched == 1 and [o.source for o in got] == ["imap:default/INBOX#2"]


def _traced(box: ImapMailbox) -> list[str]:
    """What imaplib hands its trace logger on ``box``'s connection, from now on."""
    lines: list[str] = []
    box.client._imap._mesg = lambda line: lines.append(str(line))  # type: ignore[union-attr]
    return lines


def test_fetched_mail_is_not_formatted_for_a_protocol_trace_nobody_reads(
        config_file: Path, dovecot: DovecotServer) -> None:
    # IMAPClient turns imaplib's trace on (level 5) and a logger throws the lines away: the repr of
    # every mail fetched, made twice, was six sevenths of a bare fetch's time.
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    marker = "TRACE-MARKER-" + "x" * 40
    dovecot.append("INBOX", _mail(1, subject=marker))
    with ImapMailbox(config.imap) as box:
        lines = _traced(box)
        assert box.poll(rt).count(pipeline.NEW) == 1
    assert not [line for line in lines if marker in line]


def test_the_protocol_trace_is_still_there_for_whoever_turns_it_on(
        config_file: Path, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    dovecot.append("INBOX", _mail(1))
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    with ImapMailbox(config.imap) as box:
        assert box.poll(rt).count(pipeline.NEW) == 1
    trace = [r.getMessage() for r in caplog.records if r.name == "imapclient.imaplib"]
    assert any("FETCH" in line for line in trace)
    assert any("poll.1@huaxin.example" in line for line in trace)  # the mail itself, as fetched
    password = dovecot.users[SUPPORT]
    assert not any(password in line for line in trace)  # IMAPClient still redacts the login


def test_mailflow_imap_trace_shows_the_conversation_on_stderr_without_the_password(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None)
    dovecot.append("INBOX", _mail(1))
    mailflow = Path(sys.executable).parent / "mailflow"
    env = {**os.environ, "MAILFLOW_NOW": NOW.isoformat(), "MAILFLOW_IMAP_TRACE": "1"}
    done = subprocess.run([str(mailflow), "--config", str(config), "poll", "--once"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    trace = [line for line in done.stderr.splitlines() if " imap " in line]
    assert any("UID FETCH" in line for line in trace) and any("poll.1@huaxin.example" in line for line in trace)
    assert any("LOGIN" in line and "**REDACTED**" in line for line in trace)
    assert dovecot.users[SUPPORT] not in done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("fetched 1 / new 1")


def test_idle_wait_wakes_up_when_mail_arrives(config_file: Path, dovecot: DovecotServer) -> None:
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    with ImapMailbox(config.imap) as box:
        assert box.poll(rt).fetched == 0
        assert box.idle_wait(0.2) is False  # nothing came

        timer = threading.Timer(0.3, dovecot.append, ("INBOX", _mail(1)))
        timer.start()
        started = time.monotonic()
        assert box.idle_wait(10) is True
        assert time.monotonic() - started < 5
        timer.join()
        assert box.poll(rt).count(pipeline.NEW) == 1

        dovecot.append("INBOX", _mail(2))  # arrives between a poll and the next IDLE: not missed
        assert box.idle_wait(10) is True


def test_mail_landing_between_select_and_idle_is_announced_at_once(config_file: Path, dovecot: DovecotServer,
                                                                    monkeypatch) -> None:
    """Dovecot announces such mail right after "+ idling", often in the same packet.

    imapclient's ``idle_check`` polls the socket, which is empty once imaplib
    has read both lines into its buffer; the wait must look there first, or
    the mail waits for the next keepalive (the daemon's CI flake).
    """
    config = load_config(_configure(config_file, dovecot, None))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    with ImapMailbox(config.imap) as box:
        assert box.poll(rt).fetched == 0
        selected = ImapMailbox._select

        def select_then_deliver(self):
            answer = selected(self)
            dovecot.append("INBOX", _mail(3))  # after UIDNEXT was read, before IDLE
            return answer

        monkeypatch.setattr(ImapMailbox, "_select", select_then_deliver)
        started = time.monotonic()
        assert box.idle_wait(20) is True
        assert time.monotonic() - started < 5


# Configuration of mailboxes
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[mailboxes]]\nhost = "imap.example.com"\n', "m.toml: mailboxes[0].name: required"),
        ('[[mailboxes]]\nname = "bugs"\n', "m.toml: mailboxes[0].host: required"),
        ('[[mailboxes]]\nname = "bugs"\nhost = "h.example.com"\nprot = 1\n', "m.toml: unknown key mailboxes[0].prot"),
        ('[imap]\nhost = "a.example.com"\n[[mailboxes]]\nname = "default"\nhost = "b.example.com"\n',
         "m.toml: mailboxes[0].name: 'default' is already the name of another mailbox"),
        ('[[mailboxes]]\nname = "bugs/x"\nhost = "h.example.com"\n', "m.toml: mailboxes[0].name: 'bugs/x': use letters"),
        ('[imap]\nhost = "a.example.com"\nprocessed_folder = "INBOX"\n',
         "m.toml: imap.processed_folder: must differ from folder 'INBOX'"),
        ('[imap]\nhost = "a.example.com"\nusername = "u@example.com"\n[imap.oauth2]\ntoken_cmd = "x"\n',
         "m.toml: unknown key imap.oauth2.token_cmd"),
        ('[imap]\nhost = "a.example.com"\n[imap.oauth2]\ntoken_command = "x"\n',
         "m.toml: imap.username: required with oauth2"),
        ("[[mailboxes]]\nname = \"bugs\"\nhost = \"h.example.com\"\nsecurity = \"tls\"\n",
         "m.toml: mailboxes[0].security: expected one of ssl, starttls, none, got 'tls'"),
    ],
)
def test_every_mailbox_mistake_is_one_line_naming_the_key(tmp_path: Path, monkeypatch, text: str,
                                                          message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config("m.toml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_example_config_describes_two_mailboxes_and_xoauth2() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert [box.name for box in config.imap_mailboxes] == ["support", "bugs"]
    bugs = config.imap_mailboxes[1]
    assert bugs.oauth2.token_command and bugs.username
    assert bugs.oauth2.token_file == "" and config.imap.oauth2.enabled is False


def test_a_mailbox_on_a_dead_server_does_not_stop_the_others(config_file: Path, dovecot: DovecotServer) -> None:
    config = load_config(_configure(config_file, dovecot, None, mailboxes="""
[[mailboxes]]
name = "bugs"
host = "127.0.0.1"
port = 1
security = "none"
username = "bugs@vendor.example.com"
"""))
    dovecot.append("INBOX", _mail(1))
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    report = poll_all(rt)
    assert report.fetched == 1 and report.mailboxes == ("default", "bugs")
    assert report.errors == ("imap bugs (127.0.0.1:1): cannot connect: Connection refused",)


def test_a_stop_ends_the_poll_between_two_groups_and_leaves_the_other_mailboxes_alone(
        config_file: Path, dovecot: DovecotServer) -> None:
    path = _configure(config_file, dovecot, None, mailboxes=mailbox_table(dovecot))
    config = load_config(path)
    dovecot.append_many("INBOX", [_mail(n, sender=f"user{n}@huaxin.example") for n in range(1, 151)])
    dovecot.append("INBOX", _mail(999, sender="max@northwind.example.com"), user=BUGS)
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: NOW)
    stop = threading.Event()

    report = poll_all(rt, on_outcome=lambda _: stop.set(), stop=stop)  # asked to stop during the first group
    assert report.fetched == pipeline.BATCH_MAILS  # that group is finished, the next is not begun
    assert report.lines == ("default/INBOX: stopped; 50 mail(s) left for the next poll", "bugs: not polled: stopped")

    again = poll_all(rt)
    assert again.fetched == 51 and again.count(pipeline.DUPLICATE) == 0  # each left mail once, none twice
    assert len(_incoming(path)) == 151


# XOAUTH2: where the token comes from, and a second try with a fresh one
def _token_command(tmp_path: Path) -> str:
    """A stand-in for an OAuth helper: prints token-1, then token-2, … (one more each run)."""
    script = tmp_path / "fetch-token"
    script.write_text('#!/bin/sh\nn=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$1"\n'
                      'printf "token-%s\\n" "$n"\n')
    script.chmod(0o755)
    return f"{script} {tmp_path / 'count'}"


def test_an_xoauth2_token_comes_from_a_command_and_is_fetched_again_only_when_refused(tmp_path: Path) -> None:
    from mailflow.config import OAuth2Config
    from mailflow.fetch.oauth2 import TokenSource

    tokens = TokenSource(OAuth2Config(token_command=_token_command(tmp_path)))
    assert tokens.token() == "token-1"
    assert tokens.token() == "token-1"  # kept while the server takes it
    assert tokens.token(refresh=True) == "token-2"


def test_an_xoauth2_token_can_come_from_a_file_kept_fresh_by_another_tool(tmp_path: Path) -> None:
    from mailflow.config import OAuth2Config
    from mailflow.fetch.oauth2 import TokenSource

    (tmp_path / "token").write_text("ya29.first\n")
    tokens = TokenSource(OAuth2Config(token_file=str(tmp_path / "token")))
    assert tokens.token() == "ya29.first"
    (tmp_path / "token").write_text("ya29.second\n")
    assert tokens.token() == "ya29.first" and tokens.token(refresh=True) == "ya29.second"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo 'invalid_grant: refresh token expired' >&2; exit 3",
         "imap.oauth2.token_command: exited with status 3: invalid_grant: refresh token expired"),
        ("true", "imap.oauth2.token_command: gave an empty token"),
        ("echo 'two words'", "imap.oauth2.token_command: the token must be one word"),
    ],
)
def test_a_token_command_that_fails_is_one_line(command: str, message: str) -> None:
    from mailflow.config import OAuth2Config
    from mailflow.fetch.oauth2 import TokenError, TokenSource

    with pytest.raises(TokenError) as err:
        TokenSource(OAuth2Config(token_command=command)).token()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_xoauth2_login_retries_once_with_a_fresh_token_when_the_server_refuses(tmp_path: Path) -> None:
    from imapclient.exceptions import LoginError

    from mailflow.config import ImapConfig, OAuth2Config
    from mailflow.fetch.connect import FetchError, login
    from mailflow.fetch.oauth2 import TokenSource

    class Server:  # only the one call login() makes; the real exchange is IMAPClient's
        def __init__(self, accepts: set[str]) -> None:
            self.accepts, self.tried = accepts, []

        def oauth2_login(self, user: str, token: str) -> None:
            self.tried.append((user, token))
            if token not in self.accepts:
                raise LoginError("[AUTHENTICATIONFAILED] Invalid credentials (Failure)")

    config = ImapConfig(host="imap.example.net", username="bugs@example.com",
                        oauth2=OAuth2Config(token_command=_token_command(tmp_path)))
    tokens = TokenSource(config.oauth2)
    expired = Server(accepts={"token-2"})
    login(expired, config, password=None, tokens=tokens)  # type: ignore[arg-type]
    assert expired.tried == [("bugs@example.com", "token-1"), ("bugs@example.com", "token-2")]

    revoked = Server(accepts=set())
    with pytest.raises(FetchError) as err:
        login(revoked, config, password=None, tokens=tokens)  # type: ignore[arg-type]
    assert len(revoked.tried) == 2
    assert str(err.value) == ("imap default (imap.example.net:993): XOAUTH2 login as bugs@example.com refused, "
                              "with a fresh token too: [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
