"""Attachments: decoded names made safe, sizes and checksums of the decoded bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.parse import parse
from mailflow.parse.attachments import MAX_NAME_BYTES, safe_filename

MAIL = Path(__file__).parent / "data" / "mail"


def attachments(name: str) -> list[tuple[str, str, int, str]]:
    parsed = parse((MAIL / name).read_bytes())
    return [(a.filename, a.content_type, a.size, a.sha256) for a in parsed.attachments]


def test_foxmail_screenshot_with_gbk_encoded_word_name() -> None:
    assert attachments("foxmail_zh_bug_attachment.eml") == [
        ("报错截图.png", "image/png", 160, "e5f39e729711782cbfcb20137a28f18007feeb2fd15c2dd4bb758357c81d8b8f"),
    ]
    parsed = parse((MAIL / "foxmail_zh_bug_attachment.eml").read_bytes())
    assert parsed.attachments[0].data.startswith(b"\x89PNG\r\n\x1a\n")


def test_rfc2231_names_continuations_and_a_path_traversal_name() -> None:
    assert attachments("rfc2231_attachment.eml") == [
        ("需求说明.pdf", "application/pdf", 125, "79370862c6cb54e96ed3125464c11e4ce3e8b08fb5048723695b6b9e9728d701"),
        # filename*0*/filename*1*, split inside the UTF-8 bytes of 计
        ("交付计划.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 96,
         "b2e1daf46edc0d22dad4ec195f3d3aa3bd523d75321900b07302e5d4e388a33d"),
        ("passwd", "text/plain", 32, "e787b373a74594b33b77892a903647d7a6cf519d427a0b0790e11be4482696e0"),
    ]
    parsed = parse((MAIL / "rfc2231_attachment.eml").read_bytes())
    assert parsed.defects == ("part 4: unsafe file name '../../etc/passwd' saved as 'passwd'",)
    assert parsed.reply_text == "李工您好，\n\n附件是需求说明和交付计划，请查收。\n\n何静"  # attachments are no body


def test_truncated_attachment_keeps_what_arrived() -> None:
    assert attachments("malformed_mime.eml") == [
        ("import.log", "application/octet-stream", 201,
         "8b074a9e9f94ce56186842f38fd0c1eba066f9bbe95b7a40b601a09a9ff03c46"),
    ]


def test_unnamed_report_parts_get_numbered_names() -> None:
    assert [(name, ctype) for name, ctype, _size, _sha in attachments("bounce_dsn.eml")] == [
        ("attachment-1.bin", "message/delivery-status"),
        ("attachment-2.bin", "text/rfc822-headers"),
    ]


def test_mail_without_attachments_has_none() -> None:
    assert attachments("outlook_zh_gbk_feature.eml") == []
    assert attachments("html_only_zh.eml") == []


def test_inline_image_referenced_by_html_is_an_attachment() -> None:
    raw = (
        b"From: Tom Baker <tom.baker@northwind.example.com>\r\n"
        b"Content-Type: multipart/related; boundary=rel\r\n\r\n"
        b"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>The error:</p><img src=\"cid:image001.png@01DB5D71\">\r\n"
        b"--rel\r\nContent-Type: image/png; name=\"image001.png\"\r\nContent-ID: <image001.png@01DB5D71>\r\n"
        b"Content-Disposition: inline; filename=\"image001.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--rel--\r\n"
    )
    parsed = parse(raw)
    assert [(a.filename, a.size) for a in parsed.attachments] == [("image001.png", 8)]
    assert parsed.text == "The error:"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("需求说明.pdf", "需求说明.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("/absolute/path/report.xlsx", "report.xlsx"),
        ("..", "attachment-3.bin"),
        ("", "attachment-3.bin"),
        ("   ", "attachment-3.bin"),
        ("bad\x00name\x07.txt", "badname.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override removed
        ("a:b*c?.doc", "a_b_c_.doc"),
        (".htaccess", "htaccess"),
        ("report. ", "report"),
        ("CON.txt", "_CON.txt"),
        ("tab\tand\nnewline.log", "tabandnewline.log"),
        ("two  spaces.txt", "two spaces.txt"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name, 3) == safe


def test_overlong_names_are_capped_keeping_the_extension() -> None:
    safe = safe_filename("需" * 300 + ".pdf", 1)
    assert safe.endswith(".pdf")
    assert len(safe.encode("utf-8")) <= MAX_NAME_BYTES
