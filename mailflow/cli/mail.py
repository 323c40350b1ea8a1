"""Commands that move mail: ingest, poll, run, outbox list/send/export."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mailflow import pipeline
from mailflow.cli import cli, config_of, dump_list, ingest_paths, runtime_for, summary
from mailflow.errors import MailflowError
from mailflow.views import outbox_json, table_lines


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-v", "--verbose", is_flag=True, help="One line per mail, not just failures.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[str, ...], verbose: bool) -> None:
    """Ingest .eml files, directories of them, Maildirs or mbox files.

    SIGTERM or SIGINT ends the run after the batch of mails in hand (a second one at once);
    the same command again ingests the rest, skipping what is already in.
    """
    rt = runtime_for(config_of(ctx))
    stop = _Stop()
    with stop.on_signals():
        counts, unreadable = ingest_paths(rt, list(paths), verbose, stop=stop)
    click.echo(summary(counts))
    if stop.signal:
        click.echo(f"stopped by {stop.signal.name}: the same command again ingests the rest "
                   f"(mail already in is recognised and skipped)", err=True)
        ctx.exit(128 + stop.signal)
    if unreadable:
        ctx.exit(1)  # a path the user named could not be read: say so in the exit status too


@cli.group()
def outbox() -> None:
    """Mail waiting to be sent."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "blocked"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_list(ctx: click.Context, status: str | None, as_json: bool) -> None:
    from mailflow.send.outbox import list_outbox

    rt = runtime_for(config_of(ctx))
    with rt.store.session() as session:
        if as_json:
            dump_list(outbox_json(r) for r in list_outbox(session, status))
            return
        def rows() -> Iterator[list[str]]:
            for r in list_outbox(session, status):
                yield [r.requirement_id or "-", r.kind, r.status, r.template, ", ".join(r.to_addrs or []), r.subject]

        for line in table_lines(["REQUIREMENT", "KIND", "STATUS", "TEMPLATE", "TO", "SUBJECT"], rows,
                                limits={5: 40}):
            click.echo(line)


@outbox.command("send")
@click.option("--limit", type=int, help="Send at most this many mails.")
@click.pass_context
def outbox_send(ctx: click.Context, limit: int | None) -> None:
    """Send due mail over SMTP; temporary failures are retried later, never dropped.

    SIGTERM or SIGINT ends the batch once the mails on their way are answered (a second one at once).
    """
    from mailflow.config import secret
    from mailflow.send.sender import send_pending

    config = config_of(ctx)
    rt = runtime_for(config)
    stop = _Stop()
    with stop.on_signals():  # a signal ends the batch after the mails on their way: none is sent twice
        report = send_pending(rt.store, config.smtp, secret(config.smtp, "smtp"), now=rt.clock, limit=limit,
                              stop=stop)
    for line in report.lines:
        click.echo(line, err=True)
    click.echo(report.summary())
    if stop.signal:
        click.echo(f"stopped by {stop.signal.name}: the rest waits in the outbox", err=True)
        ctx.exit(128 + stop.signal)


@outbox.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--status", default="pending", show_default=True)
@click.pass_context
def outbox_export(ctx: click.Context, directory: str, status: str) -> None:
    """Write queued mail as .eml files instead of sending it."""
    from mailflow.send.outbox import export_eml, stream_outbox

    rt = runtime_for(config_of(ctx))
    with rt.store.session() as session:
        paths = export_eml(stream_outbox(session, status), Path(directory))
    click.echo(f"{len(paths)} mail(s) written to {directory}")


