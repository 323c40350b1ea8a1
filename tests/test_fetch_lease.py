"""One poller per mailbox: `poll --once` takes the lease `run` takes, and leaves a held mailbox alone."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.cli import cli as mailflow_cli
from mailflow.config import ImapConfig, load_config
from mailflow.fetch.lease import MAILBOX_LEASE, LeaseLost, MailboxLease, lease_name
from mailflow.store.leases import acquire
from mailflow.store.session import open_store

from conftest import NOW
from dovecot_server import DovecotServer
from dovecot_server import configure_mailbox as _configure
from test_fetch_imap import SEEN, _mail, _summary

OTHER = "mx2.vendor.example.com:4242:imap:default"  # a `mailflow run` on another host


def _poll(config: Path, minutes: float = 0):  # noqa: ANN202
    now = NOW + timedelta(minutes=minutes)
    return CliRunner().invoke(mailflow_cli, ["--config", str(config), "poll", "--once"], obj={},
                              env={"MAILFLOW_NOW": now.isoformat()})


def test_a_mailbox_another_instance_polls_is_left_to_it_and_taken_once_its_lease_runs_out(
        config_file: Path, dovecot: DovecotServer) -> None:
    config = _configure(config_file, dovecot, None)
    loaded = load_config(config)
    store = open_store(loaded.database_url)
    assert acquire(store, lease_name(loaded.imap), OTHER, now=NOW, ttl=MAILBOX_LEASE)
    dovecot.append("INBOX", _mail(1))

    held = _poll(config, minutes=1)
    assert held.exit_code == 0, held.output  # not an error: the mailbox is being polled
    assert _summary(held)["fetched"] == 0
    assert f"default: {OTHER} is polling this mailbox; left to it" in held.stderr
    assert not any(SEEN in flags for flags in dovecot.flags().values())  # untouched

    later = _poll(config, minutes=3)  # the other instance stopped renewing two minutes ago
    assert later.exit_code == 0, later.output
    assert _summary(later)["new"] == 1
    assert acquire(store, lease_name(loaded.imap), OTHER, now=NOW + timedelta(minutes=3), ttl=MAILBOX_LEASE)
    store.close()  # the poll gave its lease back when it was done: the other instance has it again at once


def test_a_poll_renews_its_lease_and_stops_when_another_instance_took_over(db_url: str) -> None:
    store = open_store(db_url)
    box = ImapConfig(name="bugs")
    clock = [NOW]
    ours = MailboxLease(store, box, "host-a:1:poll", lambda: clock[0], ttl=timedelta(seconds=3))
    theirs = MailboxLease(store, box, "host-b:2:imap:bugs", lambda: clock[0], ttl=timedelta(seconds=3))
    assert ours.take() and not theirs.take()
    assert theirs.holder_now() == "host-a:1:poll"

    ours.keep()  # less than a third of the lease has gone by: nothing to do
    time.sleep(1.1)
    clock[0] += timedelta(seconds=2)
    ours.keep()  # renewed: still ours two seconds later, past the first expiry
    clock[0] += timedelta(seconds=2)
    assert not theirs.take()

    clock[0] += timedelta(seconds=4)  # we stalled past the lease; they took it
    assert theirs.take()
    time.sleep(1.1)
    with pytest.raises(LeaseLost, match="host-b:2:imap:bugs took this mailbox over"):
        ours.keep()
    store.close()


def test_a_lease_that_cannot_be_given_back_runs_out_and_hides_nothing(
        db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The database failing as the poll ends must not replace why the poll ended with its own error."""
    from sqlalchemy.exc import OperationalError

    from mailflow.fetch import lease as lease_module

    store = open_store(db_url)
    ours = MailboxLease(store, ImapConfig(name="bugs"), "host-a:1:poll", lambda: NOW)
    assert ours.take()

    def database_down(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OperationalError("UPDATE leases", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(lease_module, "release", database_down)
    ours.give_back()  # no exception
    assert "imap:bugs: could not give the lease back (server closed the connection unexpectedly); " \
           "it runs out in 0:02:00" in caplog.text
    store.close()


def test_two_polls_started_together_fetch_each_mail_once_between_them(
        config_file: Path, dovecot: DovecotServer) -> None:
    """Cron on two hosts, or a run still busy with the last backlog: one polls, the other leaves it alone."""
    import os
    import subprocess
    import sys

    from test_fetch_imap import generate

    config = _configure(config_file, dovecot, None)
    dovecot.append_many("INBOX", generate(200, seed=3))
    mailflow = Path(sys.executable).parent / "mailflow"
    env = {**os.environ, "MAILFLOW_NOW": NOW.isoformat()}
    polls = [subprocess.Popen([str(mailflow), "--config", str(config), "poll", "--once"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    said = [poll.communicate(timeout=120) for poll in polls]
    assert [poll.returncode for poll in polls] == [0, 0], said
    summaries = [{part.rsplit(" ", 1)[0].strip(): int(part.rsplit(" ", 1)[1])
                  for part in out.strip().splitlines()[-1].split(" / ")} for out, _ in said]
    assert sorted(s["fetched"] for s in summaries) == [0, 200]  # without the lease both fetched, as duplicates
    assert [s["duplicates"] for s in summaries] == [0, 0]
    assert all(SEEN in flags for flags in dovecot.flags().values())


def test_the_service_stands_back_mid_backlog_when_another_instance_took_its_mailbox(
        config_file: Path, dovecot: DovecotServer) -> None:
    """`mailflow run` renews through a backlog with the same lease as `poll --once`; taken over, it stops
    after the batch in hand (committed and flagged) and stands back, rather than retrying as if the poll failed."""
    import threading

    from mailflow import daemon, pipeline
    from mailflow.fetch.imap import ImapMailbox

    config = load_config(_configure(config_file, dovecot, None))
    clock = [NOW]
    rt = pipeline.load_runtime(config, open_store(config.database_url), clock=lambda: clock[0])
    dovecot.append_many("INBOX", [_mail(n) for n in range(pipeline.BATCH_MAILS + 20)])
    ours = MailboxLease(rt.store, config.imap, "host-a:1:imap:default", rt.clock, ttl=timedelta(seconds=3))
    theirs = MailboxLease(rt.store, config.imap, OTHER, rt.clock, ttl=timedelta(seconds=3))
    assert ours.take()
    time.sleep(1.1)  # a third of the lease gone: the next mail renews it
    clock[0] += timedelta(seconds=4)  # ... too late: this instance stalled past its lease
    assert theirs.take()

    with ImapMailbox(config.imap) as box, pytest.raises(daemon._LeaseLost):
        daemon._poll(rt, box, threading.Event(), threading.Event(), ours)
    flagged = [uid for uid, flags in dovecot.flags().items() if SEEN in flags]
    assert len(flagged) == pipeline.BATCH_MAILS  # the batch in hand was finished; the rest is left to the holder
    assert theirs.holder_now() == OTHER
    rt.store.close()
