"""Offline sources: .eml files, directories of them, Maildirs and mbox files.

Yields raw bytes and a source label; it never parses, so a broken mail is
the parse stage's business and cannot stop the rest of the batch here.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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


def iter_sources(paths: list[str]) -> Iterator[SourceMail | SourceError]:
    """Every mail under ``paths``, in a stable order (sorted names, mbox order)."""
    for name in paths:
        path = Path(name)
        if not path.exists():
            yield SourceError(name, "no such file or directory")
        elif path.is_dir() and _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                try:
                    with box.get_file(key) as fh:
                        yield SourceMail(f"{name}#{key}", fh.read())
                except OSError as err:
                    yield SourceError(f"{name}#{key}", err.strerror or str(err))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
            if not files:
                yield SourceError(name, "directory has no .eml files and is not a Maildir")
            for file in files:
                yield from iter_sources([str(file)])
        elif path.suffix.lower() != ".eml" and _is_mbox(path):
            box = mailbox.mbox(path, create=False)
            for index, key in enumerate(box.keys(), 1):
                yield SourceMail(f"{name}#{index}", box.get_bytes(key))
        else:
            try:
                yield SourceMail(name, path.read_bytes())
            except OSError as err:
                yield SourceError(name, err.strerror or str(err))
