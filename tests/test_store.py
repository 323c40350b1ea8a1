"""The store: migrations, requirement numbers, times — on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect

from mailflow.record.ids import next_requirement_id
from mailflow.store.session import is_current, open_store
from mailflow.store.tables import Event, Requirement

from conftest import SHANGHAI


def test_a_fresh_database_is_brought_to_the_newest_schema_by_alembic(db_url: str) -> None:
    store = open_store(db_url)
    names = set(inspect(store.engine).get_table_names())
    assert {"requirements", "messages", "attachments", "events", "outbox", "sequences", "customers", "staff",
            "alembic_version"} <= names
    assert is_current(store.engine)
    store.close()


def test_ids_follow_the_month_and_restart_each_month(db_url: str) -> None:
    store = open_store(db_url)
    with store.session() as s:
        ids = [next_requirement_id(s, datetime(2026, 11, d, 9, tzinfo=SHANGHAI)) for d in (1, 2, 30)]
        ids.append(next_requirement_id(s, datetime(2026, 12, 1, 0, 5, tzinfo=SHANGHAI)))
    assert ids == ["REQ-202611-001", "REQ-202611-002", "REQ-202611-003", "REQ-202612-001"]
    store.close()


def test_the_sequence_grows_past_999(db_url: str) -> None:
    store = open_store(db_url)
    when = datetime(2026, 11, 5, tzinfo=SHANGHAI)
    with store.session() as s:
        for _ in range(999):
            next_requirement_id(s, when)
        assert next_requirement_id(s, when) == "REQ-202611-1000"
    store.close()


def test_a_rolled_back_mail_gives_its_number_back(db_url: str) -> None:
    store = open_store(db_url)
    when = datetime(2026, 11, 5, tzinfo=SHANGHAI)
    try:
        with store.session() as s:
            next_requirement_id(s, when)
            raise RuntimeError("mail failed half-way")
    except RuntimeError:
        pass
    with store.session() as s:
        assert next_requirement_id(s, when) == "REQ-202611-001"
    store.close()


def test_concurrent_writers_never_share_a_number(db_url: str) -> None:
    store = open_store(db_url)
    when = datetime(2026, 11, 5, tzinfo=SHANGHAI)
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            with store.session() as s:
                rid = next_requirement_id(s, when)
            with lock:
                got.append(rid)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"REQ-202611-{n:03d}" for n in range(1, 41)]
    store.close()


def test_times_come_back_aware_and_in_utc(db_url: str) -> None:
    store = open_store(db_url)
    local = datetime(2026, 11, 23, 10, 15, tzinfo=SHANGHAI)
    with store.session() as s:
        s.add(Requirement(id="REQ-202611-001", submitter_email="a@huaxin.example", submitted_at=local,
                          created_at=local, updated_at=local))
        s.flush()
        s.add(Event(requirement_id="REQ-202611-001", at=local, actor="x", kind="created"))
    with store.session() as s:
        req = s.get(Requirement, "REQ-202611-001")
        assert req.submitted_at == local
        assert req.submitted_at.tzinfo is not None
        assert req.submitted_at.utcoffset() == timezone.utc.utcoffset(None)
    store.close()


def test_times_are_written_to_sqlite_as_sqlalchemy_would_write_them() -> None:
    """The fast bind processor makes the very text SQLite's DATETIME makes, so old rows compare and sort."""
    from datetime import timedelta

    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    from mailflow.store.tables import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    stock = DateTime().dialect_impl(dialect).bind_processor(dialect)
    zones = (timezone.utc, SHANGHAI, timezone(timedelta(hours=-9, minutes=-30)))
    moments = [datetime(2026, 11, 23, 10, 15, tzinfo=SHANGHAI), datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
               datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), datetime(2024, 2, 29, 0, 0, tzinfo=zones[2]),
               *(datetime(2026, 3, 1, 7, 0, 0, micro, tzinfo=zone) for micro in (0, 1, 500000) for zone in zones)]
    for moment in moments:
        assert ours(moment) == stock(moment.astimezone(timezone.utc).replace(tzinfo=None)), moment
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))


