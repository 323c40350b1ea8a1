"""Reply language: Chinese as soon as ideographs are a real share of the letters."""

from __future__ import annotations

import pytest

from mailflow.parse.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("您好，请问如何重置密码？", "zh"),
        ("請問如何重設管理員密碼", "zh"),
        ("导出Excel时报错 HTTP 500", "zh"),
        ("系统报错，日志如下：\nERROR E1042 duplicate key in table stock_move", "zh"),
        ("Please reset the password for 张伟", "en"),
        ("Could you add barcode labels to the goods receipt screen?", "en"),
        ("Best regards,\nZhou Qing 周青", "en"),
        ("", "en"),
        ("12345 !!!", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
