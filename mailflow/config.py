"""TOML configuration -> frozen dataclasses.

Every key has a sensible default so `mailflow demo` and `mailflow ingest`
work with no file at all; every error names the file and the key, because an
admin fixing a config at 2 a.m. should not need a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mailflow.errors import ConfigError

SECURITY_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/mailflow.db"


@dataclass(frozen=True)
class OAuth2Config:
    """XOAUTH2 (Microsoft 365, Gmail): where the access token comes from, instead of a password."""

    token_command: str = ""  # run by /bin/sh; its stdout is the access token (re-run when it expires)
    token_file: str = ""  # a file holding only the token, kept fresh by another tool (re-read when it expires)

    @property
    def enabled(self) -> bool:
        return bool(self.token_command or self.token_file)


@dataclass(frozen=True)
class ImapConfig:
    host: str = ""
    port: int = 993
    security: str = "ssl"
    username: str = ""
    password: str = ""
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    failed_folder: str = ""
    # Added for the IMAP poller (mailflow.fetch.imap):
    name: str = "default"  # names the mailbox in its folder state and in each mail's source (imap:NAME/FOLDER#UID)
    timeout: int = 30  # seconds for connecting and for each server answer
    ca_file: str = ""  # PEM bundle to trust instead of the system's
    oauth2: OAuth2Config = field(default_factory=OAuth2Config)  # [imap.oauth2]


MAX_SMTP_CONNECTIONS = 20  # relays commonly allow a client 10 to 20 connections at once


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = ""
    password_env: str = ""
    password_file: str = ""
    from_address: str = "support@vendor.example.com"
    from_name: str = "Support"
    # Added for the outbox sender (mailflow.send):
    timeout: int = 30  # seconds for connecting and for each SMTP reply
    max_attempts: int = 30  # retries 1, 2, 4 … 60 min apart: about a day before a mail is marked failed
    ca_file: str = ""  # PEM bundle to trust instead of the system's (a private relay's CA)
    helo_name: str = ""  # name given in EHLO; default: the domain of from_address
    connections: int = 4  # connections a batch is sent over side by side (1: one after another)
    send_while_polling: float = 2.0  # seconds: `poll --once` sends what is due this often as it works (0: each mail)


@dataclass(frozen=True)
class PathsConfig:
    rules: str = "rules"
    templates: str = "reply_templates"
    attachments: str = "var/attachments"


@dataclass(frozen=True)
class SecurityConfig:
    require_authenticated_staff: bool = True
    trusted_authserv_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class GeneralConfig:
    timezone: str = "Asia/Shanghai"
    answer_within_days: int = 3  # working days promised for the first real answer
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_auto_replies_per_hour: int = 5  # RFC 3834: per address, before further replies are held


@dataclass(frozen=True)
class ReportConfig:
    recipients: tuple[str, ...] = ()  # `report --mail` goes to these (our staff only), monthly by cron
    top: int = 10  # rows in the top-customer, top-submitter and common-needs lists


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    imap: ImapConfig = field(default_factory=ImapConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    general: GeneralConfig = field(default_factory=GeneralConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    mailboxes: tuple[ImapConfig, ...] = ()  # [[mailboxes]]: more IMAP accounts besides [imap]
    source: str = "<defaults>"  # the file it came from, for messages
    base_dir: Path | None = None  # the config file's directory; None: the working directory

    def path(self, value: str) -> Path:
        """Resolve a configured path against the config file's directory.

        Without a config file paths stay as given, so messages read
        ``rules/routing.yaml:12`` rather than a long absolute path.
        """
        p = Path(value)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    @property
    def imap_mailboxes(self) -> tuple[ImapConfig, ...]:
        """Every mailbox to poll: ``[imap]`` first when it names a host, then each ``[[mailboxes]]``."""
        return ((self.imap,) if self.imap.host else ()) + self.mailboxes

    @property
    def database_url(self) -> str:
        """SQLite paths in the URL are relative to the config file too."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(url[len(prefix):]))
        return url


_SECTIONS = {
    "database": DatabaseConfig,
    "imap": ImapConfig,
    "smtp": SmtpConfig,
    "paths": PathsConfig,
    "security": SecurityConfig,
    "general": GeneralConfig,
    "report": ReportConfig,
}


