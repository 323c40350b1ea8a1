"""Parsing a backlog in another process: the same mails come out, in order, and nothing is lost
when that process cannot be used."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from conftest import DEMO_INBOX, MAIL
from mailflow.errors import ParseError
from mailflow.parse import ParsedMail
from mailflow.parse.ahead import parse_ahead, parse_many

RAWS = [p.read_bytes() for p in sorted(DEMO_INBOX.glob("*.eml"))] + [(MAIL / "not_an_email.eml").read_bytes()]
GROUPS = [[(raw, f"{g}-{n}") for n, raw in enumerate(RAWS)] for g in range(4)]


def _summary(parsed):  # noqa: ANN001, ANN202
    if parsed is None:
        return None
    return [(p.message_id, p.subject, p.reply_text, len(p.attachments)) if isinstance(p, ParsedMail)
            else type(p).__name__ for p in parsed]


def test_groups_come_back_in_order_parsed_as_they_would_be_here() -> None:
    here = _summary(parse_many(RAWS))
    assert here[-1] == "ParseError"
    got = list(parse_ahead(GROUPS, lambda item: item[0], processes=1))
    assert [group for group, _ in got] == GROUPS
    assert got[0][1] is None  # the first group is parsed by the caller while the pool starts
    assert [_summary(parsed) for _, parsed in got[1:]] == [here] * 3


def test_a_mail_that_is_no_mail_comes_back_as_its_one_line_reason() -> None:
    [(_, parsed)] = list(parse_ahead([[None], [RAWS[-1]]], lambda raw: raw, processes=1))[1:]
    assert isinstance(parsed[0], ParseError) and str(parsed[0]).startswith("not a mail")
    assert parse_many([None]) == [None]  # an item with no bytes (gone from the server) stays a gap


def test_a_single_group_or_no_workers_never_starts_a_process(monkeypatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("no process pool for this")

    monkeypatch.setattr(ProcessPoolExecutor, "__init__", refuse)
    assert [parsed for _, parsed in parse_ahead(GROUPS[:1], lambda item: item[0])] == [None]
    assert [parsed for _, parsed in parse_ahead(GROUPS, lambda item: item[0], processes=0)] == [None] * 4
    monkeypatch.setenv("MAILFLOW_PARSE_WORKERS", "0")
    assert [parsed for _, parsed in parse_ahead(GROUPS, lambda item: item[0])] == [None] * 4


def test_a_broken_pool_leaves_the_parsing_to_the_caller_and_loses_no_group(monkeypatch) -> None:
    def broken(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError("cannot start a process")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", broken)
    got = list(parse_ahead(GROUPS, lambda item: item[0], processes=1))
    assert [group for group, _ in got] == GROUPS and [parsed for _, parsed in got] == [None] * 4


def test_a_worker_that_dies_costs_only_speed(monkeypatch) -> None:
    import mailflow.parse.ahead as ahead

    real = ahead.parse_many
    monkeypatch.setattr(ahead, "parse_many", _die_in_a_worker)
    got = list(parse_ahead(GROUPS, lambda item: item[0], processes=1))
    monkeypatch.setattr(ahead, "parse_many", real)
    assert [group for group, _ in got] == GROUPS and [parsed for _, parsed in got] == [None] * 4


def _die_in_a_worker(raws):  # noqa: ANN001, ANN202
    import os

    os._exit(9)  # as if the OOM killer took the parsing process


def test_no_process_to_be_had_means_parsing_here(monkeypatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(ProcessPoolExecutor, "__init__", refuse)
    got = list(parse_ahead(GROUPS, lambda item: item[0], processes=1))
    assert [group for group, _ in got] == GROUPS and [parsed for _, parsed in got] == [None] * 4


@pytest.mark.parametrize("processes", [0, 1])
def test_what_the_source_raises_while_read_ahead_comes_after_the_groups_before_it(processes: int) -> None:
    """An IMAP fetch that fails on the third group must not cost the two already fetched."""
    def fetched():  # noqa: ANN202
        yield GROUPS[0]
        yield GROUPS[1]
        raise OSError("connection reset by peer")

    got = []
    with pytest.raises(OSError, match="connection reset"):
        for group, _ in parse_ahead(fetched(), lambda item: item[0], processes=processes):
            got.append(group)
    assert got == [GROUPS[0], GROUPS[1]]


def test_a_backlog_s_files_are_written_by_the_parsing_process_and_come_back_without_bytes(tmp_path) -> None:
    """What the record keeps is on disk before the mail comes back; what it would not keep is not written."""
    import hashlib

    from mailflow.record.blobs import blob_path

    names = ["foxmail_zh_bug_attachment.eml", "rfc2231_attachment.eml", "bounce_dsn.eml", "outlook_zh_gbk_feature.eml"]
    raws = [(MAIL / name).read_bytes() for name in names]
    here = parse_many(raws)
    sizes = sorted(a.size for mail in here for a in mail.attachments if mail.automated is None)
    limit = sizes[-1] - 1  # the largest file the record would keep is over it
    store = tmp_path / "attachments"
    got = list(parse_ahead([raws, raws], lambda raw: raw, processes=1, store=(store, limit)))
    assert got[0][1] is None  # parsed by the caller, who writes its own files as before
    for mail, ahead in zip(here, got[1][1], strict=True):
        assert [(a.filename, a.sha256, a.size) for a in ahead.attachments] == \
               [(a.filename, a.sha256, a.size) for a in mail.attachments]
        for original, came_back in zip(mail.attachments, ahead.attachments):
            written = store / blob_path(original.sha256)
            if mail.automated is None and original.size <= limit:
                assert came_back.data is None
                assert hashlib.sha256(written.read_bytes()).hexdigest() == original.sha256
            else:  # a bounce's files, or one over the limit: kept in the mail, never written
                assert came_back.data == original.data and not written.exists()
    assert any(mail.automated for mail in here) and any(a.size > limit for m in here for a in m.attachments)


def test_a_store_that_cannot_be_written_leaves_the_batch_to_the_caller(tmp_path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the store should be")
    raws = [(MAIL / "foxmail_zh_bug_attachment.eml").read_bytes()]
    got = list(parse_ahead([raws, raws], lambda raw: raw, processes=1, store=(blocked, 10**9)))
    assert [parsed for _, parsed in got] == [None, None]  # parsed (and its files written) by the caller


@pytest.mark.parametrize("processes", [0, 1])
def test_a_stop_ends_the_groups_after_the_one_in_hand_without_asking_for_the_next(processes: int) -> None:
    """SIGTERM during a backlog: the caller finishes the group it holds and no further group comes, so
    a parsing process that died of the same signal is never waited on (or warned of)."""
    stop = threading.Event()
    pulled = []

    def source():  # noqa: ANN202
        for group in GROUPS:
            pulled.append(group)
            yield group

    got = []
    for group, _ in parse_ahead(source(), lambda item: item[0], processes=processes, stop=stop):
        got.append(group)
        stop.set()  # the signal comes while this group is being recorded
    assert got == GROUPS[:1]
    assert len(pulled) < len(GROUPS)  # the rest of the source was left unread
    assert list(parse_ahead(GROUPS, lambda item: item[0], processes=processes, stop=stop)) == []  # stopped already
