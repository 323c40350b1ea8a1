"""Which language to answer in: Chinese or English.

A Chinese client often writes product names, error messages and log lines in
Latin letters, while an English writer rarely types Chinese beyond a name
in a signature.  So the test is one-sided: the mail is "zh" as soon as CJK
ideographs are at least ``ZH_SHARE`` of its letters.  10% means roughly one
Chinese phrase per sentence: "导出Excel时报错 HTTP 500" (5 of 14 letters) is
zh, "Please reset the password for 张伟" (2 of 27) is en.  No library is
needed for two languages this far apart in script.
"""

from __future__ import annotations

ZH_SHARE = 0.10


def detect_language(text: str) -> str:
    """"zh" when CJK ideographs make up at least ZH_SHARE of the letters, else "en"."""
    letters = 0
    ideographs = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if _is_ideograph(ch):
                ideographs += 1
    if letters and ideographs >= letters * ZH_SHARE:
        return "zh"
    return "en"


def _is_ideograph(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3134F)
