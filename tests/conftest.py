"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when
MAILFLOW_TEST_DATABASE_URL is set), a fixed clock, and the CLI runner."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

# The real servers, as fixtures for every test module: a loopback SMTP server
# that records what it receives, and a throwaway Dovecot.
from dovecot_server import dovecot  # noqa: E402,F401
from smtp_sink import smtp_sink  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MAIL = DATA / "mail"
DEMO_INBOX = ROOT / "mailflow" / "demo" / "inbox"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday


@contextmanager
def recorded_statements(target: object) -> Iterator[list[str]]:
    """Every SQL statement sent through ``target`` while the block runs, its whitespace folded.

    ``target``: an engine, or ``sqlalchemy.engine.Engine`` for every engine (a command opens its
    own). For the tests that hold a stage to the statements it may run.
    """
    from sqlalchemy import event

    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    event.listen(target, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", seen)


def bench_generator() -> ModuleType:
    """``bench/generate.py``: seeded, real-looking support mail, and what each should become (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("mailflow_bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outbox_to_send(config: Path) -> int:
    """Mails in the outbox of ``config``'s database that are to be sent (a reply the guard held is not one)."""
    from sqlalchemy import func, select

    from mailflow.config import load_config
    from mailflow.store.session import open_store
    from mailflow.store.tables import Outbox

    store = open_store(load_config(config).database_url)
    try:
        with store.session() as session:
            return session.scalar(select(func.count()).select_from(Outbox).where(Outbox.status != "blocked")) or 0
    finally:
        store.close()


def stopped_as_systemd_stops(args: list[str], env: dict[str, str],
                             ready: Callable[[subprocess.Popen[str]], object]) -> tuple[int, str, str]:
    """Run ``args``, wait for ``ready(child)``, then SIGTERM every process it started: (status, stdout, stderr).

    systemd stopping a unit signals every process in it, and Ctrl-C a
    terminal's process group, so a child's own helper processes (the parsing
    process) get the signal too. The child leads a process group of its own,
    named by its PID: only what this test started is signalled.
    """
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        ready(child)
        os.killpg(child.pid, signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return child.returncode, out, err


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("MAILFLOW_TEST_DATABASE_URL") else ["sqlite"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, no PostgreSQL URL would drop every PostgreSQL run without a word: refuse to start."""
    if os.environ.get("CI") and not os.environ.get("MAILFLOW_TEST_DATABASE_URL"):
        pytest.exit("CI is set but MAILFLOW_TEST_DATABASE_URL is not: the storage tests must also run on "
                    "PostgreSQL (.ci/run sets it)", returncode=1)


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database; on PostgreSQL, a throwaway schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailflow.db'}"
        return
    from sqlalchemy import create_engine, text

    base = os.environ["MAILFLOW_TEST_DATABASE_URL"]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as err:  # CI must fail loudly, never skip silently
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {base} unreachable under CI: {err}")
        pytest.skip(f"PostgreSQL unreachable: {err}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def config_file(tmp_path: Path, db_url: str) -> Path:
    """A TOML config using the shipped rules and templates and a fresh database."""
    path = tmp_path / "mailflow.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"

[paths]
rules = "{ROOT / 'rules'}"
templates = "{ROOT / 'reply_templates'}"
attachments = "{tmp_path / 'attachments'}"

[security]
trusted_authserv_ids = ["mx.vendor.example.com"]  # the demo world's border MTA

[smtp]
from_address = "support@vendor.example.com"
from_name = "Vendor Support"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli(config_file: Path):
    """Run `mailflow --config <tmp config> ARGS...` in-process; returns the click Result."""
    from mailflow.cli import cli as mailflow_cli

    runner = CliRunner()

    def run(*args: str, expect: int | None = 0) -> Result:
        result = runner.invoke(mailflow_cli, ["--config", str(config_file), *args], obj={},
                               env={"MAILFLOW_NOW": NOW.isoformat()})
        if expect is not None and result.exit_code != expect:
            raise AssertionError(f"exit {result.exit_code} != {expect}\n{result.output}\n{result.exception!r}")
        return result

    return run
