"""Files in the attachment store that no record names: found and removed, safely beside running workers.

Why there are any: a file is written before the transaction that names it
commits (by the parsing process in a backlog, by the spooler for a large
mail, by the record stage's writer threads), so a mail that is then not
recorded as a requirement's (our own mail coming back, a quarantined mail,
a rolled-back transaction, a crash) leaves its files behind. Nothing is lost
by removing them: a quarantined mail keeps its raw bytes, files included.

Why it is safe while workers run: ``record.blobs`` freshens the time of a
file it finds already there instead of writing it again, so a file an
uncommitted record is about to name is never older than the grace period.
A file is only removed after it has been renamed out of the way and its
time read again (a writer touching it a moment before is seen; one a moment
after finds no file and writes it anew).

Memory stays bounded whatever the store holds: the names are kept as sorted
64-bit prefixes of their hashes (8 bytes each), read from the database in
a stream. Two hashes sharing a prefix can only keep a file, never remove one.
"""

from __future__ import annotations

import os
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mailflow.errors import MailflowError
from mailflow.record.blobs import PARTIAL_PREFIX
from mailflow.store.session import Store, StoreError, db_reason
from mailflow.store.tables import Attachment, Message

HELD_PREFIX = ".sweep-"  # a file this sweep has moved aside for a moment
_HASH = re.compile(r"[0-9a-f]{64}")
_FANOUT = re.compile(r"[0-9a-f]{2}")


@dataclass(frozen=True)
class SweepReport:
    kept: int = 0  # files some record names
    removed: int = 0  # unnamed files older than the grace period (counted, not removed, in a dry run)
    removed_bytes: int = 0
    young: int = 0  # unnamed but newer than the grace period: maybe a record about to commit
    partial: int = 0  # interrupted writes older than the grace period
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"{self.kept} file(s) named by a record, kept; {verb} {self.removed} file(s) no record names "
                f"({_size(self.removed_bytes)}) and {self.partial} interrupted write(s); "
                f"{self.young} unnamed file(s) newer than the grace period left for a later sweep")


class NothingNamed(MailflowError):
    """The database names no file at all while the store holds some: probably the wrong database."""


def sweep_blobs(store: Store, root: Path, *, now: datetime, grace: timedelta, dry_run: bool = False,
                even_if_none_named: bool = False) -> SweepReport:
    """Remove the store's files that no attachment or spooled mail names and nobody touched within ``grace``.

    Raises StoreError when the database cannot be read, and NothingNamed
    when it names no file while the store holds some (a configuration
    pointing at a new, empty database would otherwise empty the store),
    unless ``even_if_none_named``; nothing is removed then. A file that
    cannot be removed raises the OSError.
    """
    cutoff = (now - grace).timestamp()
    if not root.is_dir():
        return SweepReport(dry_run=dry_run)
    names = _named(store)
    if not names and not even_if_none_named and any(blob for _, blob in _files(root)):
        shown = store.engine.url.render_as_string(hide_password=True)
        raise NothingNamed(f"database {shown}: it names no attachment file, yet {root} holds some: is it the "
                           "database that wrote them? Nothing removed (--even-if-none-named to remove them all "
                           "the same)")
    kept = removed = removed_bytes = young = partial = 0
    for path, blob in _files(root):
        if not blob:
            if _size_if_stale(path, cutoff) is not None:
                partial += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
            continue
        if names.has(path.name):
            kept += 1
            continue
        size = _size_if_stale(path, cutoff) if dry_run else _remove_if_stale(path, cutoff)
        if size is None:
            young += 1
        else:
            removed += 1
            removed_bytes += size
    return SweepReport(kept=kept, removed=removed, removed_bytes=removed_bytes, young=young, partial=partial,
                       dry_run=dry_run)


class _Names:
    """The hashes the records name, as sorted 64-bit prefixes; any other name a record holds, as it is.

    The database hands the names over in order, so they are kept as they
    come, one sorted run per column: sorting them here would hold each as a
    Python int for a moment (a million names: 70 MB instead of 8).
    """

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._others: set[str] = set()
        self._in_order = True

    def start(self) -> None:
        """The names of another column follow, in order of their own."""
        self._runs.append(array("Q"))

    def add(self, rel: str) -> None:
        name = rel.rsplit("/", 1)[-1]
        if not _HASH.fullmatch(name):
            self._others.add(name)
            return
        run = self._runs[-1]
        key = int(name[:16], 16)
        if run and key < run[-1]:
            self._in_order = False  # a database sorting otherwise than by bytes: sorted below after all
        run.append(key)

    def __bool__(self) -> bool:
        return bool(self._others) or any(self._runs)

    def done(self) -> None:
        if not self._in_order:
            self._runs = [array("Q", sorted(run)) for run in self._runs]

    def has(self, name: str) -> bool:
        if name in self._others:
            return True
        key = int(name[:16], 16)
        for run in self._runs:
            at = bisect_left(run, key)
            if at < len(run) and run[at] == key:
                return True
        return False


def _named(store: Store) -> _Names:
    names = _Names()
    try:
        with store.engine.connect() as conn:
            by_bytes = "C" if conn.dialect.name == "postgresql" else "BINARY"  # hex digits in byte order
            streaming = conn.execution_options(stream_results=True, yield_per=10_000)
            for column, where in ((Attachment.path, Attachment.path.is_not(None)),
                                  (Message.raw_blob, Message.raw_blob.is_not(None))):
                names.start()
                for (rel,) in streaming.execute(select(column).where(where).order_by(column.collate(by_bytes))):
                    names.add(rel)
    except SQLAlchemyError as err:
        raise StoreError(f"attachment store: cannot read which files the records name: {db_reason(err)}") from None
    names.done()
    return names


def _files(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is a blob) for every blob and interrupted write; a file moved aside by a dead sweep is put back."""
    for top in sorted(os.scandir(root), key=lambda entry: entry.name):
        if top.is_file(follow_symlinks=False) and top.name.startswith(PARTIAL_PREFIX):
            yield Path(top.path), False
        elif top.is_dir(follow_symlinks=False) and _FANOUT.fullmatch(top.name):
            for entry in sorted(os.scandir(top.path), key=lambda entry: entry.name):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if entry.name.startswith(HELD_PREFIX):
                    _put_back(Path(entry.path))
                elif entry.name.startswith(PARTIAL_PREFIX):
                    yield Path(entry.path), False
                elif _HASH.fullmatch(entry.name) and entry.name.startswith(top.name):
                    yield Path(entry.path), True


def _size_if_stale(path: Path, cutoff: float) -> int | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size if stat.st_mtime < cutoff else None


def _remove_if_stale(path: Path, cutoff: float) -> int | None:
    """The size removed, or None when the file is young (or gone).

    Moved aside first, then its time read: a writer that found the file a
    moment ago has touched it by then (it is put back); one that comes
    after finds it missing and writes it again.
    """
    held = path.with_name(HELD_PREFIX + path.name)
    try:
        os.rename(path, held)
    except FileNotFoundError:
        return None
    stat = held.stat()
    if stat.st_mtime >= cutoff:
        _put_back(held)
        return None
    held.unlink()
    return stat.st_size


def _put_back(held: Path) -> None:
    """A held file back under its name.

    A writer may have written that name again meanwhile: the same bytes
    (the name is their hash), so either copy may stay; no hard link is
    needed, which some shared file systems lack.
    """
    os.replace(held, held.with_name(held.name[len(HELD_PREFIX):]))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
