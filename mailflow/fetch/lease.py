"""One poller per mailbox: the lease `mailflow run` and `mailflow poll --once` both take first.

Two pollers on one mailbox lose nothing (each mail is stored once, by its
Message-ID or content), but both fetch and parse everything, and the second
one's work is thrown away as duplicates. A cron job whose last run is still
going through a backlog, an operator's `poll --once` while the service runs,
several hosts with the same crontab: each finds the mailbox held and leaves
it to the holder. A holder that dies stops renewing; after ``MAILBOX_LEASE``
another one takes over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from mailflow.config import ImapConfig
from mailflow.fetch.connect import FetchError
from mailflow.store.leases import acquire, holder_of, release
from mailflow.store.session import Store, db_reason

log = logging.getLogger(__name__)

__all__ = ["MAILBOX_LEASE", "LeaseLost", "MailboxLease", "lease_name"]

MAILBOX_LEASE = timedelta(minutes=2)  # renewed every third of it while the mailbox is polled


def lease_name(config: ImapConfig) -> str:
    return f"imap:{config.name}"


class LeaseLost(FetchError):
    """Another instance took the mailbox over (this one stalled past the lease): stop after the mail in hand."""


class MailboxLease:
    """The lease on one mailbox for one holder, renewed as a long poll goes on."""

    def __init__(self, store: Store, config: ImapConfig, holder: str, clock: Callable[[], datetime],
                 ttl: timedelta = MAILBOX_LEASE) -> None:
        self.store, self.name, self.holder, self.clock, self.ttl = store, lease_name(config), holder, clock, ttl
        self._renewed = 0.0

    def take(self) -> bool:
        """Take (or renew) it; False while another instance holds it."""
        if acquire(self.store, self.name, self.holder, now=self.clock(), ttl=self.ttl):
            self._renewed = time.monotonic()
            return True
        return False

    def keep(self) -> None:
        """Renew it once a third of the lease has gone by; LeaseLost when another instance has it now."""
        if time.monotonic() - self._renewed < self.ttl.total_seconds() / 3:
            return
        if not self.take():
            raise LeaseLost(f"{self.name}: {self.holder_now() or 'another instance'} took this mailbox over "
                            "(this poll stalled past its lease); stopped after the mail in hand")

    def give_back(self) -> None:
        """Release it now; if the database cannot be written, it simply runs out (``MAILBOX_LEASE``)."""
        try:
            release(self.store, self.name, self.holder)
        except SQLAlchemyError as err:  # never hide why the poll stopped behind this
            log.warning("%s: could not give the lease back (%s); it runs out in %s", self.name, db_reason(err),
                        self.ttl)

    def holder_now(self) -> str | None:
        return holder_of(self.store, self.name, now=self.clock())
