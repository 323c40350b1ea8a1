"""parse(): realistic mail in, decoded values out (headers, body, ids, dates)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailflow.errors import ParseError
from mailflow.parse import parse
from mailflow.parse.model import Address

MAIL = Path(__file__).parent / "data" / "mail"
CST = timezone(timedelta(hours=8))


def mail(name: str):
    return parse((MAIL / name).read_bytes())


@pytest.mark.parametrize(
    ("fixture", "subject", "sender", "language"),
    [
        ("outlook_zh_gbk_feature.eml", "希望增加按客户批量导出对账单的功能",
         Address("王堃", "wang.kun@huaxin.example"), "zh"),
        ("foxmail_zh_bug_attachment.eml", "生产环境导出月度报表时系统报错，请尽快处理",
         Address("何静", "he.jing@yuanhang.example"), "zh"),
        ("gmail_en_followup.eml", "Re: [REQ-202611-001] Export to Excel",
         Address("Grace Lin", "grace.lin@gmail.example"), "en"),
        ("outlook_en_quoted.eml", "Delivery note printing crashes the application",
         Address("Tom Baker", "tom.baker@northwind.example.com"), "en"),
        ("big5_zh.eml", "請問如何重設管理員密碼", Address("陳志明", "chen.zhiming@gmail.example"), "zh"),
        ("html_only_zh.eml", "本月功能需求汇总", Address("赵刚", "zhao.gang@huaxin.example"), "zh"),
        ("unknown_charset.eml", "系统登录很慢", Address("刘明", "liu.ming@huaxin.example"), "zh"),
        ("mislabelled_utf8_as_gbk.eml", "移动端审批采购订单", Address("钱伟", "qian.wei@yuanhang.example"), "zh"),
        ("forwarded_en.eml", "Fwd: Barcode labels", Address("Zhang Min", "zhang.min@vendor.example.com"), "en"),
        ("rfc2231_attachment.eml", "需求说明文档", Address("何静", "he.jing@yuanhang.example"), "zh"),
        ("auto_reply_ooo.eml", "自动回复: [REQ-202611-001] 希望增加按客户批量导出对账单的功能",
         Address("王堃", "wang.kun@huaxin.example"), "zh"),
        ("bounce_dsn.eml", "Returned mail: see transcript for details",
         Address("Mail Delivery Subsystem", "mailer-daemon@mx.vendor.example.com"), "en"),
        ("mailing_list.eml", "[Supplier News] December delivery windows",
         Address("Northwind Supplier News", "news@northwind.example.com"), "en"),
        ("no_message_id.eml", "How do I reset a user's password?", Address("Alex Chen", "someone@gmail.example"), "en"),
        ("malformed_mime.eml", "Nightly import fails", Address("Tom Baker", "tom.baker@northwind.example.com"), "en"),
        ("broken_subject.eml", "关于报价单 金额有误", Address("吴昊", "wu.hao@huaxin.example"), "zh"),
    ],
)
def test_every_fixture_gives_subject_sender_and_language(fixture: str, subject: str, sender: Address,
                                                         language: str) -> None:
    parsed = mail(fixture)
    assert parsed.subject == subject
    assert parsed.sender == sender
    assert parsed.language == language


def test_outlook_headers_are_decoded_and_addresses_lower_cased() -> None:
    parsed = mail("outlook_zh_gbk_feature.eml")
    assert parsed.message_id == "<000001db5d2a$5e8f1c20$1bad5460$@huaxin.example>"
    assert parsed.in_reply_to is None and parsed.references == ()
    assert parsed.to == (Address("support@vendor.example.com", "support@vendor.example.com"),)
    assert parsed.cc == (Address("周青", "zhou.qing@vendor.example.com"),)
    assert parsed.date == datetime(2026, 11, 23, 9, 40, 52, tzinfo=CST)
    assert parsed.header("x-mailer") == "Microsoft Outlook 16.0"
    assert parsed.header("From") == "王堃 <Wang.Kun@huaxin.example>"
    assert parsed.defects == ()


def test_multipart_alternative_prefers_plain_text_and_keeps_the_html() -> None:
    parsed = mail("outlook_zh_gbk_feature.eml")
    assert parsed.text.startswith("张敏，您好：\n\n我们财务部在使用贵司ERP的应收模块时")
    assert "-----原始邮件-----" in parsed.text  # text is the whole mail; reply_text is trimmed
    assert parsed.html is not None and "<p class=MsoNormal>张敏，您好：" in parsed.html


def test_gmail_reply_carries_in_reply_to_and_references() -> None:
    parsed = mail("gmail_en_followup.eml")
    assert parsed.in_reply_to == "<ack-1@vendor.example.com>"
    assert parsed.references == ("<ack-1@vendor.example.com>",)
    assert parsed.message_id == "<CAF8x2q3Vb+Kp9dQm1xJ7e4hT6yR0sLw3nZ@mail.gmail.example>"
    assert parsed.date == datetime(2026, 11, 23, 11, 2, 17, tzinfo=CST)


def test_html_only_mail_is_converted_to_readable_text() -> None:
    parsed = mail("html_only_zh.eml")
    assert parsed.text == (
        "您好：\n\n以下是本月希望新增的功能，请评估：\n1. 采购订单支持批量审批\n2. 库存报表增加按仓库筛选\n\n"
        "模块  需求     期望时间\n采购  批量审批   2026年12月\n库存  按仓库筛选  2027年1月\n\n谢谢！\n赵刚"
    )
    assert parsed.html is not None and parsed.html.startswith("<html>")
    assert parsed.reply_text == parsed.text


def test_malformed_mime_still_parses_and_says_what_was_wrong() -> None:
    parsed = mail("malformed_mime.eml")
    assert parsed.reply_text == "The nightly import job fails with error E1042 since Saturday. The log is attached.\n\nTom"
    assert parsed.defects == ("message: multipart closing boundary missing", "part 2: base64 data truncated")
    assert [a.filename for a in parsed.attachments] == ["import.log"]


def test_forward_from_staff_exposes_the_client_and_their_words() -> None:
    parsed = mail("forwarded_en.eml")
    assert parsed.reply_text == (
        "Hi team,\n\nNorthwind asked for this during yesterday's call; please log it as a feature request."
        "\n\nZhang Min"
    )
    assert parsed.forwarded_from == Address("Tom Baker", "tom.baker@northwind.example.com")
    assert parsed.forwarded_text == (
        "Hi Min,\n\nCould you add support for printing barcode labels directly from the goods receipt screen? "
        "Our warehouse staff currently copy the item numbers by hand."
    )


def test_a_reply_is_not_mistaken_for_a_forward() -> None:
    parsed = mail("outlook_en_quoted.eml")
    assert parsed.forwarded_from is None and parsed.forwarded_text is None


def test_missing_message_id_is_none_and_content_hash_ignores_transport_headers() -> None:
    raw = (MAIL / "no_message_id.eml").read_bytes()
    first = parse(raw)
    again = parse(b"Received: from relay2.vendor.example.com by mx.vendor.example.com; "
                  b"Mon, 23 Nov 2026 13:46:00 +0800\r\nX-Spam-Score: 0.1\r\n" + raw)
    assert first.message_id is None
    assert first.content_hash == again.content_hash
    assert len(first.content_hash) == 64
    other = parse(raw.replace(b"sends no email", b"sends no mail"))
    assert other.content_hash != first.content_hash


@pytest.mark.parametrize("fixture", ["empty.eml", "not_an_email.eml"])
def test_bytes_that_are_no_mail_raise_one_line_parse_error(fixture: str) -> None:
    with pytest.raises(ParseError) as err:
        mail(fixture)
    assert "\n" not in str(err.value) and str(err.value)


def test_mail_without_a_usable_from_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="no From address"):
        parse(b"To: support@vendor.example.com\r\nSubject: hello\r\n\r\nbody\r\n")
    with pytest.raises(ParseError, match="no From address"):
        parse(b"From: not an address\r\nSubject: hello\r\n\r\nbody\r\n")


def test_bad_date_and_odd_ids_degrade_instead_of_failing() -> None:
    parsed = parse(
        b"From: Tom Baker <tom.baker@northwind.example.com>\r\n"
        b"Date: 2026\xe5\xb9\xb411\xe6\x9c\x8823\xe6\x97\xa5\r\n"
        b"Message-ID: no-brackets@northwind.example.com\r\n"
        b"In-Reply-To: <ack-9@vendor.example.com> (Support's message of Monday)\r\n"
        b"References: <a@vendor.example.com>\r\n <b@vendor.example.com> <a@vendor.example.com>\r\n"
        b"\r\nThanks.\r\n"
    )
    assert parsed.date is None
    assert parsed.defects == ("Date: unparseable '2026年11月23日'",)
    assert parsed.message_id == "<no-brackets@northwind.example.com>"
    assert parsed.in_reply_to == "<ack-9@vendor.example.com>"
    assert parsed.references == ("<a@vendor.example.com>", "<b@vendor.example.com>")


def test_absurdly_nested_mime_is_refused_not_recursed() -> None:
    parts = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(80))
    with pytest.raises(ParseError, match="nested deeper"):
        parse(b"From: a@northwind.example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" + parts)
