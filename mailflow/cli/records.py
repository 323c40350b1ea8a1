"""Commands that look at records and rules: requirements list/show, rules check/explain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mailflow import pipeline
from mailflow.cli import cli, config_of, dump, dump_list, runtime_for
from mailflow.errors import MailflowError
from mailflow.store.tables import Requirement
from mailflow.views import requirement_json, table_lines


@cli.group()
def requirements() -> None:
    """Look at requirement records."""


# What a requirement's JSON includes, loaded in one query per relation, not per row.
_FULL = (selectinload(Requirement.messages), selectinload(Requirement.events), selectinload(Requirement.attachments))
READ_PER = 200  # rows a listing reads at a time


@requirements.command("list")
@click.option("--status")
@click.option("--owner")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def requirements_list(ctx: click.Context, status: str | None, owner: str | None, as_json: bool) -> None:
    # Written as it is read, a few hundred at a time: a desk's history does not fit in memory. 6,546
    # requirements took the table to 229 MB and the JSON to 386 MB when every one was loaded, with its
    # mails, log and files, before the first line.
    config = config_of(ctx)
    rt = runtime_for(config)
    wanted = [Requirement.status == status] if status else []
    if owner:
        wanted.append(Requirement.owner == owner)
    with rt.store.session() as session:
        if as_json:
            stmt = (select(Requirement).where(*wanted).order_by(Requirement.id).options(*_FULL)
                    .execution_options(yield_per=READ_PER))
            dump_list(requirement_json(r, rt.tz) for r in session.scalars(stmt))
            return
        columns = select(Requirement.id, Requirement.status, Requirement.type, Requirement.priority,
                         Requirement.customer_stage, func.coalesce(func.nullif(Requirement.customer, ""), "-"),
                         func.coalesce(func.nullif(Requirement.owner, ""), "-"), Requirement.subject).where(*wanted)
        for line in table_lines(["ID", "STATUS", "TYPE", "PRIO", "STAGE", "CUSTOMER", "OWNER", "SUBJECT"],
                                lambda: session.execute(columns.order_by(Requirement.id)
                                                        .execution_options(yield_per=READ_PER)),
                                limits={5: 18, 7: 40}):
            click.echo(line)


@requirements.command("show")
@click.argument("requirement_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def requirements_show(ctx: click.Context, requirement_id: str, as_json: bool) -> None:
    rt = runtime_for(config_of(ctx))
    with rt.store.session() as session:
        req = session.scalar(select(Requirement).where(Requirement.id == requirement_id.upper()).options(*_FULL))
        if req is None:
            raise MailflowError(f"no requirement {requirement_id}")
        data = requirement_json(req, rt.tz)
    if as_json:
        dump(data)
        return
    click.echo(_show_text(data))


def _plan(plan: dict[str, Any]) -> str:
    if not plan["version"]:
        return "-"
    state = f"confirmed by {plan['confirmed_by']}" if plan["confirmed"] else "proposed, not confirmed"
    patch = f", patch {plan['patch']}" if plan["patch"] else ""
    return f"{plan['version']} @ {plan['date']} ({state}){patch}"


def _show_text(d: dict[str, Any]) -> str:
    lines = [
        f"{d['id']}  [{d['status']}]  {d['subject']}",
        f"type: {d['type']}   priority: {d['priority']}   owner: {d['owner'] or '-'} ({d['owner_reason']})",
        f"customer: {d['customer'] or '-'}   stage: {d['customer_stage']}   tier: {d['customer_tier']}",
        f"submitter: {d['submitter']['name']} <{d['submitter']['email']}>   liaison: {d['liaison'] or '-'}",
        f"submitted: {d['submitted_at']}   next deadline: {d['due_at'] or '-'}",
        f"plan: {_plan(d['plan'])}   verification: {d['verification'] or '-'}   "
        f"satisfaction: {d['satisfaction'] or '-'}   completed: {d['completed_at'] or '-'}",
        "",
        d["description"],
        "",
    ]
    for a in d["attachments"]:
        lines.append(f"attachment: {a['filename']} ({a['size']} bytes, sha256 {a['sha256'][:12]}…)")
    lines.append("process log (newest first):")
    for e in reversed(d["events"]):
        detail = " / ".join(line.strip() for line in e["detail"].splitlines() if line.strip())  # one line per step
        lines.append(f"  {e['at']}  {e['actor']}  {e['kind']}: {detail}")
    return "\n".join(lines)


@cli.group()
def rules() -> None:
    """Validate and explain the YAML rules."""


@rules.command("check")
@click.pass_context
def rules_check(ctx: click.Context) -> None:
    """Validate every rule file and template; exit 1 with file:line on error."""
    from mailflow.classify import check_rules
    from mailflow.reply import check_templates
    from mailflow.report.glossary import NEEDS_FILE, check_glossary
    from mailflow.reply.guard import COMMITMENT_FILE, check_commitment
    from mailflow.sla.calendar_file import CALENDAR_FILE, check_calendar
    from mailflow.sla.policy import SLA_FILE, check_sla

    config = config_of(ctx)
    rules_dir = config.path(config.paths.rules)
    errors = (check_rules(rules_dir) + check_commitment(rules_dir / COMMITMENT_FILE)
              + check_calendar(rules_dir / CALENDAR_FILE) + check_sla(rules_dir / SLA_FILE)
              + check_glossary(rules_dir / NEEDS_FILE)
              + check_templates(config.path(config.paths.templates)))
    for line in errors:
        click.echo(line, err=True)
    if errors:
        ctx.exit(1)
    click.echo("rules and templates OK")


@rules.command("explain")
@click.argument("eml", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def rules_explain(ctx: click.Context, eml: str) -> None:
    """Dry run: which rules fire for this mail, and what would be sent."""
    from mailflow.classify import explain
    from mailflow.parse import parse

    config = config_of(ctx)
    rt = runtime_for(config)
    mail = parse(Path(eml).read_bytes())
    decision, drafts = pipeline.preview(mail, rt)
    for line in explain(mail, rt.rules, decision):
        click.echo(line)
    click.echo("")
    if mail.automated:
        click.echo(f"automated mail ({mail.automated}): nothing would be sent")
    for d in drafts:
        click.echo(f"would send [{d.kind}] {d.template} to {', '.join(d.to)}: {d.subject}")
