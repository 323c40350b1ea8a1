"""Several workers on one PostgreSQL database, as a specification.

The same code runs on ``postgresql+psycopg://`` as on SQLite, and any number
of workers may share the database: one poller per mailbox (a lease), outbox
rows claimed with ``SELECT … FOR UPDATE SKIP LOCKED``, requirement numbers
from a row-locked sequence, duplicates recognised by Message-ID. Here four
real ``mailflow run`` processes (and four ``mailflow ingest`` processes) work
at once, and every mail must come out processed, stored and answered exactly
once — read back from the SMTP server's wire capture, the database and the
IMAP server, never from mailflow's own counters alone. Mail that only its
content identifies (no Message-ID; junk that is quarantined) must be stored
once too.

PostgreSQL only: SQLite serialises writers, so the races these tests look
for cannot happen there. Under CI PostgreSQL must be there (the conftest
fails when it is unreachable, and these tests fail when
MAILFLOW_TEST_DATABASE_URL is not set); elsewhere they are skipped.

Four SLA ticks at once are covered by
``tests/test_sla_tick.py::test_two_workers_ticking_at_once_send_one_reminder``
(four runtimes ticking together on PostgreSQL: one reminder).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from mailflow.store.tables import Message, Outbox, Requirement, Sequence

from dovecot_server import BUGS, DovecotServer, mailbox_table
from dovecot_server import configure_mailbox as _configure
from smtp_sink import SmtpSink

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from generate import generate, write  # noqa: E402

WORKERS = 4
MAIL = Path(__file__).resolve().parent / "data" / "mail"
REQ_ID = re.compile(r"REQ-(\d{6})-(\d{3,})")


# Helpers
@pytest.fixture
def pg_url(db_url: str) -> str:
    """The PostgreSQL URL; asked for first, so the SQLite run is skipped before any server starts."""
    if not db_url.startswith("postgresql"):
        if os.environ.get("CI") and not os.environ.get("MAILFLOW_TEST_DATABASE_URL"):  # never skip silently in CI
            pytest.fail("MAILFLOW_TEST_DATABASE_URL is not set under CI: the worker tests need PostgreSQL")
        pytest.skip("several workers on one database needs PostgreSQL (set MAILFLOW_TEST_DATABASE_URL); "
                    "SQLite serialises writers, so there is no race to test")
    return db_url


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _env() -> dict[str, str]:
    """The real clock (no MAILFLOW_NOW): a daemon lives in real time."""
    return {k: v for k, v in os.environ.items() if k != "MAILFLOW_NOW"}


def _mailflow(config: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mailflow.cli", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True, **kwargs)


def _until(check: Callable[[], bool], seconds: float, what: Callable[[], str]) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what()}")


def _header(raw: bytes, name: str) -> str | None:
    value = message_from_bytes(raw, policy=policy.compat32)[name]
    return str(value).strip() if value is not None else None


def _scalar(engine: Engine, stmt, default=0):  # noqa: ANN001
    """A count while the workers may still be creating the schema (no table yet: ``default``)."""
    try:
        with engine.connect() as conn:
            return conn.scalar(stmt)
    except Exception:  # noqa: BLE001  (the first worker is still migrating)
        return default


def _missing(engine: Engine, sink: SmtpSink) -> str:
    """The outbox rows whose Message-ID the SMTP server has not seen, one line each."""
    wire = {str(r.message["Message-ID"]) for r in sink.received}
    with engine.connect() as conn:
        rows = conn.execute(select(Outbox.id, Outbox.message_id, Outbox.kind, Outbox.template, Outbox.status,
                                   Outbox.attempts, Outbox.next_attempt_at, Outbox.sent_at, Outbox.reason)
                            .order_by(Outbox.id)).all()
    return "\n".join(f"  outbox {r.id} {r.message_id} {r.kind} {r.template}: status={r.status} "
                     f"attempts={r.attempts} next_attempt_at={r.next_attempt_at} sent_at={r.sent_at} "
                     f"reason={r.reason!r}" for r in rows if r.message_id not in wire)


def _requirement_numbers(ids: list[str]) -> dict[str, list[int]]:
    """REQ-YYYYMM-NNN ids -> {period: [numbers]}; every id must have that form."""
    numbers: dict[str, list[int]] = {}
    for rid in ids:
        match = REQ_ID.fullmatch(rid)
        assert match, f"requirement id {rid!r} is not REQ-YYYYMM-NNN"
        numbers.setdefault(match[1], []).append(int(match[2]))
    return numbers


class Worker:
    """One `mailflow run --log-format json` process; its log is read on a thread so waits can time out."""

    def __init__(self, config: Path) -> None:
        self.proc = _mailflow(config, "run", "--log-format", "json")
        self.records: list[dict] = []
        self.other: list[str] = []  # anything on stderr that is not a JSON log record (a traceback)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                self.other.append(line)

    def said(self, text: str) -> bool:
        return any(text in r.get("message", "") for r in list(self.records))

    def log(self) -> str:
        lines = [f"{r.get('level')} [{r.get('thread')}] {r.get('message')}" for r in list(self.records)]
        return "\n".join(lines + [line.rstrip() for line in self.other])

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # by its PID, never by name

    def wait(self, seconds: float = 20) -> int:
        try:
            self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # hung: by its PID
            self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def workers() -> Iterator[Callable[[Path, int], list[Worker]]]:
    """Start N `mailflow run` processes at once; all are stopped by PID after the test, even a failed one."""
    started: list[Worker] = []

    def start(config: Path, count: int) -> list[Worker]:
        batch: list[Worker | None] = [None] * count
        gate = threading.Barrier(count)

        def launch(i: int) -> None:
            gate.wait()  # the same moment, as a service manager starting a worker pool would
            batch[i] = Worker(config)

        threads = [threading.Thread(target=launch, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        started.extend(w for w in batch if w is not None)
        assert all(w is not None for w in batch), "a worker could not be started"
        return started[-count:]

    yield start
    for one in started:  # SIGTERM to all first, so they stop in parallel
        one.terminate()
    for one in started:
        one.wait()


# 1. Four daemons, two mailboxes
def _split_by_thread(mails: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Alternate threads between the two mailboxes; a reply goes where the mail it answers went.

    A mail threaded by In-Reply-To / References then arrives after its
    parent (UID order in one folder). Mail that threads only by a subject
    tag [REQ-…] may still land on another requirement than the generator
    meant, as the two mailboxes' new requests are numbered as they come:
    what the desk decides may vary from run to run, the exactly-once
    properties asserted here may not.
    """
    box_of: dict[str, int] = {}
    boxes: tuple[list[bytes], list[bytes]] = ([], [])
    roots = 0
    for raw in mails:
        cited = " ".join(filter(None, (_header(raw, "In-Reply-To"), _header(raw, "References")))).split()
        known = [box_of[mid] for mid in cited if mid in box_of]
        if known:
            box = known[0]
        else:
            box, roots = roots % 2, roots + 1
        box_of[_header(raw, "Message-ID") or ""] = box
        boxes[box].append(raw)
    return boxes


