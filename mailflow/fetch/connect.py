"""Open a logged-in IMAP connection, or say in one line why not.

Security is ours to decide, not the server's: ``ssl`` is TLS from the first
byte, ``starttls`` *requires* the server to offer STARTTLS (no silent fall
back to clear text), certificates are always verified (``ca_file`` for a
private CA), and ``none`` is allowed only to a server on this host. With
XOAUTH2 a refused token is fetched again once — the usual case is simply an
expired one — and a second refusal is an error.
"""

from __future__ import annotations

import imaplib
import logging
import os
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailflow.config import ImapConfig
from mailflow.errors import ConfigError, MailflowError
from mailflow.fetch.oauth2 import TokenSource
from mailflow.net import error_text, is_loopback

__all__ = ["FetchError", "check_security", "open_client", "where"]

# Where IMAPClient sends imaplib's protocol trace: every line exchanged, the login redacted. Shown
# when this logger is at DEBUG, or when MAILFLOW_IMAP_TRACE=1 (to stderr, or into `run`'s log).
PROTOCOL_TRACE = logging.getLogger("imapclient.imaplib")
TRACE_VARIABLE = "MAILFLOW_IMAP_TRACE"


class FetchError(MailflowError):
    """The IMAP server cannot be used now (unreachable, TLS, login, connection lost); one line."""


def where(config: ImapConfig) -> str:
    return f"imap {config.name} ({config.host}:{config.port})"


def check_security(config: ImapConfig, what: str) -> None:
    """Refuse a configuration that would put a password or mail on the network in clear."""
    if not config.host:
        raise ConfigError(f"{what}.host is not set: there is no server to fetch from")
    if not config.username:
        raise ConfigError(f"{what}.username is not set: the account to log in as")
    if config.security == "none" and not is_loopback(config.host):
        raise ConfigError(f'{what}.security = "none" sends the password and mail in clear: allowed only to a '
                          f'server on this host (127.0.0.1, ::1, localhost), not {config.host}; use "ssl" or "starttls"')


def open_client(config: ImapConfig, what: str, *, password: str | None, tokens: TokenSource | None) -> IMAPClient:
    """A connection logged in as ``config.username`` (password, or XOAUTH2 when ``tokens`` is given)."""
    check_security(config, what)
    context = _tls_context(config, what) if config.security != "none" else None
    try:
        client = IMAPClient(config.host, port=config.port, ssl=config.security == "ssl", ssl_context=context,
                            timeout=config.timeout)
    except (OSError, imaplib.IMAP4.error) as err:
        raise FetchError(f"{where(config)}: cannot connect: {_reason(err)}") from None
    quiet_trace(client)
    try:
        if config.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise FetchError(f"{where(config)}: the server offers no STARTTLS; refusing to log in in clear")
            client.starttls(context)
        login(client, config, password=password, tokens=tokens)
    except BaseException as err:
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass
        if isinstance(err, (OSError, imaplib.IMAP4.error)):
            raise FetchError(f"{where(config)}: {_reason(err)}") from None
        raise
    return client


def quiet_trace(client: IMAPClient) -> None:
    """Turn imaplib's protocol trace off unless someone reads it (DEBUG on its logger, ``MAILFLOW_IMAP_TRACE``).

    Why: IMAPClient sets imaplib's trace level to 5 and hands the lines to a
    logger, which drops them at any level above DEBUG -- but imaplib has
    already formatted them, and at level 5 that includes the ``repr`` of
    every fetched mail, twice. On loopback Dovecot, fetching 5,000 mails took
    1.22 s with the trace and 0.21 s without it (``bench/imap.py``).
    """
    imap = getattr(client, "_imap", None)  # IMAPClient's imaplib connection; absent, nothing to turn off
    if imap is not None and not _trace_wanted():
        imap.debug = 0


def _trace_wanted() -> bool:
    """DEBUG on the trace's logger; MAILFLOW_IMAP_TRACE=1 sets it, with a stderr handler if nothing logs."""
    if os.environ.get(TRACE_VARIABLE, "").strip() not in ("", "0") and not PROTOCOL_TRACE.isEnabledFor(logging.DEBUG):
        PROTOCOL_TRACE.setLevel(logging.DEBUG)
        if not logging.getLogger().handlers and not PROTOCOL_TRACE.handlers:  # `poll --once`: no log set up
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s imap %(message)s"))
            PROTOCOL_TRACE.addHandler(handler)
    return PROTOCOL_TRACE.isEnabledFor(logging.DEBUG)


def login(client: IMAPClient, config: ImapConfig, *, password: str | None, tokens: TokenSource | None) -> None:
    """LOGIN with the password, or AUTHENTICATE XOAUTH2 with a token (fetched again once if refused)."""
    if tokens is None:
        try:
            client.login(config.username, password or "")
        except LoginError as err:
            raise FetchError(f"{where(config)}: login as {config.username} refused: {_reason(err)}") from None
        return
    refused: LoginError | None = None
    for refresh in (False, True):
        try:
            client.oauth2_login(config.username, tokens.token(refresh=refresh))
            return
        except LoginError as err:
            refused = err
    raise FetchError(f"{where(config)}: XOAUTH2 login as {config.username} refused, with a fresh token too: "
                     f"{_reason(refused)}")


def _tls_context(config: ImapConfig, what: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=config.ca_file or None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"{what}.ca_file: cannot load {config.ca_file}: {_reason(err)}") from None


def _reason(err: BaseException | None) -> str:
    """One line whatever raised it: socket errors, TLS, imaplib's bytes-or-str messages."""
    if err is None:
        return "refused"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {err.verify_message}"
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return error_text(err)
