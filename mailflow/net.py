"""Small network facts shared by the IMAP and SMTP sides."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: the only place plain-text mail protocols are allowed."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error_text(err: BaseException) -> str:
    """A network error's own words on one line; imaplib and sockets give str or bytes."""
    text = err.args[0] if err.args and isinstance(err.args[0], (str, bytes)) else ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " ".join(str(text or err).split()) or type(err).__name__
