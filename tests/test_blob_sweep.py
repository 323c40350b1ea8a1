"""Specification: `mailflow db prune-files` removes the attachment files no record names, and only those.

Files are written before the record that names them commits (the parsing
process of a backlog writes them before the record stage learns a mail is
our own coming back), so some are never named. The sweep removes those once
they are older than the grace period, beside workers that may be about to
name one.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DATA
from mailflow.parse.ahead import parse_many
from mailflow.record import blob_sweep
from mailflow.record.blob_sweep import HELD_PREFIX, SweepReport, sweep_blobs
from mailflow.record.blobs import blob_path, save_blob
from mailflow.store.session import open_store
from mailflow.store.tables import Attachment, Message

TWO_DAYS = 2 * 24 * 3600
MAX_FILE = 10 * 1024 * 1024


def _age(path: Path, seconds: float = TWO_DAYS) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _age_all(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            _age(path)


def _own_mail_coming_back() -> bytes:
    """A client's mail with three files, as our own support address would send it back to us (a loop)."""
    raw = (DATA / "mail" / "rfc2231_attachment.eml").read_bytes()
    raw = raw.replace(b"From: =?UTF-8?B?5L2V6Z2Z?= <he.jing@yuanhang.example>",
                      b"From: Vendor Support <support@vendor.example.com>")
    return raw.replace(b"<7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f@yuanhang.example>", b"<loop-1@vendor.example.com>")


def _named_files(db_url: str) -> set[str]:
    store = open_store(db_url)
    try:
        with store.session() as session:
            return set(session.scalars(select(Attachment.path))) | set(
                session.scalars(select(Message.raw_blob).where(Message.raw_blob.is_not(None))))
    finally:
        store.close()


