"""Hand one composed mail to the SMTP relay, and say precisely how it went.

The outbox has to choose, after every attempt, between three things, so
every failure is sorted into one of three errors (each a one-line message):

- ``PermanentFailure``: the server answered 5xx for *this mail* (sender or
  every recipient refused, content rejected). Retrying cannot help; the
  message carries the server's whole answer so a person can act on it.
- ``TemporaryFailure``: a 4xx for this mail (greylisting, a full queue, one
  recipient's mailbox busy). Retry it later.
- ``ConnectionFailure`` (a ``TemporaryFailure``): no usable session at all —
  connection refused, reset or timed out, a ``421``, the server lost in the
  middle, a TLS handshake that fails, a login that is refused, a server that
  offers no STARTTLS, our envelope sender refused (``530`` authentication
  required, ``550`` sender not allowed: the same for every mail). None of
  that is the mail's fault, so no mail is ever
  *failed* for it: the mail waits and the batch stops, because the next mail
  would meet the same wall. A bad certificate or a wrong password is a
  configuration error, but reporting it as a permanent failure would throw
  away every queued mail for a fault an admin fixes in a minute; the line
  says what to fix, and the mail goes once it is fixed.

Security is not negotiable from the server's side: ``starttls`` means the
server *must* offer STARTTLS — if it does not, neither the password nor the
mail is sent in clear; certificates are always verified (``ca_file`` for a
private CA); ``none`` is refused unless the relay is on this host
(loopback), the one place clear text never crosses a network.

Per-recipient answers: a 5xx for some recipients while others are accepted
sends the mail to the others and names the refused ones in the reply line;
a 4xx for any recipient defers the whole mail (RSET before DATA, so nobody
receives it twice when it is retried to everyone).
"""

from __future__ import annotations

import asyncio
import copy
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from mailflow.config import SECURITY_MODES, SmtpConfig
from mailflow.errors import ConfigError, MailflowError
from mailflow.net import is_loopback

__all__ = ["AsyncSmtpSession", "ConnectionFailure", "Delivery", "PermanentFailure", "SmtpSession",
           "TemporaryFailure", "check_security", "deliver", "envelope_sender"]


class TemporaryFailure(MailflowError):
    """The mail may go later: a 4xx answer, or the server cannot be used right now."""


class ConnectionFailure(TemporaryFailure):
    """The server takes no mail from us now (unreachable, TLS, login, 421, sender refused): stop the batch."""


class PermanentFailure(MailflowError):
    """A 5xx answer for this mail; the message carries the server's full answer."""


@dataclass(frozen=True)
class Delivery:
    """The server took the mail: its reply, and recipients it refused for good (address, answer)."""

    reply: str  # "250 2.0.0 Ok: queued as 4F2A1"
    refused: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        if not self.refused:
            return self.reply
        return f"{self.reply}; refused: " + "; ".join(f"{address} ({answer})" for address, answer in self.refused)


def check_security(config: SmtpConfig) -> None:
    """Refuse a configuration that would put mail or a password on the network in clear."""
    if not config.host:
        raise ConfigError("smtp.host is not set: there is no server to send through")
    if config.security not in SECURITY_MODES:
        raise ConfigError(f"smtp.security: expected one of {', '.join(SECURITY_MODES)}, got {config.security!r}")
    if config.security == "none" and not is_loopback(config.host):
        raise ConfigError(f'smtp.security = "none" sends mail and password in clear: allowed only to a loopback '
                          f'relay (127.0.0.1, ::1, localhost), not {config.host}; use "starttls" or "ssl"')


def envelope_sender(config: SmtpConfig) -> str:
    """The bare address of ``from_address`` (it may be written ``Name <addr>``)."""
    address = parseaddr(config.from_address)[1]
    if "@" not in address:
        raise ConfigError(f"smtp.from_address: not a mail address: {config.from_address!r}")
    return address


