"""The IMAP poller: new mail in one folder of one mailbox -> pipeline -> flagged or moved.

Exactly once, as far as IMAP allows, by doing things in this order for
each group of mails: fetch with ``BODY.PEEK[]`` (nothing changes on the
server), ``pipeline.process_batch`` (records and outbox rows committed,
all or nothing per mail), *then* flag them ``\\Seen`` or move them to
``processed_folder`` (one command for the group), *then* record the last
UID settled as done (``checkpoint``). A crash between any two
steps leaves the mail to be fetched again, and the pipeline recognises
it (Message-ID, else content hash): processed once, answered once.

- **UIDs, not \\Seen.** What is new is "UID above the checkpoint", so a
  person reading the inbox in a mail client cannot hide mail from us.
  When the server's UIDVALIDITY changes the UIDs mean nothing any more:
  the folder is read again from UID 1 and de-duplication skips what we
  already have.
- **Failed mail** (``Outcome.kind == "failed"``: quarantined raw in the
  database with the reason) moves to ``failed_folder``, or is flagged
  ``\\Seen`` and ``$MailflowFailed``; it is never deleted, and once its UID
  is recorded never fetched again (no retrying forever).
- **Bounded memory.** Sizes are fetched first and bodies in batches of at
  most ``batch`` mails and ``BATCH_BYTES`` bytes (what one transaction of
  the pipeline takes); a larger mail comes alone, and one over
  ``SPOOL_OVER`` is fetched in pieces to disk.
- **Folders** are written with ``/`` in the config and translated to the
  server's hierarchy delimiter (``.`` on Maildir++ servers); missing
  ``processed_folder``/``failed_folder`` are created (and subscribed).
- **Daemon-ready.** ``ImapMailbox`` connects once and polls many times,
  reconnecting when the connection was dropped; ``idle_wait`` blocks in
  IMAP IDLE until the server announces mail.
"""

from __future__ import annotations

import imaplib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from imapclient import IMAPClient

from mailflow import pipeline
from mailflow.config import ImapConfig, secret
from mailflow.fetch.checkpoint import load_checkpoint, save_checkpoint
from mailflow.fetch.connect import FetchError, open_client, where
from mailflow.fetch.folders import Folders
from mailflow.fetch.lease import MailboxLease
from mailflow.fetch.oauth2 import TokenError, TokenSource
from mailflow.fetch.report import PollFailed, PollReport, Tally
from mailflow.fetch.spool import SPOOL_OVER, SpoolError, spool_download
from mailflow.net import error_text
from mailflow.parse.ahead import Parsed, parse_ahead
from mailflow.pipeline import Outcome, Runtime

__all__ = ["FAILED_KEYWORD", "FetchError", "ImapMailbox", "PollFailed", "PollReport", "poll_all"]

log = logging.getLogger(__name__)

# Bodies fetched by one FETCH: what one transaction of the pipeline takes (a larger single mail comes
# alone). It was 32 MiB, held while its mails went through the pipeline a few MiB at a time and the
# next chunk was fetched ahead: 40 mails of 3.9 MB each, under the spooling size, peaked at 207 MB.
BATCH_BYTES = pipeline.BATCH_BYTES
FAILED_KEYWORD = b"$MailflowFailed"
SEEN = b"\\Seen"
# What a lost connection looks like from imaplib / the socket layer.
_DROPPED = (imaplib.IMAP4.abort, OSError)


