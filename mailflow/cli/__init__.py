"""The command line: parse options, load config, call one function, print.

Exit codes: 0 ok, 1 user/config/rule error (one line, no traceback), 2 usage.
The commands live by area: ``records`` (requirements, rules), ``mail``
(ingest, poll, run, outbox), ``clock`` (sla tick, report), ``admin`` (db,
demo); this module holds the group and what they share.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from mailflow import pipeline
from mailflow.config import Config, load_config
from mailflow.errors import MailflowError
from mailflow.fetch.files import SourceError, iter_sources
from mailflow.parse.ahead import parse_ahead
from mailflow.store.session import db_reason, open_store


class _Group(click.Group):
    """Turns every MailflowError into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MailflowError as err:
            click.echo(f"mailflow: error: {err}", err=True)
            ctx.exit(1)
        except SQLAlchemyError as err:  # whatever a command did not expect from the database
            click.echo(f"mailflow: error: database: {db_reason(err)}", err=True)
            ctx.exit(1)


def config_of(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def dump(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def dump_list(items: Iterable[Any]) -> None:
    """``dump`` of a list, written as its items come: the same text, without holding the list."""
    first = True
    for item in items:
        body = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + body, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


@click.group(cls=_Group)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="MAILFLOW_CONFIG",
              help="TOML configuration (default: $MAILFLOW_CONFIG, else built-in defaults).")
@click.version_option(package_name="mailflow")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """mailflow: a support inbox turned into a disciplined requirement desk."""
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand != "demo":
        ctx.obj["config"] = load_config(config_path)


def fixed_now(text: str | None, what: str) -> datetime | None:
    """A pretend clock for reproducible runs and tests; must carry a time zone."""
    if not text:
        return None
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        raise MailflowError(f"{what} {text!r}: not an ISO 8601 time") from None
    if now.tzinfo is None:
        raise MailflowError(f"{what} {text}: give a time zone, e.g. 2026-11-23T10:00:00+08:00")
    return now


def runtime_for(config: Config, now: datetime | None = None) -> pipeline.Runtime:
    now = now or fixed_now(os.environ.get("MAILFLOW_NOW"), "MAILFLOW_NOW")
    store = open_store(config.database_url)
    return pipeline.load_runtime(config, store, clock=(lambda: now) if now else None)


def ingest_paths(rt: pipeline.Runtime, paths: list[str], verbose: bool,
                 on_outcome: Callable[[pipeline.Outcome], None] | None = None,
                 stop: threading.Event | None = None) -> tuple[pipeline.Counts, int]:
    """Process every mail under ``paths``; bad mail is quarantined, the batch goes on.

    Returns the outcomes counted (``on_outcome`` sees each one as it comes)
    and how many sources could not be read at all. ``stop``, once set, ends
    the work after the batch in hand is committed: a backlog of files stopped
    by systemd or ^C keeps what it did, and running the same paths again
    takes the rest (what is in is recognised and skipped).
    """
    counts = pipeline.Counts()
    unreadable = 0

    def done(outcome: pipeline.Outcome) -> None:
        counts.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def readable() -> Iterator[tuple[bytes, str]]:
        nonlocal unreadable
        for item in iter_sources(paths, rt.config.path(rt.config.paths.attachments),
                                 max_file=rt.config.general.max_attachment_bytes):
            if isinstance(item, SourceError):
                click.echo(f"{item.source}: error: {item.reason}", err=True)
                unreadable += 1
                done(pipeline.Outcome(pipeline.FAILED, item.source, reason=item.reason))
                continue
            yield item.raw, item.source

    groups = pipeline.batches(readable(), lambda item: len(item[0]))
    store = (rt.config.path(rt.config.paths.attachments), rt.config.general.max_attachment_bytes)
    for batch, parsed in parse_ahead(groups, lambda item: item[0], store=store, stop=stop):  # ends at a stop
        for outcome in pipeline.process_batch(batch, rt, parsed):
            done(outcome)
            if outcome.kind == pipeline.FAILED:
                click.echo(outcome.line(), err=True)
            elif verbose:
                click.echo(outcome.line())
    return counts, unreadable


def summary(counts: pipeline.Counts) -> str:
    order = [pipeline.NEW, pipeline.FOLLOW_UP, pipeline.STAFF, pipeline.DUPLICATE, pipeline.AUTOMATED, pipeline.FAILED]
    parts = [f"{counts.count(k)} {k.replace('_', '-')}" for k in order]
    return f"{counts.total} mail(s): " + ", ".join(parts) + f"; {counts.queued} reply(ies) queued"


def main() -> None:
    cli(obj={})



# Importing the areas registers their commands on ``cli``.
from mailflow.cli import admin, clock, mail, records  # noqa: E402,F401  (registers the commands)