class AsyncSmtpSession:
    """One connection, reused for many mails, opened on the first send and reopened when dropped."""

    def __init__(self, config: SmtpConfig, password: str) -> None:
        check_security(config)
        self._config = config
        self._password = password
        self._where = f"{config.host}:{config.port}"
        self._tls = _tls_context(config) if config.security != "none" else None
        self._helo = config.helo_name or envelope_sender(config).rpartition("@")[2]
        self._client: aiosmtplib.SMTP | None = None

    @property
    def config(self) -> SmtpConfig:
        return self._config

    def another(self) -> AsyncSmtpSession:
        """A second connection to the same relay, sharing this one's TLS context (its CA store is
        read once per batch, not once per connection)."""
        twin = copy.copy(self)
        twin._client = None
        return twin

    async def open(self) -> None:
        """Connect and greet now rather than at the first mail; raises ConnectionFailure like ``send``.

        A relay that limits connections per client refuses the extra one at
        its banner or at EHLO (421): this is where that shows.
        """
        if self._client is None or not self._client.is_connected:
            await self._connect()
        client = self._client
        assert client is not None
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except (SMTPException, OSError) as err:
                client.close()
                self._client = None
                raise ConnectionFailure(f"{self._where}: {self._why(err)}") from None

    async def send(self, raw: bytes, *, mail_from: str, recipients: Sequence[str]) -> Delivery:
        """Send ``raw`` unchanged; raises TemporaryFailure, ConnectionFailure or PermanentFailure."""
        if not recipients:
            raise PermanentFailure("no recipient to send to")
        reused = self._client is not None and self._client.is_connected
        if not reused:
            await self._connect()
        try:
            return await self._transaction(raw, mail_from, list(recipients))
        except _DroppedBeforeData as err:
            if not reused:
                raise ConnectionFailure(f"{self._where}: connection lost: {err}") from None
        # The server closed a connection we kept open between mails (idle
        # timeout). Nothing was sent yet, so one fresh connection is safe.
        await self._connect()
        try:
            return await self._transaction(raw, mail_from, list(recipients))
        except _DroppedBeforeData as err:
            raise ConnectionFailure(f"{self._where}: connection lost: {err}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (SMTPException, OSError):
            pass
        finally:
            client.close()

    async def _connect(self) -> None:
        await self.close()
        cfg = self._config
        client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=cfg.security == "ssl", start_tls=False,
                                 tls_context=self._tls, local_hostname=self._helo, timeout=cfg.timeout)
        stage = "connect"
        try:
            await client.connect()
            if cfg.security == "starttls":
                stage = "STARTTLS"
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise ConnectionFailure(f"{self._where}: the server offers no STARTTLS; refusing to send mail or "
                                            f'password in clear (smtp.security = "starttls")')
                await client.starttls()
            if cfg.username:
                stage = "login"
                if cfg.security != "none" and client.get_transport_info("sslcontext") is None:
                    raise ConnectionFailure(f"{self._where}: refusing to send the password over a connection "
                                            "that is not encrypted")
                await client.login(cfg.username, self._password)
        except MailflowError:
            client.close()
            raise
        except SMTPAuthenticationError as err:
            client.close()
            raise ConnectionFailure(f"{self._where}: login as {cfg.username} refused: {_answer(err)}") from None
        except (SMTPException, OSError) as err:  # ssl.SSLError and TimeoutError are OSErrors
            client.close()
            raise ConnectionFailure(f"{self._where}: {stage} failed: {self._why(err)}") from None
        self._client = client

    def _why(self, err: BaseException) -> str:
        """What went wrong in words an admin acts on, not the library's wrapping of it."""
        cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message} (smtp.ca_file names a CA to trust)"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or _text(cause)}"
        if isinstance(cause, TimeoutError):
            return f"no answer within {self._config.timeout} s (smtp.timeout)"
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno)
        return _text(err)

    async def _transaction(self, raw: bytes, mail_from: str, recipients: list[str]) -> Delivery:
        client = self._client
        assert client is not None
        accepted: list[str] = []
        refused: list[tuple[str, str]] = []
        for_now: list[tuple[str, str]] = []
        try:
            try:
                await client.mail(mail_from)
            except SMTPResponseException as err:
                # Our sender is the same for every mail: whatever the code, a
                # refusal here (530 authentication required, 550 sender not
                # allowed) is the relay's policy or our configuration, never this mail.
                await self._reset()
                raise ConnectionFailure(f"{self._where}: the server refuses our sender <{mail_from}>: "
                                        f"{_answer(err)}") from None
            for rcpt in recipients:
                try:
                    await client.rcpt(rcpt)
                    accepted.append(rcpt)
                except SMTPRecipientRefused as err:
                    if err.code == 421:
                        raise _failure(err, f"RCPT TO:<{rcpt}> refused") from None
                    (refused if err.code >= 500 else for_now).append((rcpt, _answer(err)))
        except SMTPServerDisconnected as err:
            raise _DroppedBeforeData(_text(err)) from None
        except (SMTPException, OSError) as err:
            raise ConnectionFailure(f"{self._where}: {self._why(err)}") from None
        if for_now or not accepted:
            await self._reset()
            if for_now:
                raise TemporaryFailure("recipient refused for now: " + _listed(for_now))
            raise PermanentFailure("every recipient refused: " + _listed(refused))
        try:
            response = await client.data(raw)
        except SMTPDataError as err:
            raise _failure(err, "message refused") from None
        except (SMTPException, OSError) as err:
            # The server may or may not have kept the mail; retrying may deliver it twice.
            raise ConnectionFailure(f"{self._where}: connection lost while sending the message: {self._why(err)}") from None
        return Delivery(reply=_answer(response), refused=tuple(refused))

    async def _reset(self) -> None:
        """RSET after a refusal so the connection can carry the next mail; a dead one is simply dropped."""
        if self._client is None or not self._client.is_connected:
            return
        try:
            await self._client.rset()
        except (SMTPException, OSError):
            self._client.close()