class ImapMailbox:
    """One configured mailbox: ``connect()``, then ``poll(rt)`` as often as wanted, then ``close()``."""

    def __init__(self, config: ImapConfig, *, what: str = "imap") -> None:
        self.config = config
        self.what = what  # how config errors name this mailbox's section: "imap", "mailboxes[bugs]"
        self._client: IMAPClient | None = None
        self._tokens = TokenSource(config.oauth2, self.what) if config.oauth2.enabled else None
        self._folders_of: Folders | None = None
        self._uidnext = 0  # UIDNEXT when the folder was last selected
        self._polled_below = 0  # every UID below this one was seen by the last poll

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def client(self) -> IMAPClient | None:
        """The live connection (for IDLE and the like), or None when not connected."""
        return self._client

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect and log in; raises FetchError (unreachable, TLS, login) or ConfigError, in one line."""
        self.close()
        password = None if self._tokens else secret(self.config, self.what)
        self._client = open_client(self.config, self.what, password=password, tokens=self._tokens)
        self._folders_of = Folders(self._client)

    def close(self) -> None:
        client, self._client, self._folders_of = self._client, None, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001  (a dead connection has nothing left to close politely)
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    # Polling
    def poll(self, rt: Runtime, *, batch: int = 100, on_backlog: Callable[[int], None] | None = None,
             on_outcome: Callable[[Outcome], None] | None = None,
             stop: threading.Event | None = None) -> PollReport:
        """Fetch and process every mail above the checkpoint; reconnect once if the connection drops.

        ``on_backlog(n)`` is called once the number of new mails is known,
        ``on_outcome`` after each mail is done. ``stop``, once set, ends the
        poll between two groups: what was taken is committed, settled and
        checkpointed, the rest is new again next time. Raises FetchError when
        the server cannot be used, StoreError when the database cannot.
        """
        tally = Tally()
        for attempt in (1, 2):
            try:
                self._ensure_connected()
                self._poll(rt, tally, max(1, batch), on_backlog, on_outcome, stop)
                return tally.report(self.name)
            except _DROPPED as err:  # the connection died under us: once more on a new one
                self.close()
                if attempt == 2:
                    raise PollFailed(f"{where(self.config)}: connection lost: {error_text(err)}",
                                     tally.report(self.name)) from None
                tally.lines.append(f"{self.name}: connection lost ({error_text(err)}); reconnected")
            except (FetchError, TokenError, SpoolError) as err:  # unreachable, login refused, no such folder,
                # a large mail the store cannot take: no retry now; the mail stays unflagged on the server
                raise PollFailed(str(err), tally.report(self.name)) from None
            except imaplib.IMAP4.error as err:  # a NO or BAD we did not expect
                raise PollFailed(f"{where(self.config)}: the server refused: {error_text(err)}",
                                 tally.report(self.name)) from None
        raise AssertionError("unreachable")

    def _ensure_connected(self) -> None:
        if self._client is not None:
            try:
                self._client.noop()
                return
            except _DROPPED:
                self.close()
        self.connect()

    def _poll(self, rt: Runtime, tally: Tally, batch: int, on_backlog: Callable[[int], None] | None,
              on_outcome: Callable[[Outcome], None] | None, stop: threading.Event | None = None) -> None:
        client = self._live()
        folder = self.config.folder
        uidvalidity, exists = self._select()
        state = load_checkpoint(rt.store, self.name, folder)
        last = state.last_uid if state is not None and state.uidvalidity == uidvalidity else 0
        if state is not None and state.uidvalidity != uidvalidity:
            tally.lines.append(f"{self.name}/{folder}: UIDVALIDITY changed ({state.uidvalidity} -> {uidvalidity}): "
                               f"reading the folder again from UID 1; mail already ingested is skipped")
        if state is None or state.uidvalidity != uidvalidity:
            save_checkpoint(rt.store, self.name, folder, uidvalidity=uidvalidity, last_uid=0, now=rt.clock())
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last) if exists else []
        self._polled_below = max(self._uidnext, max(uids, default=last) + 1)  # all below it was listed now
        if on_backlog is not None:
            on_backlog(len(uids))
        spool_to = (rt.config.path(rt.config.paths.attachments), rt.config.general.max_attachment_bytes)
        ahead = parse_ahead(self._fetched(uids, batch, spool_to), lambda mail: mail[1], store=spool_to, stop=stop)
        taken = 0
        with closing(ahead) as groups:  # its parsing process ends here, also when the connection drops
            for group, parsed in groups:  # fewer than all of them at a stop
                self._take(rt, group, uidvalidity, tally, on_outcome, parsed)
                taken += len(group)
        if stop is not None and stop.is_set() and taken < len(uids):
            tally.lines.append(f"{self.name}/{folder}: stopped; {len(uids) - taken} mail(s) left for the next poll")

    def _fetched(self, uids: list[int], batch: int,
                 spool_to: tuple[Path, int]) -> Iterator[list[tuple[int, bytes | None]]]:
        """The mails in groups for ``process_batch``, fetched as they are asked for (a few groups ahead).

        A mail over SPOOL_OVER is fetched in pieces straight to disk and
        spooled (``fetch.spool``): no mail is ever whole in memory.
        """
        client = self._live()
        for start in range(0, len(uids), batch):
            listed = client.fetch(uids[start:start + batch], [b"RFC822.SIZE"])
            sizes = {uid: int(listed.get(uid, {}).get(b"RFC822.SIZE", 0)) for uid in uids[start:start + batch]}
            for chunk in _chunks(sizes):
                if len(chunk) == 1 and sizes[chunk[0]] > SPOOL_OVER:
                    yield [(chunk[0], self._spooled(chunk[0], *spool_to))]
                    continue
                bodies = client.fetch(chunk, [b"BODY.PEEK[]"])
                fetched = [(uid, bodies.pop(uid, {}).get(b"BODY[]")) for uid in chunk]
                yield from pipeline.batches(fetched, lambda mail: len(mail[1] or b""))

    def _spooled(self, uid: int, store: Path, max_file: int) -> bytes | None:
        """One large mail by partial fetches (``BODY.PEEK[]<offset.length>``); None when it is gone."""
        client = self._live()

        def piece(offset: int, length: int) -> bytes:
            found = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{length}>".encode("ascii")]).get(uid, {})
            return found.get(f"BODY[]<{offset}>".encode("ascii")) or b""

        return spool_download(store, piece, max_file=max_file)

    def _take(self, rt: Runtime, mails: list[tuple[int, bytes | None]], uidvalidity: int, tally: Tally,
              on_outcome: Callable[[Outcome], None] | None, parsed: list[Parsed] | None = None) -> None:
        """A few mails: processed (committed together), then flagged or moved together, then reported
        one by one, the checkpoint following the reports.

        The checkpoint moves only past mails that are settled and reported,
        also when the daemon stops in the middle (``on_outcome`` raising); a
        mail committed but not yet flagged or reported is fetched again next
        time and found a duplicate. When the database fails part way
        (StoreError after the mails before it), the mails committed so far
        are still settled and reported before the error goes up.
        """
        present = [(uid, raw) for uid, raw in mails if raw is not None]
        ready = [p for (_, raw), p in zip(mails, parsed) if raw is not None] if parsed is not None else None
        outcomes = pipeline.process_batch([(raw, self._source(uid)) for uid, raw in present], rt, ready)
        taken: list[tuple[int, Outcome | None]] = []  # None: expunged by someone else since we listed it
        failure: Exception | None = None
        try:
            for uid, raw in mails:
                taken.append((uid, None if raw is None else next(outcomes)))
        except Exception as err:  # noqa: BLE001 - raised again below, once what was committed is settled
            failure = err
        self._settle([(uid, outcome) for uid, outcome in taken if outcome is not None], tally)
        settled = None
        try:
            for uid, outcome in taken:
                settled = uid
                if outcome is None:
                    tally.lines.append(f"{self._source(uid)}: gone from the server before it was fetched")
                    continue
                tally.counts.add(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            if settled is not None:
                save_checkpoint(rt.store, self.name, self.config.folder, uidvalidity=uidvalidity,
                                last_uid=settled, now=rt.clock())
        if failure is not None:
            raise failure

    def _source(self, uid: int) -> str:
        return f"imap:{self.name}/{self.config.folder}#{uid}"

    def _select(self) -> tuple[int, int]:
        """SELECT the folder: its UIDVALIDITY and how many mails it holds."""
        try:
            status = self._live().select_folder(self._folders.server_name(self.config.folder))
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as err:
            raise FetchError(f"{where(self.config)}: cannot open folder {self.config.folder!r}: {error_text(err)}") from None
        self._uidnext = int(status.get(b"UIDNEXT", 0))
        return int(status[b"UIDVALIDITY"]), int(status.get(b"EXISTS", 1))

    def _settle(self, taken: list[tuple[int, Outcome]], tally: Tally) -> None:
        """After the commit: the mails leave the way of the next poll, and a person can see what happened.

        One STORE or MOVE for all the processed mails and one for the failed
        ones: a command per mail was 8% of a poll's time (bench/imap.py). When the
        server refuses one of them, each mail is settled on its own, so the
        report names the mail it would not take.
        """
        for failed in (False, True):
            uids = [uid for uid, outcome in taken if outcome.quarantined == failed]
            if not uids:
                continue
            if failed:  # quarantined now, or before a crash that came between commit and flag
                tally.lines.extend(outcome.line() for _, outcome in taken if outcome.quarantined)
            try:
                self._mark(uids, failed)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                for uid in uids:
                    self._settle_alone(uid, failed, tally)

    def _target(self, failed: bool) -> str:
        """The folder such mail moves to; "" to flag it where it is."""
        return self.config.failed_folder if failed else self.config.processed_folder

    def _mark(self, uids: list[int], failed: bool) -> None:
        target = self._target(failed)
        if target:
            self._folders.move(uids, target)
        else:
            self._live().add_flags(uids, [SEEN, FAILED_KEYWORD] if failed else [SEEN], silent=True)

    def _settle_alone(self, uid: int, failed: bool, tally: Tally) -> None:
        """One mail, after the server refused a group: say which, and make sure it is at least not new."""
        try:
            self._mark([uid], failed)
            return
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as err:
            target = self._target(failed)
            # The mail is safe in the database; say so and make sure it is at least not new any more.
            tally.lines.append(f"{self._source(uid)}: stored, but the server refused to "
                               f"{'move it to ' + repr(target) if target else 'flag it'}: {error_text(err)}")
            if target or failed:
                try:
                    self._live().add_flags([uid], [SEEN], silent=True)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:
                    pass

    @property
    def _folders(self) -> Folders:
        if self._folders_of is None:
            raise FetchError(f"{where(self.config)}: not connected")
        return self._folders_of

    def _live(self) -> IMAPClient:
        if self._client is None:
            raise FetchError(f"{where(self.config)}: not connected")
        return self._client

    # Waiting for mail (for the daemon)
    def idle_wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait in IMAP IDLE until the server announces mail, ``timeout`` passes, or ``stop`` is set.

        True when mail arrived (or may have: no IDLE support means "poll
        now"). Keep ``timeout`` under the server's limit (RFC 2177: re-IDLE
        at least every 29 minutes). ``stop`` is looked at every second
        within the one IDLE command, so a daemon stops promptly without
        re-issuing IDLE more often. A dropped connection is a FetchError.
        """
        try:
            self._ensure_connected()
            client = self._live()
            self._select()
            if self._uidnext > self._polled_below:
                return True  # arrived after the last poll listed the folder: IDLE would not announce it
            if not client.has_capability("IDLE"):
                if stop is not None:
                    stop.wait(timeout)
                else:
                    time.sleep(timeout)
                return True
            client.idle()
            responses: list = []
            deadline = time.monotonic() + timeout
            try:
                while not responses and not (stop is not None and stop.is_set()):
                    if _already_read(client):
                        break  # idle_done() below collects it
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    responses = client.idle_check(timeout=min(1.0, left) if stop is not None else left)
            finally:
                _text_done, more = client.idle_done()
        except _DROPPED as err:
            self.close()
            raise FetchError(f"{where(self.config)}: connection lost while idling: {error_text(err)}") from None
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in [*responses, *more])