def _coerce(source: str, key: str, value: Any, default: Any) -> Any:
    """Check a value against the type of its default; TOML already typed it."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):  # seconds: 5 and 0.5 are both fine
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        want = type(default).__name__ if not isinstance(default, tuple) else "list of strings"
        raise ConfigError(f"{source}: {key}: expected {want}, got {value!r}")
    return value


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the TOML file (or ``$MAILFLOW_CONFIG``); no file means all defaults."""
    if path is None:
        path = os.environ.get("MAILFLOW_CONFIG") or None
    if path is None:
        return Config()
    file = Path(path)
    source = str(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read: {err}") from None

    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name == "mailboxes":
            sections[name] = _mailboxes(source, value)
            continue
        cls = _SECTIONS.get(name)
        if cls is None:
            raise ConfigError(f"{source}: unknown section [{name}] (expected one of {', '.join(_SECTIONS)}, "
                              f"[[mailboxes]])")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        sections[name] = _section(source, name, cls, value)
    config = Config(**sections, source=source, base_dir=file.resolve().parent)
    _validate(config)
    return _resolve_files(config)


def _section(source: str, name: str, cls: type, value: dict[str, Any]) -> Any:
    """One table: every key known and of the right type."""
    defaults = cls()
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {name}.{key}")
        if key == "oauth2" and cls is ImapConfig:
            if not isinstance(item, dict):
                raise ConfigError(f"{source}: {name}.oauth2 must be a table")
            kwargs[key] = _section(source, f"{name}.oauth2", OAuth2Config, item)
            continue
        kwargs[key] = _coerce(source, f"{name}.{key}", item, getattr(defaults, key))
    return replace(defaults, **kwargs)


def _mailboxes(source: str, value: Any) -> tuple[ImapConfig, ...]:
    """``[[mailboxes]]``: the keys of ``[imap]``, and a ``name`` and ``host`` each must give."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{source}: mailboxes must be an array of tables ([[mailboxes]])")
    boxes = []
    for i, table in enumerate(value):
        where = f"mailboxes[{i}]"
        for key in ("name", "host"):
            if not table.get(key):
                raise ConfigError(f"{source}: {where}.{key}: required")
        boxes.append(_section(source, f"{where}", ImapConfig, table))
    return tuple(boxes)


def _resolve_files(config: Config) -> Config:
    """Secret and CA files named relative to the config file, like every other path."""
    def fix(section: Any, *keys: str) -> Any:
        return replace(section, **{k: str(config.path(getattr(section, k))) for k in keys if getattr(section, k)})

    def fix_imap(box: ImapConfig) -> ImapConfig:
        return replace(fix(box, "password_file", "ca_file"), oauth2=fix(box.oauth2, "token_file"))

    return replace(config, imap=fix_imap(config.imap), mailboxes=tuple(fix_imap(b) for b in config.mailboxes),
                   smtp=fix(config.smtp, "password_file", "ca_file"))


def _validate(config: Config) -> None:
    for name in ("imap", "smtp"):
        mode = getattr(config, name).security
        if mode not in SECURITY_MODES:
            raise ConfigError(f"{config.source}: {name}.security: expected one of {', '.join(SECURITY_MODES)}, got {mode!r}")
    _validate_mailboxes(config)
    if config.general.answer_within_days < 1:
        raise ConfigError(f"{config.source}: general.answer_within_days: expected a positive number, "
                          f"got {config.general.answer_within_days}")
    if config.report.top < 1:
        raise ConfigError(f"{config.source}: report.top: expected a positive number, got {config.report.top}")
    for key in ("timeout", "max_attempts", "connections"):
        if getattr(config.smtp, key) < 1:
            raise ConfigError(f"{config.source}: smtp.{key}: expected a positive number, got {getattr(config.smtp, key)}")
    if not 0 <= config.smtp.send_while_polling < float("inf"):
        raise ConfigError(f"{config.source}: smtp.send_while_polling: expected seconds, 0 or more, "
                          f"got {config.smtp.send_while_polling}")
    if config.smtp.connections > MAX_SMTP_CONNECTIONS:
        raise ConfigError(f"{config.source}: smtp.connections: at most {MAX_SMTP_CONNECTIONS} (relays refuse more "
                          f"from one client), got {config.smtp.connections}")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(config.general.timezone)
    except Exception:
        raise ConfigError(f"{config.source}: general.timezone: unknown time zone {config.general.timezone!r}") from None


# A mailbox name appears in folder state and in sources (imap:NAME/FOLDER#UID): keep it plain.
_MAILBOX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def _validate_mailboxes(config: Config) -> None:
    seen: set[str] = set()
    boxes = [("imap", config.imap)] + [(f"mailboxes[{i}]", b) for i, b in enumerate(config.mailboxes)]
    for where, box in boxes:
        if where == "imap" and not box.host:
            continue  # no [imap] host: there is no default mailbox
        fail = f"{config.source}: {where}"
        if not _MAILBOX_NAME.fullmatch(box.name):
            raise ConfigError(f"{fail}.name: {box.name!r}: use letters, digits and . _ @ + - (at most 64)")
        if box.name in seen:
            raise ConfigError(f"{fail}.name: {box.name!r} is already the name of another mailbox")
        seen.add(box.name)
        if box.security not in SECURITY_MODES:
            raise ConfigError(f"{fail}.security: expected one of {', '.join(SECURITY_MODES)}, got {box.security!r}")
        if not 0 < box.port < 65536:
            raise ConfigError(f"{fail}.port: expected 1-65535, got {box.port}")
        if box.timeout < 1:
            raise ConfigError(f"{fail}.timeout: expected a positive number, got {box.timeout}")
        if not box.folder:
            raise ConfigError(f"{fail}.folder: must not be empty")
        for key in ("processed_folder", "failed_folder"):
            if getattr(box, key) == box.folder:
                raise ConfigError(f"{fail}.{key}: must differ from folder {box.folder!r}, or mail would be fetched again")
        if box.oauth2.token_command and box.oauth2.token_file:
            raise ConfigError(f"{fail}.oauth2: give token_command or token_file, not both")
        if box.oauth2.enabled and not box.username:
            raise ConfigError(f"{fail}.username: required with oauth2 (the account the token is for)")


def secret(section: ImapConfig | SmtpConfig, what: str) -> str:
    """A password from the environment or a file, so the TOML need hold none."""
    if section.password_env:
        value = os.environ.get(section.password_env)
        if value is None:
            raise ConfigError(f"{what}.password_env: environment variable {section.password_env} is not set")
        return value
    if section.password_file:
        try:
            return Path(section.password_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"{what}.password_file: cannot read {section.password_file}: {err.strerror}") from None
    return section.password
