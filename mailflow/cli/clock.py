"""Commands about time: the SLA clock (``sla tick``)."""

from __future__ import annotations

import click

from mailflow.cli import cli, config_of, dump, runtime_for


@cli.group()
def sla() -> None:
    """The SLA clock: reminders, escalations, weekly progress mails."""


@sla.command("tick")
@click.option("--send", is_flag=True, help="Also send the outbox afterwards (as poll --once does).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def sla_tick(ctx: click.Context, send: bool, as_json: bool) -> None:
    """Raise due reminders and escalations now; each deadline at most once, however often this runs."""
    from mailflow.sla.tick import tick

    config = config_of(ctx)
    rt = runtime_for(config)
    report = tick(rt)
    for line in report.lines:
        click.echo(line, err=True)
    if as_json:
        dump({"reminders": report.reminders, "escalations": report.escalations, "breaches": report.breaches,
              "progress": report.progress, "queued": report.queued, "problems": report.lines})
    else:
        click.echo(report.summary())
    if send and report.queued:
        from mailflow.config import secret
        from mailflow.send.sender import send_pending

        sent = send_pending(rt.store, config.smtp, secret(config.smtp, "smtp"), now=rt.clock)
        for line in sent.lines:
            click.echo(line, err=True)
        click.echo(sent.summary())
    if report.lines:
        ctx.exit(1)

