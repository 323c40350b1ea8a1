"""Folders on the IMAP server: names as the server spells them, created when missing, moving mail.

The config writes folder paths with ``/`` (``mailflow/processed``); servers
use their own hierarchy delimiter (``.`` on Maildir++ servers such as
Dovecot's default and Courier) and sometimes a personal prefix
(``INBOX.`` on Courier), both taken from NAMESPACE, else from ``LIST "" ""``.
"""

from __future__ import annotations

import imaplib
import logging

from imapclient import IMAPClient

__all__ = ["Folders"]

log = logging.getLogger(__name__)

DELETED = b"\\Deleted"


class Folders:
    """The folders of one connection; what it learns (delimiter, existing folders) lives as long as it."""

    def __init__(self, client: IMAPClient) -> None:
        self._client = client
        self._namespace: tuple[str, str] | None = None  # (prefix, delimiter) of personal folders
        self._exists: set[str] = set()

    def server_name(self, folder: str) -> str:
        """``a/b`` in the config -> ``a.b``, or ``INBOX.a.b`` on a server with that personal prefix."""
        if folder.upper() == "INBOX":
            return "INBOX"
        prefix, delimiter = self._personal()
        name = folder.replace("/", delimiter) if delimiter and delimiter != "/" else folder
        if prefix and not name.startswith(prefix) and not name.upper().startswith("INBOX" + delimiter):
            name = prefix + name
        return name

    def ensure(self, folder: str) -> str:
        """The server's name of ``folder``, created (and subscribed) if it does not exist yet."""
        name = self.server_name(folder)
        if name in self._exists:
            return name
        client = self._client
        if not client.folder_exists(name):
            try:
                client.create_folder(name)
                log.info("created folder %s", name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                if not client.folder_exists(name):  # another client may have just created it: fine
                    raise
            try:
                client.subscribe_folder(name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                pass  # subscribing only helps people find it in their mail client
        self._exists.add(name)
        return name

    def move(self, uids: list[int], folder: str) -> None:
        """MOVE when the server has it; else COPY, flag \\Deleted and (UIDPLUS) expunge these UIDs only."""
        client = self._client
        name = self.ensure(folder)
        if client.has_capability("MOVE"):
            client.move(uids, name)
            return
        client.copy(uids, name)
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)  # never a plain EXPUNGE: it would take mail others marked deleted

    def _personal(self) -> tuple[str, str]:
        if self._namespace is None:
            prefix, delimiter = "", ""
            if self._client.has_capability("NAMESPACE"):
                personal = self._client.namespace().personal
                if personal:
                    prefix, delimiter = personal[0][0] or "", personal[0][1] or ""
            else:
                listed = self._client.list_folders("", "")  # RFC 3501: LIST "" "" names the delimiter
                if listed and listed[0][1]:
                    delimiter = listed[0][1].decode() if isinstance(listed[0][1], bytes) else listed[0][1]
            self._namespace = (prefix, delimiter)
        return self._namespace
