"""Large mail is spooled while it is read: its files go to the store, the pipeline sees a light copy.

The promise: a spooled mail parses, threads and records exactly like the
same mail held whole, its original is kept byte for byte, and nothing in it
can make us link a file it did not carry.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import io
import json
import quopri
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.config import load_config
from mailflow.fetch import spool as spooling
from mailflow.fetch.files import SourceError, iter_sources
from mailflow.fetch.spool import SPOOL_OVER, read_mail, spool
from mailflow.parse import Attachment, ParsedMail, SpooledMail, parse
from mailflow.store.session import open_store
from mailflow.store.tables import Message

from conftest import DEMO_INBOX, MAIL

FOXMAIL = MAIL / "foxmail_zh_bug_attachment.eml"
CLOSE = b"------=_001_NextPart572436104723_=------"
PART = b"------=_001_NextPart572436104723_=----\r\n"


def _same(whole: ParsedMail, spooled: ParsedMail, store: Path | None = None) -> None:
    """The same mail; a forwarded mail (message/rfc822) moved to ``store`` is the same mail as the one
    held whole, which the stdlib writes out again from its parsed tree (line ends, folding)."""
    for name in ("message_id", "subject", "sender", "text", "reply_text", "html", "language", "automated",
                 "content_hash", "defects", "forwarded_from", "forwarded_text"):
        assert getattr(spooled, name) == getattr(whole, name), name
    moved = {i for i, a in enumerate(spooled.attachments) if a.content_type == "message/rfc822" and a.data is None}
    for i in moved:
        assert store is not None
        stored = (store / spooled.attachments[i].sha256[:2] / spooled.attachments[i].sha256).read_bytes()
        assert _rewritten(stored) == _rewritten(whole.attachments[i].data)
        assert spooled.attachments[i].size == len(stored)

    def described(i: int, a: Attachment) -> tuple:
        return (a.filename, a.content_type) if i in moved else (a.filename, a.content_type, a.size, a.sha256)

    assert ([described(i, a) for i, a in enumerate(spooled.attachments)]
            == [described(i, a) for i, a in enumerate(whole.attachments)])


def _rewritten(mail: bytes) -> bytes:
    return email.message_from_bytes(mail, policy=email.policy.compat32).as_bytes().replace(b"\r\n", b"\n")


def _files() -> dict[str, bytes]:
    """What He Jing attaches besides her screenshot: a scanned PDF, a log and an export, all large."""
    rnd = random.Random(7)
    log = "".join(f"2026-11-23 10:{n // 60 % 60:02d}:{n % 60:02d} ERROR 导出报表失败 HTTP 500 request={n}\n"
                  for n in range(6000)).encode("utf-8")
    return {
        "月度报表扫描件.pdf": b"%PDF-1.7\n" + rnd.randbytes(5_000_000),
        "server.log": log,
        "export.csv": "工号,姓名,金额\n".encode("gbk") + b"".join(f"{n},员工{n},{n * 3}.50\n".encode("gbk")
                                                                  for n in range(12000)),
    }


def large_foxmail(files: dict[str, bytes] | None = None, *, extra: bytes = b"") -> bytes:
    """The Foxmail bug report of tests/data with three large files more: base64, quoted-printable, 8bit."""
    files = files or _files()
    pdf, log, csv = files.values()
    names = list(files)
    parts = [
        PART + (b'Content-Type: application/pdf;\r\n\tname="=?GBK?B?' + base64.b64encode(names[0].encode("gbk"))
                + b'?="\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n\tfilename="=?GBK?B?'
                + base64.b64encode(names[0].encode("gbk")) + b'?="\r\n\r\n'
                + base64.encodebytes(pdf).replace(b"\n", b"\r\n") + b"\r\n"),
        PART + (b'Content-Type: text/plain; charset="utf-8"; name="server.log"\r\n'
                b"Content-Transfer-Encoding: quoted-printable\r\n"
                b'Content-Disposition: attachment; filename="server.log"\r\n\r\n'
                + quopri.encodestring(log).replace(b"\n", b"\r\n") + b"\r\n"),
        PART + (b'Content-Type: text/csv; charset="gbk"; name="export.csv"\r\nContent-Transfer-Encoding: 8bit\r\n'
                b'Content-Disposition: attachment; filename="export.csv"\r\n' + extra + b"\r\n"
                + csv.replace(b"\n", b"\r\n") + b"\r\n"),
    ]
    raw = FOXMAIL.read_bytes()
    assert CLOSE in raw
    return raw.replace(CLOSE, b"".join(parts) + CLOSE)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mail") / "large.eml"
    path.write_bytes(large_foxmail())
    return path


# The light copy
def test_a_large_mail_is_read_as_a_light_copy_and_parses_as_if_held_whole(big: Path, tmp_path: Path) -> None:
    raw = big.read_bytes()
    assert len(raw) > SPOOL_OVER
    with big.open("rb") as fh:
        light = read_mail(fh, tmp_path / "store")

    assert isinstance(light, SpooledMail)
    assert len(light) < 16 * 1024  # three files moved out; the text and the small screenshot stay
    _same(parse(raw), parse(light))
    assert (tmp_path / "store" / light.original).read_bytes() == raw  # the mail as received, byte for byte
    stored = {a.filename: (tmp_path / "store" / a.sha256[:2] / a.sha256).read_bytes()
              for a in parse(light).attachments if a.data is None}
    pdf, log, csv = _files().values()
    assert stored == {"月度报表扫描件.pdf": pdf, "server.log": log.replace(b"\n", b"\r\n"),
                      "export.csv": csv.replace(b"\n", b"\r\n")}
    assert not list((tmp_path / "store").glob(".part-*"))  # no half-written file left behind


def forwarded(zip_bytes: bytes) -> tuple[bytes, bytes]:
    """(the mail, the forwarded mail inside it as sent): 李娜 forwards 王喆's mail with its log archive."""
    inner = (b"From: wang.zhe@yuanhang.example\r\nTo: li.na@huaxin.example\r\n"
             b"Subject: =?utf-8?b?5pyN5Yqh5Zmo5pel5b+X?=\r\nMessage-ID: <logs-1@yuanhang.example>\r\n"
             b"Date: Mon, 23 Nov 2026 09:00:00 +0800\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="=_inner"\r\n\r\n'
             b'--=_inner\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
             + "日志见附件。\r\n".encode("utf-8")
             + b'--=_inner\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n'
             b'Content-Disposition: attachment; filename="logs.zip"\r\n\r\n'
             + base64.encodebytes(zip_bytes).replace(b"\n", b"\r\n") + b"--=_inner--")
    outer = (b"From: li.na@huaxin.example\r\nTo: support@vendor.example.com\r\nSubject: Fwd: server logs\r\n"
             b"Message-ID: <fwd-logs@huaxin.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="=_outer"\r\n\r\n'
             b'--=_outer\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
             + "客户的邮件转给你们，附件是日志。\r\n".encode("utf-8")
             + b'--=_outer\r\nContent-Type: message/rfc822\r\n'
             b'Content-Disposition: attachment; filename="=?utf-8?b?5Y6f5aeL6YKu5Lu2LmVtbA==?="\r\n\r\n'
             + inner + b"\r\n--=_outer--\r\n")
    return outer, inner


