"""Machine mail is recognised (and the reason given) so it is never answered."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailflow.parse import parse
from mailflow.parse.automated import automated_reason
from mailflow.parse.model import Address

MAIL = Path(__file__).parent / "data" / "mail"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("auto_reply_ooo.eml", "Auto-Submitted: auto-replied"),
        ("bounce_dsn.eml", "Content-Type: multipart/report; report-type=delivery-status"),
        ("mailing_list.eml", "Precedence: list"),
        ("outlook_zh_gbk_feature.eml", None),
        ("foxmail_zh_bug_attachment.eml", None),
        ("gmail_en_followup.eml", None),
        ("outlook_en_quoted.eml", None),
        ("forwarded_en.eml", None),
        ("no_message_id.eml", None),
    ],
)
def test_fixture_reasons(fixture: str, reason: str | None) -> None:
    assert parse((MAIL / fixture).read_bytes()).automated == reason


PERSON = Address("Tom Baker", "tom.baker@northwind.example.com")


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ("Auto-Submitted: auto-generated", PERSON, "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: no", PERSON, None),
        ("Precedence: bulk", PERSON, "Precedence: bulk"),
        ("Precedence: junk", PERSON, "Precedence: junk"),
        ("Precedence: auto_reply", PERSON, "Precedence: auto_reply"),
        ("Precedence: first-class", PERSON, None),
        ("List-Id: <dev.lists.northwind.example.com>", PERSON, "List-Id: <dev.lists.northwind.example.com>"),
        ("List-Unsubscribe: <mailto:leave@lists.northwind.example.com>", PERSON,
         "List-Unsubscribe: <mailto:leave@lists.northwind.example.com>"),
        ("Return-Path: <>", PERSON, "Return-Path: <>"),
        ("Return-Path: <tom.baker@northwind.example.com>", PERSON, None),
        ("X-Autoreply: yes", PERSON, "X-Autoreply: yes"),
        ("X-Autorespond: Out of office", PERSON, "X-Autorespond: Out of office"),
        ("X-Auto-Response-Suppress: All", PERSON, "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", PERSON, "X-Auto-Response-Suppress: DR, OOF, AutoReply"),
        ("X-Auto-Response-Suppress: DR, RN, NRN", PERSON, None),
        ("Content-Type: multipart/report; report-type=disposition-notification; boundary=x", PERSON,
         "Content-Type: multipart/report; report-type=disposition-notification"),
        ("", Address("", "mailer-daemon@mx.huaxin.example"), "sender mailer-daemon@mx.huaxin.example"),
        ("", Address("", "postmaster@yuanhang.example"), "sender postmaster@yuanhang.example"),
        ("", Address("", "noreply@northwind.example.com"), "sender noreply@northwind.example.com"),
        ("", Address("", "no-reply@gmail.example"), "sender no-reply@gmail.example"),
        ("", Address("", "do-not-reply@huaxin.example"), "sender do-not-reply@huaxin.example"),
        ("", Address("", "replyto.me@huaxin.example"), None),
        ("Subject: Automatic reply: Export", PERSON, "Subject: Automatic reply"),
        ("Subject: Auto Reply: Export", PERSON, "Subject: Auto Reply"),
        ("Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSNOiDpnIDmsYI=?=", PERSON, "Subject: 自动回复"),
        ("Subject: Out of Office: back on Monday", PERSON, "Subject: Out of Office"),
        ("Subject: Undeliverable: Export", PERSON, "Subject: Undeliverable"),
        ("Subject: Delivery Status Notification (Failure)", PERSON, "Subject: Delivery Status Notification"),
        ("Subject: =?UTF-8?B?6YCA5L+hOiDpnIDmsYI=?=", PERSON, "Subject: 退信"),
        # People write about these things too: only the machine forms count.
        ("Subject: =?UTF-8?B?6YCA5L+h6Zeu6aKY?=", PERSON, None),  # 退信问题
        ("Subject: Question about out of office settings", PERSON, None),
        ("Subject: Re: auto reply rules in the mail module", PERSON, None),
    ],
)
def test_automated_reason(headers: str, sender: Address, reason: str | None) -> None:
    head = "\r\n".join([f"From: {sender.email}", *([headers] if headers else [])])
    msg = message_from_bytes(f"{head}\r\n\r\nbody\r\n".encode(), policy=policy.compat32)
    assert automated_reason(msg, sender) == reason


def test_first_reason_wins_and_names_the_strongest_signal() -> None:
    msg = message_from_bytes(
        b"From: MAILER-DAEMON@mx.vendor.example.com\r\nReturn-Path: <>\r\nAuto-Submitted: auto-replied\r\n"
        b"Subject: Undeliverable: x\r\n\r\nbody\r\n",
        policy=policy.compat32,
    )
    assert automated_reason(msg, Address("", "mailer-daemon@mx.vendor.example.com")) == "Auto-Submitted: auto-replied"
