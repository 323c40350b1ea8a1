"""Commands that set things up: db upgrade, demo."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import click
from sqlalchemy import select

import mailflow
from mailflow import pipeline
from mailflow.cli import cli, config_of, fixed_now, ingest_paths, runtime_for, summary
from mailflow.config import Config, DatabaseConfig, PathsConfig, SecurityConfig
from mailflow.errors import MailflowError
from mailflow.store.session import upgrade
from mailflow.store.tables import Requirement
from mailflow.views import table

PACKAGE = Path(mailflow.__file__).resolve().parent


@cli.group()
def db() -> None:
    """Database schema, and the attachment files beside it."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply Alembic migrations up to the newest schema."""
    from mailflow.store.session import make_engine

    config = config_of(ctx)
    head = upgrade(make_engine(config.database_url))
    click.echo(f"database at revision {head}")


@db.command("prune-files")
@click.option("--grace-hours", type=click.IntRange(min=1), default=24, show_default=True,
              help="Leave files touched within this many hours: a worker may be about to record them.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@click.option("--even-if-none-named", is_flag=True,
              help="Go on when the database names no file at all (else refused: probably the wrong database).")
@click.pass_context
def db_prune_files(ctx: click.Context, grace_hours: int, dry_run: bool, even_if_none_named: bool) -> None:
    """Remove attachment files no record names (our own mail, quarantined mail, interrupted work)."""
    from datetime import datetime, timedelta, timezone

    from mailflow.record.blob_sweep import sweep_blobs
    from mailflow.store.session import open_store

    config = config_of(ctx)
    root = config.path(config.paths.attachments)
    store = open_store(config.database_url)
    try:
        report = sweep_blobs(store, root, now=datetime.now(timezone.utc), grace=timedelta(hours=grace_hours),
                             dry_run=dry_run, even_if_none_named=even_if_none_named)
    except OSError as err:
        raise MailflowError(f"{root}: {err.strerror or err}"
                            + (f": {err.filename}" if err.filename else "")) from None
    finally:
        store.close()
    click.echo(f"{root}: {report.summary()}")


def _bundled(name: str) -> Path:
    """rules/ or reply_templates/: from the working directory, else beside the package."""
    here = Path.cwd() / name
    return here if here.is_dir() else PACKAGE.parent / name


@cli.command()
@click.option("--dir", "out_dir", default="var/demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo database, attachments and replies go (emptied first).")
@click.option("--now", "now_text", help="Pretend it is this moment (ISO 8601), for reproducible output.")
@click.option("-v", "--verbose", is_flag=True)
def demo(out_dir: str, now_text: str | None, verbose: bool) -> None:
    """The embedded default: sample inbox -> SQLite -> replies as .eml files."""
    from mailflow.send.outbox import export_eml, stream_outbox

    base = Path(out_dir)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    config = Config(
        database=DatabaseConfig(url=f"sqlite:///{base.resolve() / 'mailflow.db'}"),
        paths=PathsConfig(rules=str(_bundled("rules")), templates=str(_bundled("reply_templates")),
                          attachments=str(base.resolve() / "attachments")),
        # The demo world's border MTA; its Authentication-Results are what staff commands are judged by.
        security=SecurityConfig(trusted_authserv_ids=("mx.vendor.example.com",)),
        source="<demo>",
    )
    rt = runtime_for(config, fixed_now(now_text, "--now"))
    inbox = PACKAGE / "demo" / "inbox"
    other: list[pipeline.Outcome] = []  # the mails not turned into new requirements, listed below
    counts, _ = ingest_paths(rt, [str(inbox)], verbose,
                             on_outcome=lambda o: other.append(o) if o.kind != pipeline.NEW else None)
    with rt.store.session() as session:
        reqs = list(session.scalars(select(Requirement).order_by(Requirement.id)))
        queued = list(stream_outbox(session))  # with their bytes: they are exported next
        written = export_eml(queued, base / "outbox")
        replies = Counter(row.requirement_id for row in queued)
        click.echo(table(
            ["ID", "TYPE", "PRIO", "DUE", "STAGE", "CUSTOMER", "OWNER", "REPLIES", "SUBJECT"],
            [[r.id, r.type, r.priority, r.due_at.astimezone(rt.tz).strftime("%m-%d %H:%M") if r.due_at else "-",
              r.customer_stage, r.customer or "-", r.owner or "-", str(replies.get(r.id, 0)), r.subject]
             for r in reqs],
            limits={5: 18, 8: 36},
        ))
    if other:
        click.echo("")
        for o in other:
            click.echo(f"  {Path(o.source).name}: {o.kind} {o.requirement_id or ''} {o.reason}".rstrip())
    click.echo("")
    click.echo(summary(counts))
    click.echo(f"database: {base / 'mailflow.db'}   replies: {len(written)} .eml file(s) in {base / 'outbox'}")
    click.echo("DUE: each requirement's next SLA deadline, in working time (rules/sla.yaml, rules/calendar.yaml)")
