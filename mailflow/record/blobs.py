"""Attachment files, and large mails as received, stored once per content hash.

Names come from clients and cannot be trusted, so the file on disk is named
by its sha256 alone; the client's file name lives only in the database.

This module is only the files (no database): the parsing process and the
spooler write here too. ``record.blob_writes`` writes a transaction's files
in threads and holds its commit until they are on disk.

A file found already there is touched, not written again: its time says it
is wanted now, so ``record.blob_sweep`` (which removes the files no record
names, once they are old) leaves it for the record about to name it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO


PARTIAL_PREFIX = ".part-"  # a file being written, or one a crash interrupted: never a blob's name


def blob_path(sha256: str) -> str:
    """Relative path of a blob: two-level fan-out keeps directories small."""
    return f"{sha256[:2]}/{sha256}"


def save_blob(root: Path, sha256: str, data: bytes) -> str:
    """Write ``data`` under ``root`` atomically unless it is already there."""
    rel = blob_path(sha256)
    target = root / rel
    if _freshened(target):
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            _put_in_place(fh, tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


def _put_in_place(fh: BinaryIO, tmp: str, target: Path) -> None:
    """The written temporary file on disk, then renamed to its blob name (dropped if that exists)."""
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    if _freshened(target):
        Path(tmp).unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)


def _freshened(target: Path) -> bool:
    """True if ``target`` is there, its time now set to now; False if it is not (or a sweep holds it)."""
    try:
        os.utime(target)
    except FileNotFoundError:
        return False
    except PermissionError:  # another user's file: it is there, only its time cannot be set by us
        return True
    return True


class BlobWriter:
    """A blob written as it arrives, for content too large to hold: named by its hash once complete.

    The bytes go to a temporary file beside the blobs; ``keep`` fsyncs it
    and moves it into place (or drops it when the same content is already
    stored), ``discard`` removes it. Either way no partial file is ever
    visible under a blob name. Past ``limit`` bytes the file is dropped and
    only the hash and size go on: a file we will not keep costs no disk.
    """

    def __init__(self, root: Path, limit: int | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=root, prefix=PARTIAL_PREFIX)
        self._fh = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._root = root
        self._limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        if self._fh.closed:  # past the limit already: only counted
            return
        if self._limit is not None and self.size > self._limit:
            self.discard()
        else:
            self._fh.write(data)

    def keep(self) -> tuple[str | None, str]:
        """Move the file into place: its relative path (None when it went past the limit) and sha256."""
        sha256 = self._hash.hexdigest()
        if self._fh.closed:
            return None, sha256
        rel = blob_path(sha256)
        try:
            _put_in_place(self._fh, self._tmp, self._root / rel)
        except BaseException:
            self.discard()
            raise
        return rel, sha256

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        Path(self._tmp).unlink(missing_ok=True)