class SmtpSession:
    """The synchronous face of ``AsyncSmtpSession`` for the (synchronous) outbox loop.

    ``with SmtpSession(cfg, pw) as smtp: smtp.send(...)`` keeps one event loop
    and one connection for the whole batch.
    """

    def __init__(self, config: SmtpConfig, password: str) -> None:
        self._session = AsyncSmtpSession(config, password)
        self._runner: asyncio.Runner | None = None

    def __enter__(self) -> SmtpSession:
        self._runner = asyncio.Runner()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, raw: bytes, *, mail_from: str, recipients: Sequence[str]) -> Delivery:
        if self._runner is None:
            raise RuntimeError("SmtpSession is used as a context manager: with SmtpSession(...) as smtp")
        return self._runner.run(self._session.send(raw, mail_from=mail_from, recipients=recipients))

    def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self._session.close())
        finally:
            runner.close()


def deliver(raw: bytes, *, mail_from: str, recipients: list[str], config: SmtpConfig, password: str) -> str:
    """Send one mail on its own connection; returns the server's reply line."""
    with SmtpSession(config, password) as smtp:
        return smtp.send(raw, mail_from=mail_from, recipients=recipients).line()


class _DroppedBeforeData(Exception):
    """The connection died before any of the message was sent: safe to try once more."""


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=config.ca_file or None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"smtp.ca_file: cannot load {config.ca_file}: {_text(err)}") from None


def _failure(err: SMTPResponseException, what: str) -> MailflowError:
    answer = _answer(err)
    if err.code == 421:  # the server is closing the channel: nothing more goes through it now
        return ConnectionFailure(f"{what}: {answer}")
    if 500 <= err.code < 600:
        return PermanentFailure(f"{what}: {answer}")
    return TemporaryFailure(f"{what}: {answer}")


def _answer(reply: SMTPResponseException | aiosmtplib.SMTPResponse) -> str:
    """``code text`` on one line: a multi-line server answer joined, nothing dropped."""
    return f"{reply.code} {_text(reply.message)}".strip()


def _listed(answers: list[tuple[str, str]]) -> str:
    return "; ".join(f"{address} ({answer})" for address, answer in answers)


def _text(value: object) -> str:
    return " ".join(str(value).split()) or type(value).__name__
