"""Attachment files, stored once per content hash.

Names come from clients and cannot be trusted, so the file on disk is named
by its sha256 alone; the client's file name lives only in the database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def blob_path(sha256: str) -> str:
    """Relative path of a blob: two-level fan-out keeps directories small."""
    return f"{sha256[:2]}/{sha256}"


def save_blob(root: Path, sha256: str, data: bytes) -> str:
    """Write ``data`` under ``root`` atomically unless it is already there."""
    rel = blob_path(sha256)
    target = root / rel
    if target.exists():
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel
