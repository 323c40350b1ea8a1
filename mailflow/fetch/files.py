"""Offline sources: .eml files, directories of them, Maildirs and mbox files.

Yields raw bytes and a source label; it never parses, so a broken mail is
the parse stage's business and cannot stop the rest of the batch here. A
large mail is spooled as it is read (``fetch.spool``) when a store is given.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
                try:
                    with box.get_file(key) as fh:
                        raw = read_mail(fh, store, max_file=max_file)  # type: ignore[arg-type]  (a binary file proxy)
                except (OSError, SpoolError) as err:
                    yield SourceError(f"{name}#{key}", getattr(err, "strerror", None) or str(err))
                    continue
                yield SourceMail(f"{name}#{key}", raw)
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
            if not files:
                yield SourceError(name, "directory has no .eml files and is not a Maildir")
            for file in files:
                yield from iter_sources([str(file)], store, max_file=max_file)
        elif path.suffix.lower() != ".eml" and _is_mbox(path):
            box = mailbox.mbox(path, create=False)
            for index, key in enumerate(box.keys(), 1):
                try:
                    with box.get_file(key, from_=False) as fh:
                        raw = read_mail(fh, store, max_file=max_file)  # type: ignore[arg-type]  (a binary file proxy)
                except (OSError, SpoolError) as err:
                    yield SourceError(f"{name}#{index}", getattr(err, "strerror", None) or str(err))
                    continue
                yield SourceMail(f"{name}#{index}", raw)
        else:
            try:
                with path.open("rb") as fh:
                    raw = read_mail(fh, store, max_file=max_file)
            except (OSError, SpoolError) as err:
                yield SourceError(name, getattr(err, "strerror", None) or str(err))
                continue
            yield SourceMail(name, raw)