def test_four_workers_on_one_database_process_and_send_every_mail_exactly_once(
        pg_url: str, engine: Engine, config_file: Path, dovecot: DovecotServer, smtp_sink: SmtpSink,
        workers) -> None:
    config = _configure(config_file, dovecot, smtp_sink, imap='name = "support"\n',
                        mailboxes=mailbox_table(dovecot, extra="""timeout = 5
processed_folder = "done"

[general]
# A month of mail is replayed in a minute of real time: RFC 3834 flood protection
# (5 automatic replies per address and hour) would rightly hold some acknowledgements.
max_auto_replies_per_hour = 1000
"""))
    mails = generate(150, seed=5)  # new requests (zh/en, GBK, Big5, HTML, attachments), follow-ups, auto-replies
    support, bugs = _split_by_thread(mails)
    assert len(support) > 50 and len(bugs) > 50
    assert sum(1 for m in mails if _header(m, "In-Reply-To")) >= 10  # follow-ups are part of the mix
    # Most mail waits as a backlog when the workers start; the rest arrives while they idle.
    dovecot.append_many("INBOX", support[:-15])
    dovecot.append_many("INBOX", bugs[:-15], user=BUGS)
    pool = workers(config, WORKERS)

    def logs() -> str:
        return "".join(f"\n--- worker {i} (pid {w.proc.pid}, exit {w.proc.poll()}):\n{w.log()[-4000:]}"
                       for i, w in enumerate(pool))

    _until(lambda: all(w.said(": connected") or w.said("another instance") for w in pool)
           or any(w.proc.poll() is not None for w in pool), 30, lambda: "every worker is up" + logs())
    assert all(w.proc.poll() is None for w in pool), "a worker died at start-up" + logs()
    dovecot.append_many("INBOX", support[-15:])
    dovecot.append_many("INBOX", bugs[-15:], user=BUGS)

    incoming = select(func.count()).select_from(Message).where(Message.direction == "in")
    to_send = select(func.count()).select_from(Outbox).where(Outbox.status != "blocked")
    unsent = select(func.count()).select_from(Outbox).where(Outbox.status == "pending")

    def all_answered() -> bool:
        total = _scalar(engine, to_send)
        return (_scalar(engine, incoming) == len(mails) and total > 0 and _scalar(engine, unsent, -1) == 0
                and len(smtp_sink.received) >= total)

    took = _until(all_answered, 60, lambda: (
        f"every mail stored and answered: {_scalar(engine, incoming)}/{len(mails)} stored, "
        f"{_scalar(engine, unsent)} outbox rows pending, {len(smtp_sink.received)}/{_scalar(engine, to_send)} "
        f"on the wire; outbox rows not on the wire:\n{_missing(engine, smtp_sink)}" + logs()))
    time.sleep(2)  # give a worker that processes or sends twice the chance to show it
    for one in pool:
        one.terminate()
    codes = [one.wait() for one in pool]
    assert codes == [0] * WORKERS, f"every worker stops cleanly on SIGTERM: {codes}" + logs()
    assert all(w.said("mailflow stopped") for w in pool), logs()
    problems = [f"worker {i}: {r.get('level')} [{r.get('thread')}] {r.get('message')} {r.get('exception', '')}"
                for i, w in enumerate(pool) for r in w.records if r.get("level") in ("error", "critical")]
    problems += [f"worker {i}: {line}" for i, w in enumerate(pool) for line in w.other if line.strip()]
    assert not problems, "\n".join(problems)

    # One poller per mailbox: exactly one worker connected to each; the others waited for the lease.
    for name in ("support", "bugs"):
        pollers = [i for i, w in enumerate(pool) if w.said(f"{name}: connected")]
        assert len(pollers) == 1, f"{name} was polled by workers {pollers}" + logs()
    assert sum(w.said("another instance polls this mailbox") for w in pool) >= WORKERS - 2, logs()

    # Every mail processed once: one outcome line per IMAP source over all four logs, none a duplicate.
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for w in pool:
        for r in w.records:
            m = re.match(r"(imap:(?:support|bugs)/INBOX#\d+): (\w+)", r.get("message", ""))
            if m:
                outcomes[m[1]] += 1
                kinds[m[2]] += 1
    assert len(outcomes) == len(mails) and set(outcomes.values()) == {1}, \
        f"sources processed more than once: {[s for s, n in outcomes.items() if n > 1]}" + logs()
    assert kinds["duplicate"] == 0 and kinds["failed"] == 0 and kinds["new"] > 50, kinds

    with engine.connect() as conn:
        stored = conn.execute(select(Message.message_id, Message.source, Message.status)
                              .where(Message.direction == "in")).all()
        requirement_ids = list(conn.scalars(select(Requirement.id)))
        sequences = dict(conn.execute(select(Sequence.period, Sequence.last)).all())
        rows = conn.execute(select(Outbox.message_id, Outbox.requirement_id, Outbox.template, Outbox.status,
                                   Outbox.attempts, Outbox.sent_at)).all()
        first_mail = dict(conn.execute(
            select(Message.requirement_id, Message.message_id)
            .where(Message.id.in_(select(func.min(Message.id)).where(Message.direction == "in",
                                                                       Message.requirement_id.is_not(None))
                                  .group_by(Message.requirement_id)))).all())
        submitters = dict(conn.execute(select(Requirement.id, Requirement.submitter_email)).all())

    # Every incoming Message-ID stored exactly once, each from its own IMAP source.
    assert Counter(s.message_id for s in stored) == Counter(_header(m, "Message-ID") for m in mails)
    assert len({s.source for s in stored}) == len(mails)
    assert Counter(s.source.split("/")[0] for s in stored) == {"imap:support": len(support), "imap:bugs": len(bugs)}
    assert [s.source for s in stored if s.status == "failed"] == []

    # Requirement ids unique, numbered 1..N in each month with no gap and no number given twice.
    assert len(requirement_ids) == len(set(requirement_ids)) == kinds["new"]
    for period, got in _requirement_numbers(requirement_ids).items():
        assert sorted(got) == list(range(1, len(got) + 1)), f"{period}: numbers {sorted(got)}"
        assert sequences[period] == len(got), f"{period}: sequence at {sequences[period]}, {len(got)} requirements"

    # Every outbox row sent, claimed once (one attempt), and on the wire exactly once; nothing else on the wire.
    # (A row the reply guard held is "blocked": never claimed, never sent.)
    held = [r for r in rows if r.status == "blocked"]
    to_wire = [r for r in rows if r.status != "blocked"]
    assert to_wire and all(r.status == "sent" and r.sent_at is not None for r in to_wire), \
        Counter((r.status, r.template) for r in rows)
    assert [r.message_id for r in to_wire if r.attempts != 1] == [], "outbox rows claimed more than once"
    assert [r.message_id for r in held if r.attempts != 0] == []
    wire = Counter(str(r.message["Message-ID"]) for r in smtp_sink.received)
    assert [mid for mid, n in wire.items() if n > 1] == [], "Message-IDs sent more than once"
    assert set(wire) == {r.message_id for r in to_wire}
    assert len(smtp_sink.received) == len(to_wire)

    # Each client: one acknowledgement per new requirement, and no client mail acknowledged twice.
    template = {r.message_id: r.template for r in rows}
    external = [r for r in smtp_sink.received if r.message["X-Mailflow-Kind"] == "external"]
    acks = Counter(str(r.message["In-Reply-To"]) for r in external
                   if re.search(r"/ack_\w+$", template[str(r.message["Message-ID"])]))
    assert [mid for mid, n in acks.items() if n > 1] == [], "client mails acknowledged twice"
    held_for = {r.requirement_id for r in held}  # its acknowledgement may be among the held
    for rid in requirement_ids:
        if submitters[rid].lower().endswith("@vendor.example.com"):
            # Our own staff's mail naming a requirement not numbered yet (the two mailboxes are numbered
            # as they come, not in the generator's order) opens one: no client to acknowledge.
            continue
        answers = [r for r in external if str(r.message["In-Reply-To"]) == first_mail[rid]]
        if rid in held_for and not answers:
            continue
        assert len(answers) == 1, f"{rid}: {len(answers)} acknowledgements to {first_mail[rid]}"
        assert submitters[rid].lower() in {a.lower() for a in answers[0].rcpt_tos}
        assert str(answers[0].message["X-Mailflow-Requirement"]) == rid

    # IMAP: support's mail flagged \Seen where it lies; bugs' mail moved to "done", each exactly once.
    support_flags = dovecot.flags("INBOX")
    assert len(support_flags) == len(support)
    assert all(b"\\Seen" in flags for flags in support_flags.values())
    assert dovecot.uids("INBOX", user=BUGS) == []
    done = dovecot.messages("done", user=BUGS)
    assert Counter(_header(raw, "Message-ID") for raw in done.values()) == \
        Counter(_header(m, "Message-ID") for m in bugs)
    assert took < 60


