"""Offline sources: every mail under a path, in a stable order, nothing skipped silently."""

from __future__ import annotations

import mailbox
from pathlib import Path

from mailflow.fetch.files import SourceError, SourceMail, iter_sources

ONE = b"From: a@huaxin.example\r\nTo: support@vendor.example.com\r\nSubject: one\r\nMessage-ID: <1@huaxin.example>\r\n\r\nbody one\r\n"
TWO = b"From: b@huaxin.example\r\nTo: support@vendor.example.com\r\nSubject: two\r\nMessage-ID: <2@huaxin.example>\r\n\r\nbody two\r\n"


def test_a_directory_of_eml_files_is_read_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.eml").write_bytes(TWO)
    (tmp_path / "a.eml").write_bytes(ONE)
    (tmp_path / "notes.txt").write_text("not mail")
    items = list(iter_sources([str(tmp_path)]))
    assert [i.raw for i in items] == [ONE, TWO]


def test_only_eml_files_of_a_directory_are_taken_whatever_the_case_of_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "c.EML").write_bytes(TWO)  # Outlook on Windows saves them so
    (tmp_path / "a.eml").write_bytes(ONE)
    (tmp_path / ".eml").write_bytes(TWO)  # a hidden file with no suffix, as pathlib sees it
    (tmp_path / "b.eml").mkdir()  # a directory, however it is named
    (tmp_path / "d.eml.txt").write_text("not mail")
    items = list(iter_sources([str(tmp_path)]))
    assert [(Path(i.source).name, i.raw) for i in items] == [("a.eml", ONE), ("c.EML", TWO)]


def test_a_maildir_yields_new_and_cur_messages(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(ONE)
    box.add(TWO)
    items = list(iter_sources([str(tmp_path / "Maildir")]))
    assert sorted(i.raw.replace(b"\r\n", b"\n") for i in items) == sorted(x.replace(b"\r\n", b"\n") for x in (ONE, TWO))
    assert all(isinstance(i, SourceMail) and "#" in i.source for i in items)


def test_an_mbox_yields_each_message_with_its_position(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    box.add(ONE)
    box.add(TWO)
    box.flush()
    items = list(iter_sources([str(tmp_path / "archive.mbox")]))
    assert [i.source.rsplit("#", 1)[1] for i in items] == ["1", "2"]
    assert b"Subject: two" in items[1].raw


def test_a_missing_path_is_one_error_and_the_rest_still_come(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(ONE)
    items = list(iter_sources([str(tmp_path / "nope.eml"), str(tmp_path / "a.eml")]))
    assert items[0] == SourceError(str(tmp_path / "nope.eml"), "no such file or directory")
    assert items[1].raw == ONE
