"""A real SMTP server on loopback (aiosmtpd) that records what it is sent.

Tests use it to check the bytes that leave mailflow, and to play the
server's bad days: answer 451 / 550 for the next mails or for one
recipient, go down in the middle of a batch, come back on the same port,
hang up on an idle connection, insist on STARTTLS and AUTH.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
SERVER_NAME = "mx.vendor.example.com"  # never let aiosmtpd ask DNS for this host's name


@dataclass(frozen=True)
class Received:
    """One mail as the server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # exactly the bytes received, dot-stuffing undone
    tls: bool  # the mail travelled over TLS
    login: str | None  # who had authenticated on that connection
    at: float = 0.0  # time.monotonic() when the server took it (how soon a reply went out)

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Login:
    login: str
    password: str
    tls: bool  # whether the credentials arrived over TLS


@dataclass
class _Handler:
    sink: SmtpSink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001
        sink = self.sink
        if sink.latency:
            await asyncio.sleep(sink.latency)
        sink.connections.add(session.peer)
        if sink._hang_up_idle and sink._carried.get(id(session)):
            server.transport.close()  # as if an idle timeout struck between two mails
            return "421 4.4.2 idle timeout"
        if sink._down_after is not None and len(sink.received) >= sink._down_after:
            sink.controller.server.close()  # stop listening: new connections are refused from now on
            return "421 4.3.2 mx.vendor.example.com shutting down"
        envelope.mail_from = address
        return "250 2.1.0 Ok"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001
        sink = self.sink
        if sink.max_connections is not None and id(session) not in sink._live:
            if len(sink._live) >= sink.max_connections:
                sink.refused_connections += 1
                return ["421 4.7.0 mx.vendor.example.com too many connections from your host"]
            sink._live.add(id(session))
        session.host_name = hostname  # what aiosmtpd does itself when there is no EHLO hook
        return responses

    async def handle_QUIT(self, server, session, envelope):  # noqa: ANN001
        self.sink._live.discard(id(session))
        return "221 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        answer = self.sink.refuse_recipients.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        sink = self.sink
        if sink.answers:
            return sink.answers.pop(0)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        sink.received.append(Received(mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
                                      data=envelope.original_content, tls=_encrypted(server), login=login,
                                      at=time.monotonic()))
        sink._carried[id(session)] = sink._carried.get(id(session), 0) + 1
        if sink.on_data is not None:
            sink.on_data(len(sink.received))
        return f"250 2.0.0 Ok: queued as Q{len(sink.received):04d}"


@dataclass
class SmtpSink:
    """Start with ``start()``; ``stop()`` and ``start()`` again keep the port."""

    port: int
    tls_context: ssl.SSLContext | None = None  # offer STARTTLS with this certificate (required when set)
    implicit_tls: bool = False  # TLS from the first byte (port 465 style) instead of STARTTLS
    users: dict[str, str] | None = None  # AUTH offered (and required) with these logins
    auth_require_tls: bool = True
    received: list[Received] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # answers to the next DATA, one per mail
    refuse_recipients: dict[str, str] = field(default_factory=dict)  # address -> RCPT answer
    connections: set[object] = field(default_factory=set)  # client (address, port) pairs seen
    max_connections: int | None = None  # more sessions at once are refused at EHLO (421), as relays limit a client
    latency: float = 0.0  # seconds each mail's MAIL FROM takes to answer, as a relay across a network would
    refused_connections: int = 0
    on_data: Callable[[int], object] | None = None  # called with the count received, as each mail is taken
    _live: set[int] = field(default_factory=set)  # sessions past EHLO and not yet QUIT, when counting
    controller: Controller | None = None
    _down_after: int | None = None
    _hang_up_idle: bool = False
    _carried: dict[int, int] = field(default_factory=dict)  # mails accepted per live connection

    @property
    def host(self) -> str:
        return HOST

    def start(self) -> SmtpSink:
        self._down_after = None
        kwargs: dict[str, object] = {}
        if self.tls_context is not None:
            if self.implicit_tls:
                kwargs["ssl_context"] = self.tls_context
            else:
                kwargs.update(tls_context=self.tls_context, require_starttls=True)
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.auth_require_tls)
        self.controller = Controller(_Handler(self), hostname=HOST, port=self.port, server_hostname=SERVER_NAME,
                                     ready_timeout=5, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    # The server's bad days
    def answer_next(self, *answers: str) -> None:
        """Answer the next mails' DATA with these lines (e.g. ``451 4.7.1 …``, ``550 5.7.1 …``)."""
        self.answers.extend(answers)

    def refuse(self, address: str, answer: str) -> None:
        """Answer RCPT TO for ``address`` with ``answer`` (e.g. ``550 5.1.1 …``)."""
        self.refuse_recipients[address.lower()] = answer

    def go_down_after(self, count: int) -> None:
        """Once ``count`` mails are in, answer the next MAIL with 421 and stop listening."""
        self._down_after = count

    def hang_up_after_each_mail(self) -> None:
        """Close a connection that already carried a mail when it starts the next one."""
        self._hang_up_idle = True

    # What arrived
    def count_by_message_id(self) -> Counter[str]:
        return Counter(str(r.message["Message-ID"]) for r in self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(Login(login, password, tls=_encrypted(server)))
        ok = self.users is not None and self.users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _encrypted(server) -> bool:  # noqa: ANN001
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A plain loopback server (no TLS, no AUTH), started; stopped after the test."""
    sink = SmtpSink(port=free_port()).start()
    try:
        yield sink
    finally:
        sink.stop()