def test_prune_removes_the_files_of_our_own_mail_and_keeps_the_clients(cli, tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "attachments"
    cli("ingest", str(DATA / "mail" / "foxmail_zh_bug_attachment.eml"))  # a client's bug report with a screenshot
    own = _own_mail_coming_back()
    [parsed] = parse_many([own], store=(root, MAX_FILE))  # as a backlog's parsing process writes them
    (tmp_path / "loop.eml").write_bytes(own)
    cli("ingest", str(tmp_path / "loop.eml"))  # recorded as automated: no requirement names its files
    named = _named_files(db_url)
    orphans = {blob_path(att.sha256) for att in parsed.attachments}
    assert len(named) == 1 and len(orphans) == 3 and not named & orphans
    assert all((root / rel).is_file() for rel in named | orphans)
    (root / ".part-k2j4h1").write_bytes(b"half a file: the writer died")  # an interrupted write
    (root / "README.txt").write_text("the admin's own note")  # not ours: never touched
    _age_all(root)

    dry = cli("db", "prune-files", "--dry-run").output
    assert "1 file(s) named by a record, kept; would remove 3 file(s) no record names" in dry
    assert "and 1 interrupted write(s)" in dry
    assert all((root / rel).is_file() for rel in named | orphans)

    out = cli("db", "prune-files").output
    assert out.startswith(f"{root}: 1 file(s) named by a record, kept; removed 3 file(s) no record names (")
    assert "and 1 interrupted write(s); 0 unnamed file(s) newer than the grace period" in out
    assert all((root / rel).is_file() for rel in named)
    assert not any((root / rel).exists() for rel in orphans)
    assert not (root / ".part-k2j4h1").exists()
    assert (root / "README.txt").read_text() == "the admin's own note"
    assert "kept; removed 0 file(s)" in cli("db", "prune-files").output
    # The client's file is still the one the record names, byte for byte.
    [kept] = named
    assert len((root / kept).read_bytes()) > 0


def test_unnamed_files_within_the_grace_period_stay(db_url: str, tmp_path: Path) -> None:
    """A file written a moment ago may belong to a record that has not committed yet."""
    root = tmp_path / "attachments"
    save_blob(root, "ab" + "0" * 62, b"screenshot bytes")
    report = _sweep(db_url, root)
    assert (report.removed, report.young) == (0, 1)
    assert (root / blob_path("ab" + "0" * 62)).is_file()


def test_an_old_file_written_again_is_fresh_and_stays(db_url: str, tmp_path: Path) -> None:
    """A worker that finds the file already there (same content, another mail) touches it instead of writing."""
    root = tmp_path / "attachments"
    sha = "cd" + "1" * 62
    save_blob(root, sha, b"the same log file again")
    _age(root / blob_path(sha))
    save_blob(root, sha, b"the same log file again")  # a new mail brings the same file; its record is on the way
    report = _sweep(db_url, root)
    assert (report.removed, report.young) == (0, 1)
    assert (root / blob_path(sha)).read_bytes() == b"the same log file again"


def test_a_file_touched_while_the_sweep_holds_it_is_put_back(db_url: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep moves a file aside before reading its time: a writer's touch just before is seen."""
    root = tmp_path / "attachments"
    sha = "ef" + "2" * 62
    save_blob(root, sha, b"a spreadsheet")
    _age(root / blob_path(sha))
    rename = os.rename

    def rename_as_a_writer_touches(src: str | Path, dst: str | Path) -> None:
        os.utime(src)  # a worker found the file and freshened it, a moment before the sweep moved it
        rename(src, dst)

    monkeypatch.setattr(blob_sweep.os, "rename", rename_as_a_writer_touches)
    report = _sweep(db_url, root)
    assert (report.removed, report.young) == (0, 1)
    assert (root / blob_path(sha)).read_bytes() == b"a spreadsheet"
    assert not list(root.rglob(f"{HELD_PREFIX}*"))


def test_a_file_a_dead_sweep_held_is_put_back(db_url: str, tmp_path: Path) -> None:
    """A sweep killed between moving a file aside and removing it leaves it held; the next one restores it."""
    root = tmp_path / "attachments"
    held_sha, rewritten_sha = "12" + "3" * 62, "45" + "6" * 62
    for sha in (held_sha, rewritten_sha):
        save_blob(root, sha, sha.encode())
        held = root / sha[:2] / (HELD_PREFIX + sha)
        os.rename(root / blob_path(sha), held)
    save_blob(root, rewritten_sha, rewritten_sha.encode())  # a writer found it missing and wrote it again
    _sweep(db_url, root)
    assert (root / blob_path(held_sha)).read_bytes() == held_sha.encode()
    assert (root / blob_path(rewritten_sha)).read_bytes() == rewritten_sha.encode()
    assert not list(root.rglob(f"{HELD_PREFIX}*"))


def test_hashes_sharing_a_prefix_only_ever_keep_a_file() -> None:
    names = blob_sweep._Names()
    names.start()
    names.add("aa/" + "a" * 16 + "b" * 48)
    names.add("legacy/scan.pdf")
    names.done()
    assert names.has("a" * 16 + "b" * 48)
    assert names.has("a" * 16 + "c" * 48)  # same 64-bit prefix: kept, never removed wrongly
    assert not names.has("b" * 64)
    assert names.has("scan.pdf")


def test_names_a_database_sorts_otherwise_are_still_found() -> None:
    names = blob_sweep._Names()
    names.start()
    for first in "f0a9":
        names.add(f"{first}{first}/" + first * 64)
    names.start()
    names.add("33/" + "3" * 64)
    names.done()
    assert all(names.has(c * 64) for c in "f0a93") and not names.has("b" * 64)


def test_no_store_yet_is_nothing_to_do(cli, tmp_path: Path) -> None:
    assert "kept; removed 0 file(s)" in cli("db", "prune-files").output
    assert not (tmp_path / "attachments").exists()


def _run_with(config_text: str, tmp_path: Path, *args: str):  # noqa: ANN202
    from click.testing import CliRunner

    from mailflow.cli import cli as mailflow_cli

    config = tmp_path / "other.toml"
    config.write_text(config_text, encoding="utf-8")
    return CliRunner().invoke(mailflow_cli, ["--config", str(config), "db", "prune-files", *args], obj={})


def test_a_database_that_cannot_be_read_removes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    save_blob(root, "9a" + "7" * 62, b"an orphan")
    _age(root / blob_path("9a" + "7" * 62))
    result = _run_with(f'[database]\nurl = "postgresql+psycopg://mailflow:s3cret@127.0.0.1:1/none"\n'
                       f'[paths]\nattachments = "{root}"\n', tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith("mailflow: error: database postgresql+psycopg://mailflow:***@127.0.0.1:1/none")
    assert len(result.output.strip().splitlines()) == 1 and "s3cret" not in result.output
    assert (root / blob_path("9a" + "7" * 62)).is_file()


def test_a_database_that_names_no_file_is_refused_as_probably_the_wrong_one(tmp_path: Path) -> None:
    """A config pointing at a new, empty database would otherwise have every file removed."""
    root = tmp_path / "attachments"
    sha = "9a" + "7" * 62
    save_blob(root, sha, b"a client's screenshot")
    (root / ".part-x1").write_bytes(b"an interrupted write")
    _age_all(root)
    config = f'[database]\nurl = "sqlite:///{tmp_path / "new.db"}"\n[paths]\nattachments = "{root}"\n'
    result = _run_with(config, tmp_path)
    assert result.exit_code == 1
    assert result.output == (f"mailflow: error: database sqlite:///{tmp_path / 'new.db'}: it names no attachment "
                             f"file, yet {root} holds some: is it the database that wrote them? Nothing removed "
                             f"(--even-if-none-named to remove them all the same)\n")
    assert (root / blob_path(sha)).is_file() and (root / ".part-x1").is_file()
    result = _run_with(config, tmp_path, "--even-if-none-named")
    assert result.exit_code == 0 and "removed 1 file(s) no record names" in result.output
    assert not (root / blob_path(sha)).exists()


def _sweep(db_url: str, root: Path) -> SweepReport:
    """A sweep with the default grace period; the database names nothing here (these tests are about files)."""
    store = open_store(db_url)
    try:
        return sweep_blobs(store, root, now=datetime.now(timezone.utc), grace=timedelta(hours=24),
                           even_if_none_named=True)
    finally:
        store.close()