def test_a_forwarded_mail_with_a_large_file_is_stored_as_it_came_not_held(tmp_path: Path) -> None:
    """message/rfc822 is an attachment like any other: over the limit, it goes to the store, not to memory."""
    archive = random.Random(5).randbytes(SPOOL_OVER)
    raw, inner = forwarded(archive)
    light = read_mail(io.BytesIO(raw), tmp_path / "store")

    assert isinstance(light, SpooledMail) and len(light) < 4096
    whole, spooled = parse(raw), parse(light)
    [held] = whole.attachments
    [moved] = spooled.attachments
    assert (moved.filename, moved.content_type, moved.data) == ("原始邮件.eml", "message/rfc822", None)
    assert (held.filename, held.content_type) == (moved.filename, moved.content_type)
    stored = (tmp_path / "store" / moved.sha256[:2] / moved.sha256).read_bytes()
    assert stored == inner and moved.size == len(inner)  # the forwarded mail byte for byte, as it came
    # Held whole, the stdlib writes out its parsed tree instead: the same mail, its line ends may differ.
    for kept in (stored, held.data):
        again = email.message_from_bytes(kept, policy=email.policy.compat32)
        assert again["Message-ID"] == "<logs-1@yuanhang.example>"
        assert again.get_payload()[1].get_payload(decode=True) == archive
    for name in ("message_id", "subject", "sender", "text", "reply_text", "html", "language", "defects"):
        assert getattr(spooled, name) == getattr(whole, name), name


