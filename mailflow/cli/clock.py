"""Commands about time: the SLA clock (``sla tick``) and the monthly report (``report``)."""

from __future__ import annotations

from datetime import datetime

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


def _last_month(now: datetime) -> str:
    """A monthly report is read at the start of the next month: by default, the month that just ended."""
    first = now.replace(day=1)
    return f"{first.year - (first.month == 1)}-{12 if first.month == 1 else first.month - 1:02d}"


@cli.command()
@click.option("--month", help="YYYY-MM (default: last month, in the desk's time zone).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "html"]), default="text",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option("--mail", "mail", is_flag=True,
              help="Mail the report (HTML, with a text part) to [report] recipients, and send it.")
@click.option("--to", "to", multiple=True, help="With --mail: these staff addresses instead of [report] recipients.")
@click.pass_context
def report(ctx: click.Context, month: str | None, fmt: str, output: str | None, mail: bool,
           to: tuple[str, ...]) -> None:
    """The monthly report: counts, times in working hours, SLA breaches, satisfaction, common needs."""
    from pathlib import Path

    from mailflow.report.figures import build_report, month_bounds
    from mailflow.report.gather import descriptions_of, items_for_month
    from mailflow.report.glossary import NEEDS_FILE, load_glossary
    from mailflow.report.html import render_html
    from mailflow.report.render import render_csv, render_json, render_text

    config = config_of(ctx)
    rt = runtime_for(config)
    month = month or _last_month(rt.clock().astimezone(rt.tz))
    try:
        month_bounds(month)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--month") from None
    glossary = load_glossary(config.path(config.paths.rules) / NEEDS_FILE)
    with rt.store.session() as session:  # descriptions read as the common needs ask: a busy month's bulk
        items = items_for_month(session, month, rt.tz, descriptions=False)
        result = build_report(items, month=month, tz=rt.tz, elapsed_hours=rt.calendar.elapsed_hours,
                              glossary=glossary, top=config.report.top,
                              describe=lambda ids: descriptions_of(session, ids))
    render = {"text": render_text, "json": render_json, "csv": render_csv, "html": render_html}[fmt]
    body = render(result)
    if output:
        Path(output).write_text(body, encoding="utf-8")
        click.echo(f"report {month}: {result.total} requirements -> {output}")
    elif not mail:
        click.echo(body, nl=not body.endswith("\n"))
    if mail:
        from mailflow.config import secret
        from mailflow.report.mail import queue_report
        from mailflow.send.sender import send_pending

        with rt.store.session() as session:
            queue_report(session, month=month, text=render_text(result), html=render_html(result),
                         recipients=to or config.report.recipients,
                         staff_emails=frozenset(s.email for s in rt.rules.staff), sender=rt.sender, now=rt.clock())
        click.echo(f"report {month}: queued for {', '.join(to or config.report.recipients)}")
        if config.smtp.host:
            sent = send_pending(rt.store, config.smtp, secret(config.smtp, "smtp"), now=rt.clock)
            for line in sent.lines:
                click.echo(line, err=True)
            click.echo(sent.summary())
