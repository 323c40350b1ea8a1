"""A transaction's attachment files, written in threads; its commit waits for them.

Why: writing and fsyncing each file was 13% of the recording process's
time, spent waiting on the disk while the mail could go on. So a mail's
attachments are written by a thread beside the one recording the mail
(``save_blob_soon``), and the transaction that names them commits only once
they are on disk. In a backlog the parsing process writes them instead
(``parse.ahead``), and the record gets the mail without their bytes, as it
gets a spooled one. The files themselves are ``record.blobs``.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from mailflow.errors import BlobError
from mailflow.record.blobs import blob_path, save_blob
from mailflow.store.session import transaction_state

__all__ = ["save_blob_soon"]

_WRITES_KEY = "mailflow.blob_writes"
WRITERS = 2  # threads writing blobs: one file's fsync need not hold up the next file's write


def save_blob_soon(session: Session, root: Path, sha256: str, data: bytes) -> str:
    """``save_blob`` in a writing thread; the session's commit waits for the file (and fails with it)."""
    rel = blob_path(sha256)
    writes: dict[str, Future[str]] = transaction_state(session, _WRITES_KEY, dict)
    if rel not in writes:  # the same file twice in one transaction is written once
        writes[rel] = _writer().submit(save_blob, root, sha256, data)
    return rel


@event.listens_for(Session, "before_commit")
def _written_before_commit(session: Session) -> None:
    """A record must never name a file that is not on disk: an error writing one fails the commit."""
    writes: dict[str, Future[str]] | None = session.info.get(_WRITES_KEY)
    for rel, future in (writes or {}).items():
        try:
            future.result()
        except OSError as err:
            raise BlobError(f"attachment store: cannot write {rel}: {err.strerror or err}") from err


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="mailflow-blob")
        return _pool
