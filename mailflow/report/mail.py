"""The monthly report as a mail to managers: text for any client, the HTML report inline and attached.

Only our own staff may receive it: it names customers and quotes their
requests, so an address outside ``rules/staff.yaml`` is refused rather
than sent a copy of the month's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy.orm import Session

from mailflow.errors import MailflowError
from mailflow.parse.model import Address
from mailflow.send.headers import make_message_id
from mailflow.send.outbox import enqueue_raw


def queue_report(session: Session, *, month: str, text: str, html: str, recipients: Iterable[str],
                 staff_emails: frozenset[str], sender: Address, now: datetime) -> str:
    """Queue the report mail; returns its Message-ID. Raises MailflowError for a non-staff recipient."""
    to = tuple(dict.fromkeys(r.strip().lower() for r in recipients if r.strip()))
    if not to:
        raise MailflowError("report --mail: no recipients (set [report] recipients in the config, or --to)")
    outsiders = [r for r in to if r not in staff_emails]
    if outsiders:
        raise MailflowError(f"report --mail: {', '.join(outsiders)} is not in rules/staff.yaml; "
                            f"the report goes to our own staff only")
    subject = f"需求月报 / Monthly requirements report {month}"
    domain = sender.email.rpartition("@")[2] or "localhost"
    message_id = make_message_id(f"REPORT-{month}", domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = HeaderAddress(display_name=sender.name, addr_spec=sender.email)
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    msg.add_attachment(html.encode("utf-8"), maintype="text", subtype="html",
                       filename=f"mailflow-report-{month}.html")
    enqueue_raw(session, msg.as_bytes(), message_id=message_id, to=to, subject=subject, template="report",
                now=now)
    return message_id
