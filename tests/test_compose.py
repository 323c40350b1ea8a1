"""Outgoing mail as bytes: the headers that thread replies and stop auto-responder loops."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import datetime

import pytest

from conftest import SHANGHAI
from mailflow.parse.model import Address
from mailflow.reply.model import Draft
from mailflow.send.headers import MAX_REFERENCES, compose, make_message_id, tagged_subject, thread_references

RID = "REQ-202611-001"
SUPPORT = Address("客户支持中心", "support@vendor.example.com")
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=SHANGHAI)
CLIENT_MID = "<20261123021500.4711@mail.huaxin.example>"


def draft(**changes: object) -> Draft:
    values = dict(kind="external", template="zh/ack_presales", to=("wang.jl@huaxin.example",), cc=(),
                  subject="回复: 移动端审批功能咨询", text="王经理,您好!\n\n您发来的需求问题我们已经收到。\n", html=None,
                  language="zh")
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def build(d: Draft | None = None, **kw: object) -> email.message.EmailMessage:
    args: dict[str, object] = dict(requirement_id=RID, sender=SUPPORT, message_id=f"<{RID}.abc@vendor.example.com>",
                                   in_reply_to=CLIENT_MID, references=(CLIENT_MID,), now=NOW)
    args.update(kw)
    raw = compose(d or draft(), **args)  # type: ignore[arg-type]
    assert b"\r\n" in raw and all(ord(c) < 128 for c in raw.decode("ascii"))  # SMTP-ready, 7-bit headers and body
    return parsed(raw)


def test_the_date_header_is_the_standard_librarys_to_the_second_whatever_the_microseconds():
    from datetime import timedelta, timezone
    from email.utils import format_datetime

    for now in (NOW.replace(microsecond=999_999), NOW.replace(microsecond=1), NOW + timedelta(seconds=1),
                NOW.astimezone(timezone.utc).replace(microsecond=500_000)):
        raw = compose(draft(), requirement_id=RID, sender=SUPPORT, message_id=f"<{RID}.abc@vendor.example.com>",
                      in_reply_to=None, references=(), now=now)
        assert parsed(raw)["Date"] == format_datetime(now)  # same second, same zone: same header


def test_external_ack_parses_back_with_every_header():
    msg = build()
    assert msg["From"].addresses[0].display_name == "客户支持中心"
    assert msg["From"].addresses[0].addr_spec == "support@vendor.example.com"
    assert str(msg["To"]) == "wang.jl@huaxin.example"
    assert msg["Subject"] == f"Re: [{RID}] 移动端审批功能咨询"
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"] == f"<{RID}.abc@vendor.example.com>"
    assert msg["In-Reply-To"] == CLIENT_MID
    assert msg["References"] == CLIENT_MID
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailflow-Requirement"] == RID
    assert msg["X-Mailflow-Kind"] == "external"
    assert msg["Content-Language"] == "zh-CN"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().replace("\r\n", "\n") == "王经理,您好!\n\n您发来的需求问题我们已经收到。\n"


def test_zh_subject_and_names_are_rfc2047_encoded_and_round_trip():
    long_subject = "关于移动端审批、批量审批以及审批提醒等多项功能的咨询和建议,请帮忙评估"
    raw = compose(draft(subject=long_subject, to=("王经理 <wang.jl@huaxin.example>",)), requirement_id=RID,
                  sender=SUPPORT, message_id="<m@vendor.example.com>", in_reply_to=None, references=(), now=NOW)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in head and "关于".encode() not in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    msg = parsed(raw)
    assert msg["Subject"] == f"[{RID}] {long_subject}"  # not a reply: no Re:
    assert msg["To"].addresses[0].display_name == "王经理"


def test_internal_notice_is_auto_generated_and_not_a_re():
    msg = build(draft(kind="internal", template="zh/new_requirement", to=("wang.fang@vendor.example.com",),
                      cc=("zhou.qing@vendor.example.com",), subject="新需求:移动端审批功能咨询"))
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Mailflow-Kind"] == "internal"
    assert msg["Subject"] == f"[{RID}] 新需求:移动端审批功能咨询"
    assert str(msg["Cc"]) == "zhou.qing@vendor.example.com"
    assert msg["In-Reply-To"] == CLIENT_MID  # still threaded with the client's mail


@pytest.mark.parametrize(("subject", "reply", "expected"), [
    ("移动端审批", True, f"Re: [{RID}] 移动端审批"),
    (f"Re: [{RID}] 移动端审批", True, f"Re: [{RID}] 移动端审批"),
    (f"RE: 回复: 答复:[{RID}] Re: Fwd: 移动端审批", True, f"Re: [{RID}] 移动端审批"),
    (f"[{RID}] [{RID.lower()}] 移动端审批", False, f"[{RID}] 移动端审批"),
    ("回复：AW: Re[2]: payroll", True, f"Re: [{RID}] payroll"),
    ("[REQ-202610-077] merged", False, f"[{RID}] [REQ-202610-077] merged"),
    ("Re: ", True, f"Re: [{RID}]"),
    ("line\r\nBcc: evil@example.com", False, f"[{RID}] line Bcc: evil@example.com"),
])
def test_subject_carries_the_tag_exactly_once(subject: str, reply: bool, expected: str):
    assert tagged_subject(subject, RID, reply=reply) == expected


def test_references_in_order_without_duplicates_ending_with_the_parent():
    refs = ("<root@huaxin.example>", "<b@vendor.example.com>", "<root@huaxin.example>", "bare@huaxin.example",
            "<broken id@x>", CLIENT_MID)
    assert thread_references(refs, CLIENT_MID) == (
        "<root@huaxin.example>", "<b@vendor.example.com>", "<bare@huaxin.example>", CLIENT_MID)
    assert thread_references((), CLIENT_MID) == (CLIENT_MID,)
    assert thread_references((), None) == ()


def test_long_reference_chains_keep_the_root_and_the_latest():
    chain = tuple(f"<m{i}@example.net>" for i in range(60))
    refs = thread_references(chain, "<m59@example.net>")
    assert len(refs) == MAX_REFERENCES
    assert refs[0] == "<m0@example.net>" and refs[-1] == "<m59@example.net>"
    assert refs[1] == f"<m{60 - MAX_REFERENCES + 1}@example.net>"
    msg = build(references=chain, in_reply_to="<m59@example.net>")
    assert msg["References"].split() == list(refs)


def test_html_makes_multipart_alternative():
    msg = build(draft(language="en", subject="Payroll", text="Dear Emma,\n", html="<p>Dear Emma,</p>\n"))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == "<p>Dear Emma,</p>\n"
    assert msg["Content-Language"] == "en"


def test_message_ids_are_unique_and_name_the_requirement():
    ids = {make_message_id(RID, "vendor.example.com") for _ in range(200)}
    assert len(ids) == 200
    for mid in list(ids)[:3]:
        assert mid.startswith(f"<{RID}.") and mid.endswith("@vendor.example.com>")
        assert parsed(compose(draft(), requirement_id=RID, sender=SUPPORT, message_id=mid, in_reply_to=None,
                              references=(), now=NOW))["Message-ID"] == mid


def test_a_forked_worker_makes_other_message_ids_than_its_parent():
    """Workers that fork (the parse pool, a supervisor) must not send two mails with one Message-ID."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent, and out
        os.write(write, make_message_id(RID, "vendor.example.com").encode())
        os._exit(0)
    os.close(write)
    mine = make_message_id(RID, "vendor.example.com")
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read().decode()
    assert theirs.startswith(f"<{RID}.") and theirs != mine