def test_json_columns_are_written_as_json_dumps_would_write_them() -> None:
    import json

    from mailflow.store.session import json_text

    for value in ([], ["li.wei@vendor.example.com"], ["王堃 <wang.kun@huaxin.example>", 'a"b\\c', "tab\tnl\n", "\u2028é"],
                  [1, 2], {"a": [1]}, None, "text", [["nested"]], ["a", None]):
        assert json_text(value) == json.dumps(value), value


def test_the_migrations_build_exactly_the_schema_the_models_describe(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mailflow.store.tables import Base

    store = open_store(db_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.close()


def test_a_lease_has_one_holder_until_it_is_released_or_expires(db_url: str) -> None:
    from datetime import timedelta

    from mailflow.store.leases import acquire, release

    store = open_store(db_url)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    ttl = timedelta(seconds=60)
    assert acquire(store, "imap:support", "a", now=now, ttl=ttl)
    assert not acquire(store, "imap:support", "b", now=now, ttl=ttl)
    assert acquire(store, "imap:support", "a", now=now + timedelta(seconds=30), ttl=ttl)  # renewed
    assert not acquire(store, "imap:support", "b", now=now + timedelta(seconds=80), ttl=ttl)
    assert acquire(store, "imap:support", "b", now=now + timedelta(seconds=91), ttl=ttl)  # a stopped renewing
    release(store, "imap:support", "b")
    assert acquire(store, "imap:support", "a", now=now + timedelta(seconds=92), ttl=ttl)
    assert acquire(store, "imap:bugs", "b", now=now, ttl=ttl)  # leases are per name
    store.close()


def test_the_schema_head_constant_is_alembics_head() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from mailflow.store.session import MIGRATIONS, SCHEMA_HEAD

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_mail_without_message_id_is_stored_once_and_old_copies_survive_the_upgrade(db_url: str) -> None:
    """The content hash of mail without Message-ID is a unique key from 0007 on; copies a race made
    before are kept, renamed, never deleted."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from mailflow.store.session import _alembic_config, make_engine

    engine = make_engine(db_url)
    command.upgrade(_alembic_config(engine), "0006")
    insert = text("INSERT INTO messages (content_hash, direction, status, reason, from_addr, to_addrs, subject, at, "
                  "source, raw) VALUES (:h, 'in', 'ok', '', '', '[]', '', :at, '', :raw)")
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with engine.begin() as conn:
        for _ in range(2):
            conn.execute(insert, {"h": "abc", "at": at, "raw": b"x"})
    command.upgrade(_alembic_config(engine), "head")
    with engine.connect() as conn:
        hashes = sorted(conn.execute(text("SELECT content_hash FROM messages")).scalars())
    assert hashes[0] == "abc" and hashes[1].startswith("abc:copy-") and len(hashes) == 2
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"h": "abc", "at": at, "raw": b"x"})
    engine.dispose()


def test_a_relaxed_commit_is_committed_and_leaves_the_connection_as_it_was(db_url: str) -> None:
    """``Store.relaxed`` (the sender's ``sent`` marks) skips the wait for the disk, for its own transaction only."""
    from sqlalchemy import text

    store = open_store(db_url)
    sqlite = db_url.startswith("sqlite")
    setting = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
    with store.engine.connect() as conn:
        normal = conn.exec_driver_sql(setting).scalar()
    with store.relaxed() as conn:
        if not sqlite:
            assert conn.exec_driver_sql(setting).scalar() == "off"
        conn.execute(text("INSERT INTO sequences (period, last) VALUES ('209901', 7)"))
    with pytest.raises(RuntimeError):
        with store.relaxed() as conn:
            conn.execute(text("INSERT INTO sequences (period, last) VALUES ('209902', 1)"))
            raise RuntimeError("a failure inside")
    for _ in range(3):  # whichever pooled connection comes next has the usual setting
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql(setting).scalar() == normal
            periods = conn.execute(text("SELECT period FROM sequences WHERE period LIKE '2099%'")).scalars().all()
            assert periods == ["209901"]
    store.close()


def test_several_processes_starting_on_a_new_sqlite_file_all_get_the_schema(tmp_path) -> None:  # noqa: ANN001
    """A service manager starts the workers together; on SQLite a migrator that finds the file
    changed under it fails at once, whatever the busy timeout, so they take turns (a lock on a file
    beside the database) and the ones after the first find the schema made."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    code = ("import sys; from mailflow.store.session import open_store, is_current; "
            "s = open_store(sys.argv[1]); assert is_current(s.engine); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [(proc.returncode, out.strip()) for proc, (out, _) in zip(procs, results)] == [(0, "ok")] * 4, results


def test_a_new_sqlite_database_has_large_pages_and_every_connection_a_large_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Raw mail over many small pages was most of what SQLite wrote; see SQLITE_PAGE_BYTES."""
    from mailflow.store.session import SQLITE_CACHE_KIB, SQLITE_PAGE_BYTES

    store = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    for _ in range(2):
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_BYTES == 16384
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    store.close()


def test_a_database_made_with_small_pages_keeps_them_and_still_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    made = sqlite3.connect(path)  # as SQLite made them before: 4 KB pages, already in WAL mode
    made.execute("PRAGMA page_size=4096")
    made.execute("PRAGMA journal_mode=WAL")
    made.execute("CREATE TABLE kept (x)")
    made.execute("INSERT INTO kept VALUES (1)")
    made.commit()
    made.close()
    store = open_store(f"sqlite:///{path}")  # brought to the newest schema beside the old table
    with store.session() as s:
        assert next_requirement_id(s, datetime(2026, 11, 5, tzinfo=SHANGHAI)) == "REQ-202611-001"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT x FROM kept").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    store.close()


def test_workers_started_together_on_a_new_sqlite_file_all_start(tmp_path: Path) -> None:
    """Switching a new file into WAL made SQLite answer "database is locked" at once, without waiting,
    to a second process doing the same: about one start in ten failed. Ten rounds of four at once,
    each process ready (imports done) before any opens the file."""
    opening = ("import os, sys, time\nfrom mailflow.store.session import open_store\n"
               "open(sys.argv[2] + '.ready-' + str(os.getpid()), 'w').close()\n"
               "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
               "open_store(sys.argv[1]).close()\n")
    for round_ in range(10):
        url, go = f"sqlite:///{tmp_path / f'round{round_}.db'}", tmp_path / f"go{round_}"
        starts = [subprocess.Popen([sys.executable, "-c", opening, url, str(go)], stderr=subprocess.PIPE, text=True)
                  for _ in range(4)]
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob(f"go{round_}.ready-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        failed = [err for start in starts if (err := start.communicate(timeout=120)[1]) and start.returncode]
        assert not failed, failed[0][-600:]


def test_raw_mail_is_compressed_with_lz4_on_postgresql(db_url: str) -> None:
    """pglz, PostgreSQL's default, was a fifth of ingest's time there (migration 0012)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("column compression is PostgreSQL's; SQLite stores the bytes as they are")
    from sqlalchemy import text

    store = open_store(db_url)
    with store.engine.connect() as conn:
        if conn.dialect.server_version_info < (14,) or "lz4" not in conn.execute(
                text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar():
            pytest.skip("this PostgreSQL has no lz4: the migration leaves the columns alone")
        methods = dict(conn.execute(text(
            "SELECT c.relname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attname = 'raw' AND c.oid IN (to_regclass('messages'), to_regclass('outbox'))")).all())
    assert methods == {"messages": "l", "outbox": "l"}
    store.close()
