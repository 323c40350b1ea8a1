"""Offline sources: .eml files, directories of them, Maildirs and mbox files.

Yields raw bytes and a source label; it never parses, so a broken mail is
the parse stage's business and cannot stop the rest of the batch here. A
large mail is spooled as it is read (``fetch.spool``) when a store is given.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mailflow.fetch.spool import SpoolError, read_mail


@dataclass(frozen=True)
class SourceMail:
    source: str  # where it came from, e.g. "inbox/03.eml" or "mbox:archive.mbox#12"
    raw: bytes


@dataclass(frozen=True)
class SourceError:
    source: str
    reason: str


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def iter_sources(paths: list[str], store: Path | None = None, *,
                 max_file: int | None = None) -> Iterator[SourceMail | SourceError]:
    """Every mail under ``paths``, in a stable order (sorted names, mbox order).

    ``store``: the attachment store large mails are spooled to (files over
    ``max_file`` are not kept there); None reads them whole.
    """
    for name in paths:
        path = Path(name)
        if not path.exists():
            yield SourceError(name, "no such file or directory")
        elif path.is_dir() and _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                yield _read(f"{name}#{key}", partial(box.get_file, key), store, max_file)
        elif path.is_dir():
            files = _eml_files(path)
            if not files:
                yield SourceError(name, "directory has no .eml files and is not a Maildir")
            for file in files:
                yield _read(file, partial(open, file, "rb"), store, max_file)
        elif path.suffix.lower() != ".eml" and _is_mbox(path):
            box = mailbox.mbox(path, create=False)
            for index, key in enumerate(box.keys(), 1):
                yield _read(f"{name}#{index}", partial(box.get_file, key, from_=False), store, max_file)
        else:
            yield _read(name, partial(path.open, "rb"), store, max_file)


def _eml_files(directory: Path) -> list[str]:
    """The directory's .eml files, sorted by name: from the listing itself (no stat per file where
    the file system says the type), since a backlog directory holds tens of thousands of them."""
    with os.scandir(directory) as entries:
        return sorted(entry.path for entry in entries
                      if os.path.splitext(entry.name)[1].lower() == ".eml" and entry.is_file())


def _read(source: str, opened: Callable[[], Any], store: Path | None,
          max_file: int | None) -> SourceMail | SourceError:
    """One mail from a file opened by ``opened`` (a file or a mailbox's file proxy), or why it could not be."""
    try:
        with opened() as fh:
            return SourceMail(source, read_mail(fh, store, max_file=max_file))
    except (OSError, SpoolError) as err:
        return SourceError(source, getattr(err, "strerror", None) or str(err))