def test_compose_refuses_a_naive_clock_and_a_draft_without_recipient():
    with pytest.raises(ValueError):
        compose(draft(), requirement_id=RID, sender=SUPPORT, message_id="<m@x>", in_reply_to=None, references=(),
                now=datetime(2026, 11, 23, 10, 0))
    with pytest.raises(ValueError):
        compose(draft(to=()), requirement_id=RID, sender=SUPPORT, message_id="<m@x>", in_reply_to=None,
                references=(), now=NOW)


@pytest.mark.parametrize("length", [1, 5, 17, 18, 19, 40, 41, 64, 100, 250])
def test_long_subjects_of_any_script_fold_within_78_columns_and_parse_back(length: int) -> None:
    import random

    rng = random.Random(length)
    pieces = ["需求", "登录", " ", "a", "Z", "😀", "é", "發票", "-", "ß", "ー"]
    words = "".join(rng.choice(pieces) for _ in range(length)).strip() or "需"
    raw = compose(draft(subject=words), requirement_id=RID, sender=SUPPORT, message_id="<m@vendor.example.com>",
                  in_reply_to=None, references=(), now=NOW)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parsed(raw)["Subject"] == f"[{RID}] {' '.join(words.split())}"


@pytest.mark.parametrize("name", ["Subject", "X-Mailflow-Requirement", "X-A-Header-Name-Long-Enough-To-Leave-Almost-No-Room"])
def test_each_encoded_word_is_whole_characters_and_as_full_as_its_line_allows(name: str) -> None:
    """RFC 2047 §5: each encoded word must decode on its own, so no character is split between two."""
    import base64
    import random

    from mailflow.send.headers import _text_header

    rng = random.Random(name)
    for _ in range(300):
        value = "需" + "".join(rng.choice(["需", "求", "😀", "é", "a", "Z", "發票"]) for _ in range(rng.randint(0, 90)))
        lines = _text_header(name, value).split("\r\n ")
        pieces = [base64.b64decode(line.rsplit("=?utf-8?b?", 1)[1][:-2]) for line in lines]
        assert "".join(piece.decode("utf-8") for piece in pieces) == value  # strict: a split character fails
        assert all(len(" " + line) <= 78 for line in lines[1:])
        assert len(lines[0]) <= 78 or len(pieces[0].decode("utf-8")) == 1  # no room at all: one character alone
        for line, piece, after in zip(lines, pieces, pieces[1:]):
            room = 78 - (len(name) + 2 if line is lines[0] else 1)
            grown = piece + after.decode("utf-8")[0].encode("utf-8")
            assert len(f"=?utf-8?b?{base64.b64encode(grown).decode()}?=") > min(room, 75)  # the next would not fit


@pytest.mark.parametrize("address", ["li.wei@vendor.example.com", "a.b+tag@huaxin.example", "x_y-z@sub.yuanhang.example",
                                     "UPPER@Example.COM", "a'b@northwind.example", "a..b@northwind.example"])
def test_a_bare_address_is_written_as_the_header_parser_would_write_it(address: str) -> None:
    from email.utils import formataddr, getaddresses

    from mailflow.send.headers import _addresses

    parsed = [formataddr((name, addr), charset="utf-8") for name, addr in getaddresses([address])]
    assert _addresses((address,)) == tuple(parsed) == (address,)
    assert _addresses(("李伟 <li.wei@vendor.example.com>", address))[0] == "=?utf-8?b?5p2O5Lyf?= <li.wei@vendor.example.com>"