def _already_read(client: IMAPClient) -> bool:
    """Whether the server's words wait in imaplib's read buffer rather than on the socket.

    ``idle()`` reads "+ idling" with a buffered readline; when Dovecot sends
    its announcement of mail that landed just before IDLE in the same packet,
    that announcement is in the buffer, and ``idle_check`` (which polls the
    socket) would not see it until the next keepalive. imapclient offers no
    public way to ask, hence the look at its imaplib connection's file.
    """
    reader = getattr(getattr(client, "_imap", None), "file", None)
    sock = client.socket()
    if reader is None or not hasattr(reader, "peek"):
        return False
    timeout = sock.gettimeout()
    sock.setblocking(False)  # peek() reads the socket only when the buffer is empty: never wait
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing there (EAGAIN, or TLS's want-read); a real fault shows in idle_check next
        return False
    finally:
        sock.settimeout(timeout)


def _chunks(sizes: dict[int, int]) -> Iterator[list[int]]:
    """At most ``BATCH_BYTES`` bytes of mail per chunk, in UID order; a larger mail, or one to spool, comes alone."""
    chunk: list[int] = []
    total = 0
    for uid in sorted(sizes):
        if sizes[uid] > SPOOL_OVER:
            if chunk:
                yield chunk
            yield [uid]
            chunk, total = [], 0
            continue
        if chunk and total + sizes[uid] > BATCH_BYTES:
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += sizes[uid]
    if chunk:
        yield chunk



def poll_all(rt: Runtime, *, batch: int = 100, on_backlog: Callable[[str, int], None] | None = None,
             on_outcome: Callable[[Outcome], None] | None = None, holder: str | None = None,
             stop: threading.Event | None = None) -> PollReport:
    """One poll of every configured mailbox, each on its own connection.

    A mailbox that cannot be reached is an ``errors`` line and the others
    are still polled; configuration and database errors raise. ``holder``:
    take each mailbox's lease first, as ``mailflow run`` does (``fetch.lease``),
    and renew it through a long backlog; a mailbox another instance holds is
    left to it, with a line saying so (not an error: it is being polled).
    ``stop``: end between two groups of mail, and poll no further mailbox.
    """
    report = PollReport()
    for config in rt.config.imap_mailboxes:
        if stop is not None and stop.is_set():
            report += PollReport(lines=(f"{config.name}: not polled: stopped",))
            continue
        what = "imap" if config is rt.config.imap else f"mailboxes[{config.name}]"
        backlog = (lambda n, name=config.name: on_backlog(name, n)) if on_backlog is not None else None
        lease = MailboxLease(rt.store, config, holder, rt.clock) if holder is not None else None
        if lease is not None and not lease.take():
            report += PollReport((config.name,), lines=(
                f"{config.name}: {lease.holder_now() or 'another instance'} is polling this mailbox; left to it",))
            continue
        try:
            with ImapMailbox(config, what=what) as box:
                report += box.poll(rt, batch=batch, on_backlog=backlog, on_outcome=_keeping(lease, on_outcome),
                                   stop=stop)
        except PollFailed as err:
            report += err.report + PollReport(errors=(str(err),))
        except (FetchError, TokenError) as err:
            report += PollReport((config.name,), errors=(str(err),))
        finally:
            if lease is not None:
                lease.give_back()
    return report


def _keeping(lease: MailboxLease | None,
             on_outcome: Callable[[Outcome], None] | None) -> Callable[[Outcome], None] | None:
    """``on_outcome``, renewing the lease after each mail (each one is settled and reported by then)."""
    if lease is None:
        return on_outcome

    def done(outcome: Outcome) -> None:
        if on_outcome is not None:
            on_outcome(outcome)
        lease.keep()

    return done
