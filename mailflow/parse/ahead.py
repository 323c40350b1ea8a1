"""Parse the next batch in another process while this one records the current batch.

Why: parsing (MIME, charsets, HTML, quotes) is about a fifth of what
ingesting a mail costs and needs nothing from the database, while recording
needs the database and little else; on the two cores a small server has, one
process doing both leaves a core idle through a backlog. A small backlog
never pays for a process: the pool starts only when a second batch exists,
and its start-up overlaps the first batch, which is parsed here.

The pool is a ``forkserver`` one. A plain fork would be cheaper to start,
but the child would inherit this process's database connection: when this
process is killed, the child keeps the socket open, the server never sees
the connection end, and the dead transaction's locks stay held. (It also
forks safely beside the daemon's threads.) As with every such pool, a
program that embeds mailflow keeps its start-up code under ``if __name__ ==
"__main__":``. If
it breaks (a worker killed, a result that will not pickle), parsing goes on
here: nothing is lost, it is only slower. ``MAILFLOW_PARSE_WORKERS=0`` keeps
all parsing in this process.

Given the attachment store (``store``), the parsing process also writes the
files the record will keep, and sends the mail back without their bytes, as
the spooler does for a large mail (``fetch.spool``). Writing them in threads
of this process, and carrying the bytes back to it, had cost the recording
process a core's worth of contention: a backlog ran 8.7% faster over six
alternating pairs. A file is on disk (fsynced) before the mail that names it
is recorded; a file of a mail that is then not recorded (our own mail, a
quarantined one) is left in the store, and ``mailflow db prune-files``
(``record.blob_sweep``) removes it once it is old. A mail flagged automated
writes nothing: its files are never kept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TypeVar, Union

from mailflow.errors import MailflowError, ParseError
from mailflow.parse import ParsedMail, parse
from mailflow.record.blobs import save_blob  # the record stage's own files: atomic, fsynced, no database

__all__ = ["Parsed", "parse_ahead", "parse_many", "workers"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# One mail's parse: the mail, the one-line reason it is no mail, or None where there were no bytes.
Parsed = Union[ParsedMail, ParseError, None]

IN_FLIGHT = 2  # batches being parsed ahead: enough to hide the wait, few enough to bound memory


def workers() -> int:
    """Parsing processes beside this one: one core is kept for recording (``MAILFLOW_PARSE_WORKERS``)."""
    configured = os.environ.get("MAILFLOW_PARSE_WORKERS", "").strip()
    if configured.isdigit():
        return int(configured)
    return max(1, min(2, (os.cpu_count() or 1) - 1))


def parse_many(raws: list[bytes | None], store: tuple[Path, int] | None = None) -> list[Parsed]:
    """Parse each mail; a mail that is no mail becomes its ParseError, to be quarantined by the caller.

    ``store``: (the attachment store, the largest file kept). Given, each
    attachment the record would keep is written there now, and the mail
    comes back without its bytes, as a spooled mail's files do.
    """
    parsed: list[Parsed] = []
    for raw in raws:
        if raw is None:
            parsed.append(None)
            continue
        try:
            mail = parse(raw)
        except MailflowError as err:
            parsed.append(ParseError(str(err)))
            continue
        parsed.append(_stored(mail, *store) if store is not None and mail.attachments else mail)
    return parsed


def _stored(mail: ParsedMail, root: Path, max_bytes: int) -> ParsedMail:
    """The mail with each file the record keeps written to the store, its bytes dropped.

    Files over ``max_bytes`` keep their bytes: the record logs them as skipped,
    as before. An OSError fails the batch's job, which is then parsed (and its
    files written) by the recording process, nothing lost.
    """
    if mail.automated is not None:
        return mail  # not recorded as a requirement's files: no file is written for it
    kept = []
    for attachment in mail.attachments:
        if attachment.data is not None and attachment.size <= max_bytes:
            save_blob(root, attachment.sha256, attachment.data)
            attachment = replace(attachment, data=None)
        kept.append(attachment)
    return replace(mail, attachments=tuple(kept))


def parse_ahead(groups: Iterable[list[T]], raw_of: Callable[[T], bytes | None], *,
                processes: int | None = None, store: tuple[Path, int] | None = None,
                stop: threading.Event | None = None) -> Iterator[tuple[list[T], list[Parsed] | None]]:
    """Each group with its mails parsed (in group order), or with None: then the caller parses them.

    Groups are pulled from ``groups`` up to IN_FLIGHT ahead of the one
    yielded, so a lazy source (an IMAP fetch) is read ahead by as much. What
    the source raises while read ahead is raised in its place, after the
    groups before it: mail already fetched is still taken.

    ``stop``, once set (a signal), ends the groups: the next one is not even
    asked for, and one that came while it was set is dropped, so the caller
    stops after the group in hand. systemd stopping a unit signals every
    process in it, and Ctrl-C a terminal's whole process group: the parsing
    process dies of the same signal, which is then no news and not warned of.
    """
    ahead = _ahead(groups, raw_of, workers() if processes is None else processes, store, stop)
    with closing(ahead):  # its pool ends when the groups do, however they end
        for group in ahead:
            if stop is not None and stop.is_set():
                return  # came while the signal did: nothing of it was recorded
            yield group
            if stop is not None and stop.is_set():
                return  # before asking for the next: its parsing process may have died of the signal


def _ahead(groups: Iterable[list[T]], raw_of: Callable[[T], bytes | None], processes: int,
           store: tuple[Path, int] | None, stop: threading.Event | None
           ) -> Iterator[tuple[list[T], list[Parsed] | None]]:
    source = _in_place(groups)
    first = next(source, None)
    if first is None:
        return
    second = next(source, None)
    if second is None or processes < 1:
        yield _ready(first)
        if second is not None:
            yield _ready(second)
            yield from (_ready(group) for group in source)
        return
    pool: ProcessPoolExecutor | None
    try:
        pool = ProcessPoolExecutor(max_workers=processes, mp_context=_context(), initializer=_watch,
                                   initargs=(os.getpid(),))
    except Exception as err:  # noqa: BLE001 - no process to be had (limits, no /dev/shm): parse here
        log.warning("cannot start a parsing process (%s); parsing here", err)
        pool = None
    queue: deque[tuple[list[T], Future[list[Parsed]] | None]] = deque()

    def submit(group: list[T] | _Raised) -> None:
        nonlocal pool
        future = None
        if pool is not None and not isinstance(group, _Raised):
            try:
                future = pool.submit(parse_many, [raw_of(item) for item in group], store)
            except Exception as err:  # noqa: BLE001 - a broken pool: parse here from now on
                _warn(stop, "parsing in another process stopped (%s); parsing here", err)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
        queue.append((group, future))

    try:
        submit(second)
        yield _ready(first)  # parsed here while the pool starts and parses the second
        for group in source:
            submit(group)
            if len(queue) > IN_FLIGHT:
                yield _result(*queue.popleft(), stop)
        while queue:
            yield _result(*queue.popleft(), stop)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _context() -> BaseContext:
    context = get_context("forkserver")
    context.set_forkserver_preload(["mailflow.parse"])
    return context


def _watch(owner: int) -> None:
    """In a worker: leave when the process it parses for is gone.

    A pool's workers wait on a queue they also hold the writing end of, so
    a SIGKILLed owner would leave them (and the forkserver) waiting forever.
    """
    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was reused by another user's process: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="mailflow-parse-watch", daemon=True).start()


class _Raised:
    """What the source raised while it was read ahead, kept for its place in the order."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _in_place(groups: Iterable[list[T]]) -> Iterator[list[T] | _Raised]:
    try:
        yield from groups
    except Exception as err:  # noqa: BLE001 - raised again where it happened, by _ready
        yield _Raised(err)


def _ready(group: list[T] | _Raised) -> tuple[list[T], None]:
    if isinstance(group, _Raised):
        raise group.error
    return group, None


def _result(group: list[T] | _Raised, future: Future[list[Parsed]] | None,
            stop: threading.Event | None = None) -> tuple[list[T], list[Parsed] | None]:
    if future is None:
        return _ready(group)
    try:
        return group, future.result()
    except Exception as err:  # noqa: BLE001 - a worker died or a result would not pickle: parse here
        _warn(stop, "a batch could not be parsed in another process (%s); parsing it here", err)
        return group, None


def _warn(stop: threading.Event | None, message: str, err: Exception) -> None:
    """A warning, unless the caller is stopping: then the signal that stops it likely ended the worker."""
    (log.debug if stop is not None and stop.is_set() else log.warning)(message, err)
