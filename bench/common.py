"""What the benchmarks share: the mailflow config they run with, and where results go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generate import STAFF_MX

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def config_text(work: Path, extra: str = "") -> str:
    """The benchmarks' mailflow config: SQLite in ``work``, the shipped rules, our border MTA trusted."""
    return f"""
[database]
url = "sqlite:///{work / 'mailflow.db'}"

[paths]
rules = "{ROOT / 'rules'}"
templates = "{ROOT / 'reply_templates'}"
attachments = "{work / 'attachments'}"

[security]
trusted_authserv_ids = ["{STAFF_MX}"]  # the generated staff mail carries its dkim=pass
{extra}"""


def imap_section(server: Any, user: str) -> str:
    """The ``[imap]`` table for a user of a ``tests/dovecot_server.DovecotServer`` on loopback."""
    return f"""
[imap]
host = "{server.host}"
port = {server.port}
security = "none"
username = "{user}"
password = "{server.users[user]}"
timeout = 60
"""


def smtp_section(sink: Any, sender: str, extra: str = "") -> str:
    """The ``[smtp]`` table for a ``tests/smtp_sink.SmtpSink`` on loopback, mail sent as ``sender``."""
    return f"""
[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
from_address = "{sender}"
{extra}"""


def save_result(name: str, result: dict, *, full: bool) -> Path:
    """results/NAME.json for a run at the benchmark's own size; a quick run (a smaller N from the
    environment) goes to results/NAME-quick.json instead, so it never overwrites the figures of a full run."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"{name}.json" if full else f"{name}-quick.json")
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path