def pasted_log(encoding: str, *, html: bool = False) -> tuple[bytes, bytes]:
    """(the mail, its text decoded): 王喆 pastes 6 MB of server log into the mail itself, no attachment."""
    lines = "".join(f"2026-11-23 10:{n // 60 % 60:02d}:{n % 60:02d} 错误 工资导出失败 row={n} HTTP 500\r\n"
                    for n in range(90_000))
    text = ("<html><body><pre>" + lines + "</pre></body></html>" if html else "服务器日志如下：\r\n" + lines)
    data = text.encode("utf-8")
    body = {"8bit": data,
            "base64": base64.encodebytes(data).replace(b"\n", b"\r\n"),
            "quoted-printable": quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")}[encoding]
    head = (b"From: wang.zhe@yuanhang.example\r\nTo: support@vendor.example.com\r\n"
            b"Subject: =?utf-8?b?5bel6LWE5a+85Ye65aSx6LSl?=\r\nMessage-ID: <pasted-log@yuanhang.example>\r\n"
            b"Date: Mon, 23 Nov 2026 09:00:00 +0800\r\nMIME-Version: 1.0\r\n"
            + f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8\r\n"
              f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode("ascii"))
    return head + body, data if encoding != "quoted-printable" else data.replace(b"\r\n", b"\n").replace(
        b"\n", b"\r\n")


@pytest.mark.parametrize("encoding", ["8bit", "base64", "quoted-printable"])
def test_a_long_pasted_text_is_read_from_its_beginning_and_kept_whole_as_a_file(encoding: str,
                                                                              tmp_path: Path) -> None:
    """A 6 MB log pasted into the mail: the record reads its first megabyte, the whole is a file beside it."""
    raw, text = pasted_log(encoding)
    assert len(raw) > SPOOL_OVER
    light = read_mail(io.BytesIO(raw), tmp_path / "store")

    assert isinstance(light, SpooledMail) and len(light) < spooling.KEEP_TEXT * 1.4  # base64 is a third larger
    assert (tmp_path / "store" / light.original).read_bytes() == raw
    whole, spooled = parse(raw), parse(light)
    assert whole.text.startswith(spooled.text) and len(spooled.text) > 20_000
    assert spooled.text.endswith("HTTP 500")  # ends where a line of the log ends: no half character, no half line
    [kept] = spooled.attachments
    assert (kept.filename, kept.content_type, kept.size, kept.data) == ("message-text.txt", "text/plain",
                                                                         len(text), None)
    assert (tmp_path / "store" / kept.sha256[:2] / kept.sha256).read_bytes() == text
    *same, said = spooled.defects
    assert tuple(same) == whole.defects
    read = re.fullmatch(rf"part 1: text of {len(text):,} bytes; only its first ([\d,]+) are read as the mail, "
                        r"the whole is kept as message-text.txt", said)
    assert read and 0.3 * spooling.KEEP_TEXT < int(read[1].replace(",", "")) <= spooling.KEEP_TEXT
    for name in ("message_id", "subject", "sender", "language", "automated"):
        assert getattr(spooled, name) == getattr(whole, name), name


def test_a_long_html_only_text_is_cut_the_same_way(tmp_path: Path) -> None:
    raw, text = pasted_log("base64", html=True)
    spooled = parse(read_mail(io.BytesIO(raw), tmp_path / "store"))
    assert spooled.text.startswith("2026-11-23 10:00:00 错误 工资导出失败 row=0 HTTP 500")
    assert [(a.filename, a.content_type, a.size) for a in spooled.attachments] == [
        ("message-text.html", "text/html", len(text))]


def test_megabytes_of_preamble_and_epilogue_stay_out_of_the_light_copy(tmp_path: Path) -> None:
    """Nobody reads them, and the parser would hold them whole: the original keeps them, the light copy does not."""
    filler = b"".join(b"This is a multi-part message in MIME format. %d\r\n" % n for n in range(120_000))
    raw = FOXMAIL.read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    raw = head + sep + filler + body + b"\r\n" + filler
    assert len(raw) > SPOOL_OVER
    light = read_mail(io.BytesIO(raw), tmp_path / "store")

    assert isinstance(light, SpooledMail) and len(light) < 2 * spooling.KEEP_TEXT + 64 * 1024
    assert (tmp_path / "store" / light.original).read_bytes() == raw
    _same(parse(raw), parse(light), tmp_path / "store")


def test_a_mail_under_the_limit_or_without_a_store_is_read_whole(big: Path, tmp_path: Path) -> None:
    small = FOXMAIL.read_bytes()
    assert read_mail(io.BytesIO(small), tmp_path) == small and not isinstance(read_mail(io.BytesIO(small), tmp_path),
                                                                                SpooledMail)
    with big.open("rb") as fh:
        whole = read_mail(fh, None)
    assert whole == big.read_bytes() and not isinstance(whole, SpooledMail)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("path", sorted(MAIL.glob("*.eml")) + sorted(DEMO_INBOX.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_mail_parses_the_same_with_every_file_spooled(path: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Spooling moves even the smallest file here, so every structure we know is walked by the spooler."""
    monkeypatch.setattr(spooling, "KEEP_PART", 0)
    raw = path.read_bytes()
    light = spool(io.BytesIO(raw), tmp_path)
    assert (tmp_path / light.original).read_bytes() == raw
    try:
        whole = parse(raw)
    except Exception as err:  # noqa: BLE001 - no mail at all: the light copy is no mail either, for the same reason
        with pytest.raises(type(err), match=str(err)):
            parse(light)
        return
    spooled = parse(light)
    if path.name == "malformed_mime.eml":
        # Base64 cut off one character into a group: the stdlib keeps the
        # undecoded text, the spooler what decodes. Same defect either way.
        assert spooled.defects == whole.defects and "part 2: base64 data truncated" in whole.defects
        assert [a.size for a in spooled.attachments] == [150] and [a.size for a in whole.attachments] == [201]
        return
    _same(whole, spooled, tmp_path)


def test_a_mail_cut_off_inside_its_attachment_keeps_what_arrived(tmp_path: Path) -> None:
    raw = large_foxmail()
    cut = raw[:len(raw) * 2 // 5].replace(b"\r\n", b"\n")  # inside the PDF; a Unix tool rewrote the line ends
    light = spool(io.BytesIO(cut), tmp_path)

    spooled, whole = parse(light), parse(cut)
    _same(whole, spooled)
    assert "message: multipart closing boundary missing" in spooled.defects
    assert (tmp_path / light.original).read_bytes() == cut


def test_a_light_copy_is_parsed_ahead_in_another_process_like_any_mail(big: Path, tmp_path: Path) -> None:
    from mailflow.parse.ahead import parse_ahead

    with big.open("rb") as fh:
        light = read_mail(fh, tmp_path)
    small = FOXMAIL.read_bytes()
    [(_, first), (_, second)] = list(parse_ahead([[small], [light, small]], lambda raw: raw, processes=1))
    assert second is not None  # parsed in the worker
    _same(parse(big.read_bytes()), second[0])
    assert [a.data is None for a in second[0].attachments] == [False, True, True, True]


# What the light copy cannot be made to say
def test_a_spool_header_in_mail_from_outside_names_nothing(big: Path, tmp_path: Path) -> None:
    with big.open("rb") as fh:
        victim = parse(read_mail(fh, tmp_path)).attachments[1]  # someone else's stored PDF
    forged = f"X-Mailflow-Spooled: {victim.sha256} {victim.size}\r\n".encode("ascii")

    small = FOXMAIL.read_bytes().replace(b"Content-Disposition: attachment", forged + b"Content-Disposition: attachment")
    assert forged in small
    assert victim.sha256 not in {a.sha256 for a in parse(small).attachments}  # small mail: the header is just text

    own = {**_files(), "月度报表扫描件.pdf": b"%PDF-1.4\n" + random.Random(8).randbytes(5_000_000),
           "export.csv": b"a,b\n" * 40000}
    light = read_mail(io.BytesIO(large_foxmail(own, extra=forged)), tmp_path)  # the forged header on its own part
    attachments = {a.filename: a for a in parse(light).attachments}
    assert attachments["export.csv"].sha256 == hashlib.sha256(b"a,b\r\n" * 40000).hexdigest()
    assert victim.sha256 not in {a.sha256 for a in attachments.values()}
    assert b"X-Original-X-Mailflow-Spooled: " + victim.sha256.encode() in light  # shown as what it is


# The sources
def test_large_mail_in_a_directory_a_maildir_and_an_mbox_is_spooled(big: Path, tmp_path: Path) -> None:
    import mailbox

    raw = big.read_bytes()
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(raw)
    mbox = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    mbox.add(FOXMAIL.read_bytes())
    mbox.add(raw)
    mbox.flush()
    store = tmp_path / "store"
    items = list(iter_sources([str(big), str(tmp_path / "Maildir"), str(tmp_path / "archive.mbox")], store))

    assert [isinstance(i.raw, SpooledMail) for i in items] == [True, True, False, True]
    for item in (items[0], items[1], items[3]):
        assert (store / item.raw.original).read_bytes().replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        _same(parse(raw), parse(item.raw))


def test_a_store_that_cannot_be_written_is_one_line_for_that_mail_only(big: Path, tmp_path: Path) -> None:
    (tmp_path / "store").write_text("a file where the store should be")
    small = tmp_path / "small.eml"
    small.write_bytes(FOXMAIL.read_bytes())
    items = list(iter_sources([str(big), str(small)], tmp_path / "store"))
    assert isinstance(items[0], SourceError) and "large mail not spooled" in items[0].reason
    assert items[1].raw == small.read_bytes()


# End to end
def test_ingesting_a_large_mail_records_its_files_and_keeps_the_original(cli, config_file: Path, big: Path) -> None:
    assert "1 new" in cli("ingest", str(big)).output

    req = json.loads(cli("requirements", "show", "REQ-202611-001", "--json").output)
    files = {a["filename"]: a for a in req["attachments"]}
    assert sorted(files) == sorted(["报错截图.png", *_files()])
    store = Path(load_config(config_file).paths.attachments)
    pdf = _files()["月度报表扫描件.pdf"]
    sha = files["月度报表扫描件.pdf"]["sha256"]
    assert (store / sha[:2] / sha).read_bytes() == pdf
    assert files["月度报表扫描件.pdf"]["size"] == len(pdf)

    db = open_store(load_config(config_file).database_url)
    try:
        with db.session() as session:
            message = session.scalars(select(Message).where(Message.direction == "in")).one()
            assert len(message.raw) < 16 * 1024 and message.raw_blob is not None
            assert (store / message.raw_blob).read_bytes() == big.read_bytes()
    finally:
        db.close()
    assert "1 duplicate" in cli("ingest", str(big)).output  # the same mail again is known


def test_a_file_over_the_attachment_limit_is_measured_not_stored(cli, config_file: Path, big: Path) -> None:
    """It would not be linked (max_attachment_bytes), so it costs no disk; the original still holds it."""
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write("\n[general]\nmax_attachment_bytes = 1000000\n")
    cli("ingest", str(big))

    req = json.loads(cli("requirements", "show", "REQ-202611-001", "--json").output)
    pdf = _files()["月度报表扫描件.pdf"]
    assert "月度报表扫描件.pdf" not in {a["filename"] for a in req["attachments"]}
    skipped = [e["detail"] for e in req["events"] if e["kind"] == "attachment_skipped"]
    assert skipped == [f"月度报表扫描件.pdf: {len(pdf)} bytes exceeds the 1000000-byte limit; kept in the raw message"]
    store = Path(load_config(config_file).paths.attachments)
    sha = hashlib.sha256(pdf).hexdigest()
    assert not (store / sha[:2] / sha).exists()
    assert not list(store.rglob(".part-*"))
    originals = [p for p in store.rglob("*") if p.is_file() and p.read_bytes() == big.read_bytes()]
    assert len(originals) == 1


def test_a_mail_that_cannot_be_read_to_its_end_leaves_nothing_half_written(big: Path, tmp_path: Path) -> None:
    class Failing(io.BytesIO):
        def readline(self, size: int = -1) -> bytes:  # the disk under the source fails in the PDF
            if self.tell() > 3_000_000:
                raise OSError(5, "Input/output error")
            return super().readline(size)

    with pytest.raises(spooling.SpoolError, match=r"large mail not spooled to .*: Input/output error"):
        read_mail(Failing(big.read_bytes()), tmp_path / "store")
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def _odd_structures() -> dict[str, bytes]:
    """Shapes the fixtures do not have: a mail that is only a PDF, an inline screenshot in
    multipart/related, a quoted-printable log with trailing spaces, base64 with stray spaces, a
    binary part with no line end for 300 KB, a boundary followed by spaces and an epilogue."""
    from email.message import EmailMessage

    rnd = random.Random(3)

    def mail(subject: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "li.na@huaxin.example", "support@vendor.example.com", subject
        return msg

    only_pdf = mail("扫描件")
    only_pdf.set_content(rnd.randbytes(300_000), maintype="application", subtype="pdf", disposition="attachment",
                         filename="scan.pdf")
    related = mail("截图")
    related.set_content("见截图")
    related.add_alternative('<p>见截图 <img src="cid:img1"></p>', subtype="html")
    related.get_payload()[1].add_related(rnd.randbytes(200_000), maintype="image", subtype="png", cid="<img1>")
    qp_log = mail("日志")
    qp_log.set_content("see the log")
    qp_log.add_attachment(("x" * 300 + "  \n" + "错误 \t\n") * 500, subtype="plain", filename="a.log",
                          cte="quoted-printable")
    stray = mail("bin")
    stray.set_content("see")
    stray.add_attachment(rnd.randbytes(100_000), maintype="application", subtype="octet-stream", filename="x.bin")
    head, sep, tail = stray.as_bytes().partition(b'filename="x.bin"\n\n')
    binary = (b'From: li.na@huaxin.example\r\nTo: support@vendor.example.com\r\nSubject: bin\r\nMIME-Version: 1.0\r\n'
              b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
              b'--XX\r\nContent-Type: application/octet-stream; name="b.dat"\r\nContent-Transfer-Encoding: binary\r\n\r\n'
              + bytes(b for b in rnd.randbytes(300_000) if b not in (10, 13)) + b"\r\n--XX--\r\n")
    return {
        "only a pdf": only_pdf.as_bytes(),
        "inline screenshot": related.as_bytes(),
        "quoted-printable log": qp_log.as_bytes(),
        "base64 with stray spaces": head + sep + tail.replace(b"A", b"A ", 50),
        "binary, no line end": binary,
        "boundary with spaces, epilogue": binary.replace(b"\r\n--XX\r\n", b"\r\n--XX  \r\n")
                                                .replace(b"--XX--\r\n", b"--XX--\r\nepilogue\r\n"),
    }


@pytest.mark.parametrize("name", list(_odd_structures()))
def test_odd_structures_parse_the_same_with_every_file_spooled(name: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spooling, "KEEP_PART", 0)
    raw = _odd_structures()[name]
    light = spool(io.BytesIO(raw), tmp_path)
    assert len(light.parts) == 1 and len(light) < 2048
    _same(parse(raw), parse(light))