class _Progress:
    """A bar per mailbox, only for a large backlog on a terminal: cron logs stay clean."""

    THRESHOLD = 50

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, mailbox: str, total: int) -> None:
        self.finish()
        if total > self.THRESHOLD and sys.stdout.isatty():
            self._bar = click.progressbar(length=total, label=f"{mailbox}: {total} new mail(s)")
            self._bar.__enter__()

    def advance(self, _outcome: pipeline.Outcome) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def finish(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.__exit__(None, None, None)


@cli.command()
@click.option("--once", is_flag=True, help="Fetch what is there now, process it, send the outbox, exit.")
@click.pass_context
def poll(ctx: click.Context, once: bool) -> None:
    """Fetch new mail from every configured IMAP mailbox, process it, send the replies.

    Replies go out while a backlog is worked through (every ``smtp.send_while_polling``
    seconds), not only at the end, so the first client of a long backlog is answered at once.
    SIGTERM or SIGINT ends the poll after the group of mails in hand (a second one at once).
    """
    from mailflow.config import secret
    from mailflow.fetch.imap import poll_all
    from mailflow.send.while_polling import WhilePolling

    if not once:
        raise click.UsageError("give --once (to keep watching the mailboxes, run `mailflow run`)")
    config = config_of(ctx)
    if not config.imap_mailboxes:
        raise MailflowError(f"{config.source}: no mailbox to poll: set [imap] host (and [[mailboxes]] for more)")
    rt = runtime_for(config)
    stop = _Stop()
    sending = WhilePolling(rt.store, config.smtp, lambda: secret(config.smtp, "smtp"), now=rt.clock, stop=stop) \
        if config.smtp.host else None
    progress = _Progress()

    def done(outcome: pipeline.Outcome) -> None:
        progress.advance(outcome)
        if sending is not None:
            sending.after(outcome.queued)

    try:
        with stop.on_signals():
            report = poll_all(rt, on_backlog=progress.start, on_outcome=done,
                              holder=f"{socket.gethostname()}:{os.getpid()}:poll", stop=stop)
    finally:
        progress.finish()
    for line in report.lines:
        click.echo(line, err=True)
    sent = 0
    if sending is not None:
        sent_report = sending.so_far() if stop.signal else sending.finish()
        sent = sent_report.sent
        for line in sent_report.lines:
            click.echo(line, err=True)
        if sent_report.stopped:
            click.echo(f"sending stopped: {sent_report.stopped}", err=True)
    if stop.signal:
        click.echo(f"not sending the rest: stopped by {stop.signal.name} (the replies wait in the outbox for the "
                   f"next poll or `outbox send`)", err=True)
    elif sending is None:
        click.echo("not sending: smtp.host is not set (the replies wait in the outbox)", err=True)
    count = report.count
    click.echo(f"fetched {report.fetched} / new {count(pipeline.NEW)} / "
               f"follow-ups {count(pipeline.FOLLOW_UP)} / staff {count(pipeline.STAFF)} / "
               f"skipped automated {count(pipeline.AUTOMATED)} / duplicates {count(pipeline.DUPLICATE)} / "
               f"failed {count(pipeline.FAILED)} / sent {sent}")
    for error in report.errors:
        click.echo(f"mailflow: error: {error}", err=True)
    if stop.signal:
        ctx.exit(128 + stop.signal)  # as a shell reports a command a signal ended: it did not finish
    if report.errors:
        ctx.exit(1)


class _Stop(threading.Event):
    """Set by SIGTERM or SIGINT: a poll or an ingest ends between two groups of mail, sending once the
    mails on their way are answered; nothing in hand is cut off.

    Without it either signal ended the process wherever it was: nothing was lost
    (each mail is one transaction, flagged only after its commit), but the
    replies it was sending were held ten minutes (their claim) or, taken by
    the relay and not yet recorded, sent twice; and the mailbox stayed leased
    to the dead process for two minutes. A second signal ends the process at
    once, as before.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signal: signal.Signals | None = None

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # only the main thread may take signals
            yield
            return
        caught = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._caught) for sig in caught}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _caught(self, number: int, _frame: object) -> None:
        if self.is_set():  # the second: at once
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
            return
        self.signal = signal.Signals(number)  # said after the poll: writing from a handler may trip over a write
        self.set()


@cli.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Plain lines for people, JSON lines for log collectors.")
@click.pass_context
def run(ctx: click.Context, log_format: str) -> None:
    """Daemon: IMAP IDLE on every mailbox, send the outbox; stops cleanly on SIGTERM/SIGINT."""
    from mailflow.daemon import run as run_daemon
    from mailflow.logs import setup_logging

    setup_logging(log_format)
    rt = runtime_for(config_of(ctx))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_daemon(rt, stop)
