"""A real Dovecot IMAP server on loopback, with a throwaway config and Maildir.

Tests deliver mail into it by IMAP APPEND and read back what the poller did
(flags, folders, what is left) over IMAP too: nothing is mocked at the
protocol level. Each ``DovecotServer`` lives in its own temporary directory
(config, sockets, state, log, passwd file, Maildirs), listens on a free port
of 127.0.0.1, and is stopped by the process group it started — never by name.

Dovecot refuses to run mail processes as root, so when the tests run as root
the Maildirs belong to ``nobody`` (login processes to ``dovenull`` and
internal ones to ``dovecot`` where Debian created them); as any other user,
everything runs as that user without chroot.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

HOST = "127.0.0.1"
SUPPORT = "support@vendor.example.com"
BUGS = "bugs@vendor.example.com"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, so a killed test run leaves no server behind.

    Linux ties this to the thread that started the server, hence only from the main thread.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _user(*names: str) -> pwd.struct_passwd:
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"none of the users {', '.join(names)} exists")


@dataclass
class DovecotServer:
    """``start()``, then ``append``/``uids``/``flags``/``folder_names`` as a mail client would."""

    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=lambda: {SUPPORT: secrets.token_urlsafe(12),
                                                           BUGS: secrets.token_urlsafe(12)})
    binary: str = field(default_factory=lambda: dovecot_binary() or "dovecot")
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailflow-dovecot-")))
    _process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def user(self) -> str:
        return SUPPORT

    @property
    def password(self) -> str:
        return self.users[SUPPORT]

    @property
    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # Life cycle
    def start(self) -> DovecotServer:
        self._write_config()
        self._process = subprocess.Popen(  # its own process group: stop() ends exactly what it started
            [self.binary, "-F", "-c", str(self.directory / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"dovecot exited with {self._process.returncode}: {err.strip()} {self.log[-500:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on {HOST}:{self.port} within 10 s: {self.log[-500:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 0.2), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)  # the group of the master we started, children included
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        if process.stderr:
            process.stderr.close()

    def restart(self) -> DovecotServer:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # A mail client's view
    @contextmanager
    def client(self, user: str = SUPPORT) -> Iterator[IMAPClient]:
        client = IMAPClient(HOST, port=self.port, ssl=False, timeout=10)
        try:
            client.login(user, self.users[user])
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001  (already gone: nothing to tidy)
                pass

    def append(self, folder: str, raw: bytes, *, user: str = SUPPORT, flags: tuple[bytes, ...] = ()) -> None:
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw, flags=flags)

    def append_many(self, folder: str, mails: list[bytes], *, user: str = SUPPORT) -> None:
        """One connection for a whole backlog (MULTIAPPEND is not needed for speed on loopback)."""
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            for raw in mails:
                c.append(folder, raw)

    def uids(self, folder: str = "INBOX", *, user: str = SUPPORT) -> list[int]:
        with self.client(user) as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            return sorted(c.search("ALL"))

    def flags(self, folder: str = "INBOX", *, user: str = SUPPORT) -> dict[int, set[bytes]]:
        with self.client(user) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            return {uid: set(flags) - {b"\\Recent"} for uid, flags in c.get_flags(uids).items()} if uids else {}

    def messages(self, folder: str = "INBOX", *, user: str = SUPPORT) -> dict[int, bytes]:
        with self.client(user) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            return {uid: data[b"BODY[]"] for uid, data in c.fetch(uids, [b"BODY.PEEK[]"]).items()} if uids else {}

    def uidvalidity(self, folder: str = "INBOX", *, user: str = SUPPORT) -> int:
        with self.client(user) as c:
            return int(c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def folder_names(self, *, user: str = SUPPORT) -> list[str]:
        with self.client(user) as c:
            return sorted(name for _flags, _delim, name in c.list_folders())

    # The throwaway configuration
    def _write_config(self) -> None:
        d = self.directory
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            mail = _user("nobody")
            login, internal = _user("dovenull", "nobody"), _user("dovecot", "nobody")
            os.chmod(d, 0o755)  # mail processes (nobody) must reach their Maildir
            os.chown(d / "mail", mail.pw_uid, mail.pw_gid)
            chroot = ""
        else:
            mail = login = internal = pwd.getpwuid(os.getuid())
            chroot = "  chroot =\n"
        group = grp.getgrgid(mail.pw_gid).gr_name
        internal_group = grp.getgrgid(internal.pw_gid).gr_name
        (d / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        (d / "dovecot.conf").write_text(f"""\
# Throwaway test server: nothing here refers to a system path.
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal.pw_name}
default_internal_group = {internal_group}
default_login_user = {login.pw_name}
first_valid_uid = 1
mail_uid = {mail.pw_name}
mail_gid = {group}
mail_location = maildir:{d}/mail/%u
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={d}/mail/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}}}
""")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required under CI: apt-get install dovecot-imapd)")
    pytest.skip(reason)


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A fresh server and empty Maildirs for each test (start-up takes a few milliseconds)."""
    if dovecot_binary() is None:
        _unavailable("dovecot is not installed")
    server = DovecotServer()
    try:
        server.start()
    except RuntimeError as err:
        server.cleanup()
        _unavailable(f"dovecot would not start: {err}")
    try:
        yield server
    finally:
        server.cleanup()


def configure_mailbox(config_file: Path, server: DovecotServer, sink: object | None, *, imap: str = "",
               mailboxes: str = "") -> Path:
    """Point the conftest config at this server: append the [smtp] keys of ``sink`` (an SmtpSink,
    when given; the config ends in its [smtp] table), an [imap] section and any [[mailboxes]]."""
    with config_file.open("a", encoding="utf-8") as fh:
        if sink is not None:
            fh.write(f'host = "127.0.0.1"\nport = {sink.port}\nsecurity = "none"\ntimeout = 5\n')
        fh.write(f"""
[imap]
host = "127.0.0.1"
port = {server.port}
security = "none"
username = "{SUPPORT}"
password = "{server.users[SUPPORT]}"
timeout = 5
{imap}
{mailboxes}""")
    return config_file


def mailbox_table(server: DovecotServer, *, name: str = "bugs", user: str = BUGS, password_env: str = "",
                  extra: str = "") -> str:
    """A ``[[mailboxes]]`` table for another user of this server (``configure_mailbox(mailboxes=...)``);
    ``password_env`` names the variable holding the password instead of writing it in."""
    secret = f'password_env = "{password_env}"' if password_env else f'password = "{server.users[user]}"'
    return f"""
[[mailboxes]]
name = "{name}"
host = "127.0.0.1"
port = {server.port}
security = "none"
username = "{user}"
{secret}
{extra}"""


def without_sending(config_file: Path) -> Path:
    """The same configuration beside it, with no SMTP host: a poll records and queues, and sends nothing.

    For the tests that kill a poll to check that each mail is *processed* once: `poll --once` sends
    as it goes, and a kill that lands while replies are on their way is the sender's own case
    (tests/test_send_while_polling.py), with its own contract (the claimed mail waits for its lease).
    """
    text = config_file.read_text(encoding="utf-8")
    quiet = text.replace('from_name = "Vendor Support"\nhost = "127.0.0.1"\n', 'from_name = "Vendor Support"\n')
    assert quiet != text, "the [smtp] table of configure_mailbox's config was not found"
    path = config_file.with_name("no-sending.toml")
    path.write_text(quiet, encoding="utf-8")
    return path
