"""The client's own words: quoted history and signatures cut, wording kept exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.parse import parse
from mailflow.parse.quotes import strip_quotes

MAIL = Path(__file__).parent / "data" / "mail"


def mail(name: str):
    return parse((MAIL / name).read_bytes())


@pytest.mark.parametrize(
    ("language", "text", "own"),
    [
        # Outlook (zh): 原始邮件 separator, then a 发件人/发送时间 block.
        ("zh", "张敏，您好：\n\n希望增加批量导出功能。\n\n王堃\n\n-----原始邮件-----\n"
               "发件人: 张敏 <zhang.min@vendor.example.com>\n发送时间: 2026年11月18日 16:20\n收件人: 王堃\n"
               "主题: 回复: 报表\n\n王经理您好",
         "张敏，您好：\n\n希望增加批量导出功能。\n\n王堃"),
        # Outlook (zh) without separator, bracketed mailto.
        ("zh", "收到，谢谢。\n\n发件人: 张敏 [mailto:zhang.min@vendor.example.com]\n发送时间: 2026年11月20日 10:00\n"
               "收件人: 王堃\n主题: 回复: 报表",
         "收到，谢谢。"),
        # Outlook web (zh): rule line, full-width colons.
        ("zh", "收到。\n\n________________________________\n发件人：张敏 <zhang.min@vendor.example.com>\n"
               "发送时间：2026年11月20日 10:00\n收件人：王堃\n主题：回复",
         "收到。"),
        # Foxmail / QQ Mail separator.
        ("zh", "请尽快处理，谢谢！\n\n何静\n\n------------------ 原始邮件 ------------------\n"
               "发件人: \"support\"<support@vendor.example.com>;\n发送时间: 2026年11月19日(星期四) 下午3:12\n"
               "收件人: \"何静\"<he.jing@yuanhang.example>;\n主题: 回复: 报表导出\n\n您好",
         "请尽快处理，谢谢！\n\n何静"),
        # Apple Mail / NetEase (zh) attribution, ASCII and full-width colon, wrapped.
        ("zh", "好的，收到。\n\n在 2026年11月20日 10:00，张敏 <zhang.min@vendor.example.com> 写道:\n> 您好",
         "好的，收到。"),
        ("zh", "好的，收到。\n\n在 2026年11月20日 10:00，\"张敏\"<zhang.min@vendor.example.com>\n写道：\n> 您好",
         "好的，收到。"),
        # Mobile signatures.
        ("zh", "好的，周一上线。\n\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n发件人: x",
         "好的，周一上线。"),
        ("en", "Yes please.\n\nSent from my iPhone\n\n> On Nov 20, 2026, at 10:00, Support wrote:\n> hello",
         "Yes please."),
        # Outlook (en): header block, closing formula.
        ("en", "Hello,\n\nThe app crashes.\n\nRegards,\nTom Baker\nIT Manager\n\n"
               "From: Zhang Min <zhang.min@vendor.example.com>\nSent: Friday, November 20, 2026 9:30 AM\n"
               "To: Tom Baker\nSubject: RE: Update\n\nHi Tom",
         "Hello,\n\nThe app crashes."),
        ("en", "Fine by us.\n\n-----Original Message-----\nFrom: Support\nSent: Friday\nTo: Tom\nSubject: x\n\nhello",
         "Fine by us."),
        # Gmail: "On ... wrote:" on one line and wrapped over two.
        ("en", "Sounds good.\n\nOn Mon, Nov 23, 2026 at 10:15 AM Support <support@vendor.example.com> wrote:\n> Hello",
         "Sounds good."),
        ("en", "Could you confirm v2.3?\n\nOn Mon, Nov 23, 2026 at 10:15 AM Vendor Support <support@vendor.example.com>\n"
               "wrote:\n\n> Hello\n",
         "Could you confirm v2.3?"),
        # "-- " signature separator; hyphen lists are not signatures.
        ("en", "Our requests:\n- export to Excel\n- filter by warehouse\n\n-- \nTom Baker | Northwind Retail",
         "Our requests:\n- export to Excel\n- filter by warehouse"),
        # Interleaved answers stay, the quoted questions go.
        ("en", "See inline.\n\n> Is it slow?\nYes, very slow.\n> Which screen?\nThe orders screen.\n",
         "See inline.\n\nYes, very slow.\nThe orders screen."),
        # A long line starting with "Thanks," is words, not a signature.
        ("en", "Thanks, the export works now but the PDF print still fails with HTTP 500.\nPlease check.\n\nBest regards,\nTom",
         "Thanks, the export works now but the PDF print still fails with HTTP 500.\nPlease check."),
        # Nothing but quote: keep the whole text rather than nothing.
        ("en", "\n> quoted only\n> more quote\n", "> quoted only\n> more quote"),
        # No history at all: only surrounding blank lines go; inner spacing stays.
        ("zh", "\n\n  您好：\n\n  请问如何重置密码？  \n\n", "  您好：\n\n  请问如何重置密码？"),
    ],
)
def test_strip_quotes(language: str, text: str, own: str) -> None:
    assert strip_quotes(text, language) == own


def test_crlf_text_is_handled_like_lf() -> None:
    assert strip_quotes("Fine.\r\n\r\nOn Mon, Nov 23, 2026 Support wrote:\r\n> hi\r\n", "en") == "Fine."


def test_outlook_zh_reply_text_is_the_clients_words() -> None:
    assert mail("outlook_zh_gbk_feature.eml").reply_text == (
        "张敏，您好：\n\n"
        "我们财务部在使用贵司ERP的应收模块时，希望能增加“按客户批量导出对账单”的功能。"
        "目前只能逐个客户导出，财务主管朱镕每月初要花两天时间处理。\n\n"
        "业务场景：每月1日前，财务需要把上月对账单按客户导出为Excel，分别发给各区域经理核对。\n"
        "期望效果：选择多个客户后一次导出，每个客户一个工作表。\n\n"
        "王堃\n华信制造 信息部\n电话：021-5550-0101"
    )


def test_foxmail_reply_text_is_the_clients_words() -> None:
    assert mail("foxmail_zh_bug_attachment.eml").reply_text == (
        "李工，您好！\n\n"
        "今天上午在生产环境导出月度报表时，系统提示“HTTP 500 内部服务器错误”，报表无法生成，截图见附件。\n"
        "操作步骤：报表中心 -> 月度汇总 -> 导出Excel，期间选2026年10月。\n\n"
        "这个报表月底要交给总部，请尽快帮忙看一下，谢谢！\n\n"
        "何静\n远航物流 财务部"
    )


def test_gmail_reply_text_drops_wrapped_attribution_quotes_and_closing() -> None:
    assert mail("gmail_en_followup.eml").reply_text == (
        "Hi,\n\n"
        "Thanks for the quick acknowledgement. One more detail: the export should keep the column widths "
        "and the Chinese headers (客户名称, 金额) exactly as shown on screen.\n\n"
        "Could you also tell us whether this could be part of v2.3?"
    )


def test_outlook_en_reply_text_drops_header_block_and_signature() -> None:
    assert mail("outlook_en_quoted.eml").reply_text == (
        "Hello Support team,\n\n"
        "When we print the delivery note from the Orders screen, the application crashes with "
        "\"Object reference not set to an instance of an object\". This started after yesterday’s update "
        "and is blocking our warehouse.\n\n"
        "Steps: Orders > select any order > Print > Delivery note."
    )


def test_mailing_list_footer_after_dash_dash_is_a_signature() -> None:
    assert mail("mailing_list.eml").reply_text == (
        "Dear suppliers,\n\n"
        "December delivery windows are now open for booking in the supplier portal.\n"
        "Please book your slots before December 1.\n\n"
        "Northwind Retail Purchasing"
    )


def test_pathological_text_stays_fast() -> None:
    """The library's patterns backtrack on long lines; the stage must not stall on them."""
    import time

    started = time.perf_counter()
    strip_quotes(("On " + "a " * 250 + "\n") * 400 + " \n" * 20000, "en")
    assert time.perf_counter() - started < 2.0
