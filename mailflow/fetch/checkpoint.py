"""Where the IMAP poller stands: UIDVALIDITY and the last UID done, per (mailbox, folder).

A UID is recorded only after its mail is committed by the pipeline *and*
flagged or moved on the server, so a crash anywhere in between means the
mail is fetched again — and the pipeline's de-duplication makes that a
no-op. The checkpoint never moves backwards under the same UIDVALIDITY.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mailflow.store.session import Store, StoreError, db_reason
from mailflow.store.tables import ImapFolder

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


def load_checkpoint(store: Store, mailbox: str, folder: str) -> Checkpoint | None:
    try:
        with store.session() as session:
            row = session.get(ImapFolder, (mailbox, folder))
            return Checkpoint(row.uidvalidity, row.last_uid) if row is not None else None
    except SQLAlchemyError as err:
        raise StoreError(f"imap state of {mailbox}/{folder}: {db_reason(err)}") from None


def save_checkpoint(store: Store, mailbox: str, folder: str, *, uidvalidity: int, last_uid: int,
                    now: datetime) -> None:
    """Record ``last_uid`` as done under ``uidvalidity``; a new UIDVALIDITY replaces the old state.

    The commit does not wait for the disk (``Store.relaxed``): a crash of
    the machine that forgets it only sets the poller back a few batches,
    whose mails are fetched again and found already stored. It is written
    after every batch, and waiting for the disk there was 2% of a poll.
    """
    key = (_FOLDERS.c.mailbox == mailbox, _FOLDERS.c.folder == folder)
    for attempt in (1, 2):
        try:
            with store.relaxed() as conn:
                row = conn.execute(select(_FOLDERS.c.uidvalidity, _FOLDERS.c.last_uid).where(*key)
                                   .with_for_update()).first()
                if row is None:
                    conn.execute(insert(_FOLDERS).values(mailbox=mailbox, folder=folder, uidvalidity=uidvalidity,
                                                         last_uid=last_uid, updated_at=now))
                elif row.uidvalidity != uidvalidity:
                    conn.execute(update(_FOLDERS).where(*key)
                                 .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now))
                elif last_uid > row.last_uid:
                    conn.execute(update(_FOLDERS).where(*key).values(last_uid=last_uid, updated_at=now))
            return
        except IntegrityError:
            if attempt == 2:  # another poller inserted the row between our read and insert: update it
                raise StoreError(f"imap state of {mailbox}/{folder}: cannot be recorded") from None
        except SQLAlchemyError as err:
            raise StoreError(f"imap state of {mailbox}/{folder}: {db_reason(err)}") from None


_FOLDERS = ImapFolder.__table__
