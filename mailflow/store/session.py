"""Engine, sessions and schema upgrades.

Commands open the store through ``open_store`` so a fresh SQLite file is
brought to the current schema by Alembic (the same migrations production
runs with ``mailflow db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import fcntl
except ImportError:  # not on POSIX: concurrent first starts retry instead (below)
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Engine, Executable, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from mailflow.errors import MailflowError

T = TypeVar("T")

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against Alembic's own head by a test, so that
# every start can compare revisions with one SELECT instead of importing
# Alembic (a tenth of the process's memory) just to find nothing to do.
SCHEMA_HEAD = "0013"
_MIGRATION_LOCK = 0x6D61696C666C6F77  # "mailflow": the advisory lock PostgreSQL migrations take


class StoreError(MailflowError):
    """The database cannot be reached or upgraded."""


def db_reason(err: BaseException) -> str:
    """The driver's own words on one line: drivers add hints on extra lines."""
    return " ".join(str(getattr(err, "orig", None) or err).split())


# SQLSTATEs of a transaction the server gave up on because of another one, not because of anything
# in it: deadlock detected, serialization failure. The same work, done again, goes through.
_TRANSIENT = frozenset({"40P01", "40001"})


def is_transient(err: BaseException) -> bool:
    """Whether ``err`` is another worker's transaction in the way: try again instead of stopping.

    Why: workers ingesting the same mail on PostgreSQL wait on each other's
    rows (the month's id sequence, a mail's Message-ID), and now and then
    the server breaks such a cycle by failing one of them.
    """
    orig = getattr(err, "orig", None)
    return getattr(orig, "sqlstate", None) in _TRANSIENT or getattr(orig, "pgcode", None) in _TRANSIENT


def _unreachable(engine: Engine, err: Exception) -> StoreError:
    return StoreError(f"database {engine.url.render_as_string(hide_password=True)}: {db_reason(err)}")


# SQLite's pages and page cache. Every mail is kept raw (tens of KB, stored over a chain of pages)
# beside half a dozen indexed rows, and SQLite's defaults (4 KB pages, a 2 MB cache) made ingesting
# 10,000 generated mails cost 678,000 page writes and 409,000 page reads: index pages fell out of the
# cache between batches and were read back, and each raw mail took a write per 4 KB, twice (the WAL,
# then the checkpoint). With 16 KB pages and an 8 MB cache: 166,000 writes and 75,000 reads, and
# ingest ran 4% faster on a machine whose disk is its page cache. The page size can only be chosen
# when a database is created: one made before keeps its pages and still gets the larger cache.
SQLITE_PAGE_BYTES = 16384
# Per connection, and only as it fills. 16 MB read 54,000 pages instead of 75,000, but took another
# 9 MB of the 200 MB a backlog may use (the 10,000-mail backlog peaked at 178 MB against 167 MB).
SQLITE_CACHE_KIB = 8000
SQLITE_WAIT_SECONDS = 30  # how long a connection waits for another's lock before it gives up


def make_engine(url: str) -> Engine:
    """An engine with the settings concurrent writers need on each backend."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_WAIT_SECONDS}, json_serializer=json_text)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")  # a new, empty database only; else a no-op
            _into_wal(cur)
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute("PRAGMA synchronous=FULL")  # every commit on disk (``Store.relaxed`` says when not)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_SECONDS * 1000}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_text)


def json_text(value: Any) -> str:
    """``json.dumps(value)``, with the JSON columns' usual value (a list of addresses) done in one join.

    Each queued mail writes two or three such lists, and ``json.dumps``
    builds an encoder's chunks for every one of them. The text is the same
    byte for byte (a test holds the two together), so stored values do not
    change.
    """
    if type(value) is list and all(type(item) is str for item in value):
        return "[" + ", ".join(map(_json_string, value)) + "]"
    return json.dumps(value)


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str by default


def _into_wal(cur: sqlite3.Cursor, seconds: float = SQLITE_WAIT_SECONDS) -> None:
    """``PRAGMA journal_mode=WAL``, waited for like any other lock.

    Why: the switch of a new database into WAL needs it alone, and SQLite
    answers "database is locked" at once, without its busy timeout, to a
    connection that finds another one mid-switch. Two workers started
    together on a fresh file failed that way about one time in ten. Once
    the file is in WAL (it stays so), the pragma costs nothing.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> str:
    """Run Alembic migrations to head; returns the head revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine)
    try:
        command.upgrade(cfg, "head")
    except SQLAlchemyError as err:
        raise _unreachable(engine, err) from None
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def is_current(engine: Engine) -> bool:
    """Whether the database is at SCHEMA_HEAD (False for an empty one)."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        except (OperationalError, ProgrammingError) as err:
            if "alembic_version" in str(err):  # no such table: an empty database
                return False
            raise


def _upgrade_once_among_many(engine: Engine, attempts: int = 5) -> None:
    """Upgrade, tolerating other processes that start (and migrate) at the same moment.

    Several workers started together all find an empty database; all but
    one then fail on "table already exists". A failure is retried from
    whatever the others have committed meanwhile, and is an error only if
    the database is still not current after that.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # one migrator at a time; the others find it done
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            try:
                if not is_current(engine):
                    upgrade(engine)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
        return
    database = engine.url.database
    if database and database != ":memory:" and fcntl is not None:
        # SQLite has no advisory lock, and a migrator that finds the file changed under its read
        # fails at once ("database is locked"), whatever the busy timeout: one at a time, by a lock
        # on a file beside the database; the others wait and find it done.
        with open(f"{database}.upgrade-lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not is_current(engine):
                    upgrade(engine)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    for attempt in range(attempts):  # SQLite: no advisory locks; retry from what others committed
        try:
            upgrade(engine)
            return
        except StoreError:
            time.sleep(0.2 * (attempt + 1))
            if is_current(engine):
                return
            if attempt == attempts - 1:
                raise


def pending(session: Session, kind: type[T]) -> list[T]:
    """Rows of ``kind`` added in this transaction but not yet flushed.

    Why: the pipeline asks its questions (seen this mail? which thread?)
    without autoflush, so that a batch of mails is written in one flush
    instead of one per question; a question must then look here as well as
    in the database, or it would miss a mail from earlier in the same batch.
    """
    return [obj for obj in session.new if isinstance(obj, kind)]


def chunks(keys: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """``keys`` sorted, in lists of at most ``size``: one ``IN (...)`` each, far below any backend's
    limit on bound parameters."""
    ordered = sorted(keys)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


_STATE_KEYS = "mailflow.transaction_state"


def transaction_state(session: Session, key: str, make: Callable[[], T]) -> T:
    """What this transaction keeps beside the session under ``key`` (made by ``make`` when first asked).

    Why: rows written at commit (the process log, outgoing mail) and what
    a batch already asked the database must not outlive the transaction
    they belong to; all of them are dropped when it ends, committed or
    rolled back. ``session.info.get(key)`` reads it without making it.
    """
    found = session.info.get(key)
    if found is None:
        found = session.info[key] = make()
        session.info.setdefault(_STATE_KEYS, set()).add(key)
    return found  # type: ignore[no-any-return]


def write_kept_rows(session: Session, key: str, statement: Executable,
                    rows_of: Callable[[Any], list[dict[str, Any]]] = list) -> None:
    """Insert, in one statement, the rows a transaction kept under ``key`` instead of adding ORM objects.

    For a ``before_commit`` listener (also called earlier, when the rows
    must be readable sooner). Why: rows nobody reads back before the commit
    (the process log, the outbox, the messages rows of mail without
    attachments) cost an ORM object
    each, about a tenth of ingest's time per kind, when one executemany
    does. The state is taken, so a second call writes nothing twice; the
    session is flushed first, so the requirements the rows point at exist.
    """
    kept = session.info.pop(key, None)
    rows = rows_of(kept) if kept is not None else []
    if rows:
        session.flush()
        session.connection().execute(statement, rows)


@event.listens_for(Session, "after_transaction_end")
def _drop_transaction_state(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (a savepoint keeps it)
        for key in session.info.pop(_STATE_KEYS, ()):
            session.info.pop(key, None)


class Store:
    """One database: an engine and a session factory, schema at head."""

    def __init__(self, url: str, *, auto_upgrade: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            if auto_upgrade and not is_current(self.engine):
                _upgrade_once_among_many(self.engine)
        except OperationalError as err:
            raise _unreachable(self.engine, err) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def relaxed(self) -> Iterator[Connection]:
        """A transaction whose commit does not wait for the disk.

        Committed is still committed when *this process* dies (SQLite's WAL
        and PostgreSQL both have it before the commit returns); only a crash
        of the machine or the database server may lose it. Only for records
        whose loss repeats harmless work: a mail marked ``sent`` goes once
        more, with the same Message-ID. Waiting for the disk there was half of
        sending's time.
        """
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # a setting of this connection, put back below before the pool has it again
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                conn.commit()  # the pragmas began SQLAlchemy's transaction; the work gets its own
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    yield conn
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA synchronous=FULL")
                    conn.commit()

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open (and if needed upgrade) the database at ``url``."""
    try:
        return Store(url)
    except SQLAlchemyError as err:
        raise StoreError(f"database {url}: {err}") from None
