"""XOAUTH2 access tokens for IMAP (Microsoft 365, Gmail), from a command or a file.

mailflow does not run an OAuth flow itself: refresh tokens, client secrets
and consent screens belong to tools made for them (``oauth2l``,
``msal``-based scripts, a sidecar that keeps a file fresh). We only need
the current access token: the stdout of ``token_command``, or the content
of ``token_file``. Tokens expire (about an hour), so the token is kept
until the server refuses it, then fetched again once — a second refusal is
a real error, reported in one line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailflow.config import OAuth2Config
from mailflow.errors import MailflowError

__all__ = ["TokenError", "TokenSource"]

COMMAND_TIMEOUT = 60  # seconds: a token helper may go over the network


class TokenError(MailflowError):
    """No access token could be obtained; the message says from where and why."""


class TokenSource:
    """The current access token of one mailbox; ``token(refresh=True)`` after the server refused it."""

    def __init__(self, config: OAuth2Config, what: str = "imap") -> None:
        if not config.enabled:
            raise TokenError(f"{what}.oauth2: give token_command or token_file")
        self._config = config
        self._what = what
        self._token: str | None = None

    def token(self, *, refresh: bool = False) -> str:
        if self._token is None or refresh:
            self._token = self._fetch()
        return self._token

    def _fetch(self) -> str:
        if self._config.token_command:
            return self._run(self._config.token_command)
        return self._read(Path(self._config.token_file))

    def _run(self, command: str) -> str:
        where = f"{self._what}.oauth2.token_command"
        try:
            done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=COMMAND_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise TokenError(f"{where}: no token after {COMMAND_TIMEOUT} s") from None
        except OSError as err:
            raise TokenError(f"{where}: cannot run: {err.strerror}") from None
        if done.returncode != 0:
            said = _last_line(done.stderr) or _last_line(done.stdout)
            raise TokenError(f"{where}: exited with status {done.returncode}" + (f": {said}" if said else ""))
        return _token(done.stdout, where)

    def _read(self, path: Path) -> str:
        where = f"{self._what}.oauth2.token_file"
        try:
            return _token(path.read_bytes(), where)
        except OSError as err:
            raise TokenError(f"{where}: cannot read {path}: {err.strerror}") from None


def _token(output: bytes, where: str) -> str:
    """The token is the whole output, trimmed; it must be one line of printable ASCII."""
    text = output.decode("ascii", errors="replace").strip()
    if not text:
        raise TokenError(f"{where}: gave an empty token")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise TokenError(f"{where}: the token must be one word of printable ASCII (got {len(text)} characters "
                         f"with spaces or control characters)")
    return text


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""