# 2. Four ingest processes, one directory
def test_four_ingest_processes_on_the_same_files_store_each_mail_once(
        pg_url: str, engine: Engine, config_file: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    paths = write(inbox, 200, seed=23)
    message_ids = Counter(_header(p.read_bytes(), "Message-ID") for p in paths)
    assert len(message_ids) == 200
    # Two mails only their content identifies, first in the directory (``0000-…`` sorts before ``000000.eml``),
    # so the four workers meet on them: one without a Message-ID, and junk that is quarantined.
    for name in ("no_message_id.eml", "not_an_email.eml"):
        (inbox / f"0000-{name}").write_bytes((MAIL / name).read_bytes())
    count = len(paths) + 2

    gate = threading.Barrier(WORKERS)
    procs: list[subprocess.Popen] = [None] * WORKERS  # type: ignore[list-item]

    def launch(i: int) -> None:
        gate.wait()
        procs[i] = _mailflow(config_file, "ingest", str(inbox))

    threads = [threading.Thread(target=launch, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:  # a hung one is ended by its PID
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report = "".join(f"\n--- ingest {i}: exit {code}\n{out}{err[-3000:]}"
                     for i, (code, out, err) in enumerate(results))
    assert [code for code, _, _ in results] == [0] * WORKERS, report

    with engine.connect() as conn:
        stored = conn.execute(select(Message.message_id, Message.status, Message.source, Message.requirement_id)
                              .where(Message.direction == "in")).all()
        requirement_ids = list(conn.scalars(select(Requirement.id)))
        sequences = dict(conn.execute(select(Sequence.period, Sequence.last)).all())
        acks = conn.execute(select(Outbox.requirement_id, Outbox.template)
                            .where(Outbox.kind == "external")).all()

    # Each mail stored once: once per file, whether it has a Message-ID or only its content to go by.
    by_file = Counter(Path(s.source).name for s in stored)
    twice = {name: sorted(str(s.requirement_id) for s in stored if Path(s.source).name == name)
             for name, n in by_file.items() if n > 1}
    assert twice == {}, f"stored more than once (file: the requirement each copy opened): {twice}" + report
    assert len(stored) == count
    assert Counter(s.message_id for s in stored if s.message_id) == message_ids
    assert [Path(s.source).name for s in stored if s.status == "failed"] == ["0000-not_an_email.eml"]

    # Summed over the four: each mail handled once for real, three times recognised as a duplicate.
    totals: Counter[str] = Counter()
    for _, out, _ in results:
        m = re.search(r"(\d+) mail\(s\): (\d+) new, (\d+) follow-up, (\d+) staff, (\d+) duplicate, "
                      r"(\d+) automated, (\d+) failed", out)
        assert m, report
        for key, value in zip(("mails", "new", "follow_up", "staff", "duplicate", "automated", "failed"),
                              map(int, m.groups())):
            totals[key] += value
    assert totals["mails"] == WORKERS * count, report
    assert totals["failed"] == 1, report  # the junk, quarantined by one worker; a duplicate for the others
    assert totals["duplicate"] == (WORKERS - 1) * count, report
    assert totals["new"] + totals["follow_up"] + totals["staff"] + totals["automated"] == count - 1, report

    # Requirement ids unique; numbers a losing worker rolled back may be skipped, never given twice.
    assert len(requirement_ids) == len(set(requirement_ids)) == totals["new"]
    for period, got in _requirement_numbers(requirement_ids).items():
        assert len(got) == len(set(got)), f"{period}: a number given twice"
        assert max(got) <= sequences[period]
    # One acknowledgement per requirement, not one per worker that raced for its mail.
    first = Counter(rid for rid, template in acks if re.search(r"/(ack_\w+|redirect_service)$", template))
    assert set(first) == set(requirement_ids) and set(first.values()) == {1}, first
