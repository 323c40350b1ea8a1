"""Charsets as real clients mislabel them: decoded right, or flagged, never silent mojibake."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.parse import parse
from mailflow.parse.charset import decode_bytes
from mailflow.parse.headers import header_text

MAIL = Path(__file__).parent / "data" / "mail"


def mail(name: str):
    return parse((MAIL / name).read_bytes())


@pytest.mark.parametrize(
    ("data", "label", "text", "defect"),
    [
        # GB2312 labels are read as GB18030: 堃 and 镕 are GBK-only characters.
        ("王堃 朱镕".encode("gbk"), "gb2312", "王堃 朱镕", None),
        ("王堃".encode("gbk"), "GB2312", "王堃", None),
        ("报表".encode("gbk"), "x-gbk", "报表", None),
        ("报表".encode("gbk"), "cp936", "报表", None),
        ("报表".encode("gbk"), "gb_2312-80", "报表", None),
        ("需求".encode("utf-8"), "utf-8", "需求", None),
        ("請問密碼".encode("big5"), "big5", "請問密碼", None),
        ("請問密碼".encode("big5hkscs"), "big5-hkscs", "請問密碼", None),
        ("Café crème".encode("latin-1"), "iso-8859-1", "Café crème", None),
        (b"plain ascii", "x-anything", "plain ascii", None),
        (b"", "utf-8", "", None),
        # Unlabelled 8-bit: UTF-8 first, then detection.
        ("需求说明".encode("utf-8"), None, "需求说明", None),
        ("关于新版本报价单".encode("gbk"), None, "关于新版本报价单",
         "no charset label, decoded as gb18030 (detected)"),
        # Unknown or wrong labels: detected, and said so.
        ("您好，我们在使用系统导出报表时遇到问题，请帮忙看一下。".encode("gbk"), "x-unknown",
         "您好，我们在使用系统导出报表时遇到问题，请帮忙看一下。", 'charset "x-unknown" unknown, decoded as gb18030 (detected)'),
        ("您好，我们希望增加导出功能".encode("utf-8"), "gbk", "您好，我们希望增加导出功能",
         'charset "gbk" does not fit the bytes, decoded as utf-8 (detected)'),
        ("您好，我们在使用系统导出报表时遇到问题".encode("gbk"), "utf-8", "您好，我们在使用系统导出报表时遇到问题",
         'charset "utf-8" does not fit the bytes, decoded as gb18030 (detected)'),
        ("您好，我们在使用系统导出报表时遇到问题".encode("gbk"), "iso-8859-1", "您好，我们在使用系统导出报表时遇到问题",
         'charset "iso-8859-1" does not fit the bytes, decoded as gb18030 (detected)'),
        ("Café".encode("utf-8"), "us-ascii", "Café", 'charset "us-ascii" does not fit the bytes, decoded as utf-8 (detected)'),
        # A right label on a cut-off part: keep the label, mark the hole.
        ("汉字".encode("utf-8")[:-1], "utf-8", "汉\ufffd",
         'charset "utf-8" does not fit the bytes, decoded as utf-8 with 1 replacement character(s)'),
        # Nothing fits: replacement characters, and the defect says so.
        (b"\xff\xfe\xfa\xfb\x81", "utf-8", "\ufffd" * 5,
         'charset "utf-8" does not fit the bytes, no charset decodes it cleanly: '
         "decoded as utf-8 with replacement characters"),
        # 联通 in GBK is also valid UTF-8 (as Cyrillic): the GBK label wins.
        ("联通".encode("gbk"), "gbk", "联通", None),
    ],
)
def test_decode_bytes(data: bytes, label: str | None, text: str, defect: str | None) -> None:
    assert decode_bytes(data, label) == (text, defect)


def test_gb2312_labelled_outlook_mail_with_gbk_only_characters_decodes_cleanly() -> None:
    parsed = mail("outlook_zh_gbk_feature.eml")
    assert parsed.sender.name == "王堃"  # encoded word labelled gb2312, bytes GBK
    assert "财务主管朱镕每月初要花两天时间处理" in parsed.text
    assert parsed.defects == ()


def test_big5_mail_decodes_traditional_chinese() -> None:
    parsed = mail("big5_zh.eml")
    assert parsed.reply_text == (
        "您好：\n\n請問如何重設系統管理員的密碼？我們的管理員帳號因為多次輸入錯誤被鎖定了，目前無法登入後台。\n\n謝謝！\n陳志明"
    )
    assert parsed.defects == ()


def test_unknown_charset_label_is_detected_and_recorded() -> None:
    parsed = mail("unknown_charset.eml")
    assert parsed.reply_text == (
        "您好，\n\n最近一周系统登录非常慢，每次要等一分钟以上才能进入首页，影响了全公司的日常操作。请问是否可以优化？\n\n刘明"
    )
    assert parsed.defects == ('part 1: charset "x-unknown-foo" unknown, decoded as gb18030 (detected)',)


def test_utf8_bytes_labelled_gbk_are_not_turned_into_mojibake() -> None:
    parsed = mail("mislabelled_utf8_as_gbk.eml")
    assert parsed.reply_text == (
        "您好，\n\n我们希望在手机上也能审批采购订单，出差时经常需要处理紧急的采购申请。请问能否支持移动端审批？\n\n钱伟\n远航物流 采购部"
    )
    assert parsed.defects == ('part 1: charset "gbk" does not fit the bytes, decoded as utf-8 (detected)',)


def test_subject_with_unknown_charset_word_and_raw_utf8_bytes() -> None:
    parsed = mail("broken_subject.eml")
    assert parsed.subject == "关于报价单 金额有误"
    assert parsed.sender.name == "吴昊"  # raw UTF-8 display name (RFC 6532): no defect
    assert parsed.defects == ('Subject: charset "x-unknown-8bit" unknown, decoded as gb18030 (detected)',)


def test_foxmail_subject_split_mid_character_is_joined_before_decoding() -> None:
    parsed = mail("foxmail_zh_bug_attachment.eml")
    assert parsed.subject == "生产环境导出月度报表时系统报错，请尽快处理"
    assert parsed.defects == ()


@pytest.mark.parametrize(
    ("raw", "text", "defects"),
    [
        ("=?GBK?B?tbyz9rE=?=\r\n =?GBK?B?qLHtyrHPtc2zsai07Q==?=", "导出报表时系统报错", []),  # split inside 报
        ("=?utf-8?Q?caf=C3=A9_au_lait?=", "café au lait", []),
        ("Re: =?UTF-8?B?6ZyA5rGC?= and =?UTF-8?B?6K+05piO?=", "Re: 需求 and 说明", []),
        ("=?UTF-8?B?6ZyA5rGC?=   =?UTF-8?B?6K+05piO?=", "需求说明", []),
        ("=?utf-8*zh?B?6ZyA5rGC?=", "需求", []),
        ("=?UTF-8?B?6ZyA5rGC?=", "需求", []),
        ("=?UTF-8?B?6ZyA5rG?=", "需\ufffd", ['Subject: charset "utf-8" does not fit the bytes, decoded as utf-8 '
                                            "with 1 replacement character(s)"]),  # truncated base64
        ("=?gbk?B?vfC27tPQ?=", "金额有", []),
        ("=?gbk?B?vfC27tPQ", "=?gbk?B?vfC27tPQ", []),  # unterminated: left as written
        ("=?x-weird?B?cGxhaW4=?=", "plain", []),
    ],
)
def test_header_text(raw: str, text: str, defects: list[str]) -> None:
    assert header_text(raw, "Subject") == (text, defects)
