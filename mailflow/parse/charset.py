"""Bytes to text, without silent mojibake.

Real mail lies about its charset: Outlook and Foxmail label GBK text as
``gb2312``, some gateways stamp ``utf-8`` on GBK bodies, others invent labels
(``x-unknown``).  Every guess made here is reported as a one-line defect so
the record shows that the text was not taken at face value.
"""

from __future__ import annotations

import codecs
import unicodedata

from charset_normalizer import from_bytes

# GB2312 is a subset of GBK, GBK a subset of GB18030: decoding with the widest
# one costs nothing and rescues the characters (镕, 堃, 喆 ...) that Chinese
# clients write daily but that a strict GB2312 codec rejects.
_GB_FAMILY = {"gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "gb_2312-80", "gb_2312",
              "csgb2312", "euc-cn", "x-euc-cn", "chinese", "gb18030", "iso-ir-58"}
_BIG5_FAMILY = {"big5", "big-5", "x-big5", "cn-big5", "csbig5", "big5-hkscs", "big5hkscs", "cp950", "ms950"}
# Labels that in practice mean "some 8-bit Western text": decoded as
# windows-1252 the way browsers do (WHATWG), since the two differ only in
# C1 control codes that never appear in real text.
_WESTERN = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252",
            "cp1252"}
# What a Chinese/English support desk actually receives; charset-normalizer's
# ranking is trusted only among these when it proposes one of them, because
# on a short header it often ranks Korean (cp949) above GBK.
_PREFERRED = ("utf-8", "gb18030", "big5", "cp1252")
_NOT_CHARSETS = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "unicode_escape",
                 "raw_unicode_escape"}
_MIN_DETECT = 32  # bytes below which a detector's exotic guess is noise
_REPL = "\ufffd"


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Decode ``data`` labelled ``label``; return (text, defect line or None).

    The defect line has no "part N:" prefix: the caller knows where the bytes
    came from and prefixes it.
    """
    name = _clean_label(label)
    if not data:
        return "", None
    if name.startswith(("utf-16", "utf-32", "utf-7")):
        return _decode_as_labelled(data, name)
    if data.isascii():
        return data.decode("ascii"), None
    if not name:
        text = _strict(data, "utf-8")
        if text is not None:
            return text, None
        return _detect(data, "no charset label")
    codec = _codec_for(name)
    if codec is None:
        return _detect(data, f'charset "{name}" unknown')
    wrong = f'charset "{name}" does not fit the bytes'
    if codec in ("gb18030", "big5", "cp1252", "ascii"):
        # A legacy label on bytes that are valid UTF-8 (and, for the CJK
        # labels, read as real Chinese) is a mislabel: webmail forwarding,
        # gateways re-encoding, clients that never update the header.
        as_utf8 = _strict(data, "utf-8")
        if as_utf8 is not None and _looks_like_text(as_utf8, cjk_required=codec in ("gb18030", "big5")):
            return as_utf8, f"{wrong}, decoded as utf-8 (detected)"
    text = _strict(data, codec)
    if text is None or not _looks_like_text(text):
        nearly = _nearly(data, codec)
        if nearly is not None:
            return nearly, f"{wrong}, decoded as {_label(codec)} with {nearly.count(_REPL)} replacement character(s)"
        return _detect(data, wrong)
    if codec == "cp1252" and _mostly_high(text):
        # GBK bytes labelled Latin-1 "decode" fine into ÄúºÃ soup; a Western
        # text never has most of its letters outside ASCII.
        guess, defect = _detect(data, wrong)
        if defect and "(detected)" in defect and "cp1252" not in defect:
            return guess, defect
    return text, None


def _clean_label(label: str | None) -> str:
    if not label:
        return ""
    # a label with stray 8-bit bytes (surrogates) must still print in a defect line
    name = label.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip().strip("\"'").strip().lower()
    # RFC 2231 allows "utf-8*zh" (charset*language) inside encoded words.
    return name.split("*", 1)[0]


def _codec_for(name: str) -> str | None:
    if not name:
        return None
    if name in _GB_FAMILY:
        return "gb18030"
    if name in _BIG5_FAMILY:
        return "big5"
    if name in _WESTERN:
        return "cp1252"
    if not name.isascii() or not name.isprintable():
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, UnicodeError, ValueError):
        return None
    # bytes-to-bytes codecs (base64, zlib) and the escape codecs are no charsets
    return None if not info._is_text_encoding or info.name in _NOT_CHARSETS else info.name


def _strict(data: bytes, codec: str) -> str | None:
    """Decode or return None; Big5 tries the vendor supersets real clients use."""
    chain = ("big5", "cp950", "big5hkscs") if codec == "big5" else (codec,)
    for one in chain:
        try:
            return data.decode(one)
        except (UnicodeError, LookupError):
            continue
    if codec == "cp1252":
        return data.decode("latin-1")  # only the five undefined C1 bytes fail cp1252
    return None


def _nearly(data: bytes, codec: str) -> str | None:
    """The labelled codec with a byte or two replaced (a truncated part), or None.

    A right label with a cut-off last character is far more common than a
    wrong label that happens to fail only once.
    """
    if codec not in ("utf-8", "gb18030", "big5"):
        return None
    text = data.decode(codec if codec != "big5" else "cp950", errors="replace")
    bad = text.count(_REPL)
    if bad <= max(1, len(text) // 200) and _looks_like_text(text.replace(_REPL, "")):
        return text
    return None


def _decode_as_labelled(data: bytes, name: str) -> tuple[str, str | None]:
    text = _strict(data, _codec_for(name) or name)
    if text is not None:
        return text, None
    return _replace(data, "utf-8", f'charset "{name}" does not fit the bytes')


def _detect(data: bytes, why: str) -> tuple[str, str | None]:
    """Ask charset-normalizer, then judge its proposals by what this desk receives."""
    proposals: list[str] = []
    for match in from_bytes(data):
        codec = _codec_for(match.encoding.replace("_", "-")) or match.encoding
        if codec not in proposals:
            proposals.append(codec)
    preferred = [c for c in proposals if c in _PREFERRED]
    # Other proposals are trusted only on enough bytes to mean something, and
    # UTF-16/32 only when the bytes have the NULs those encodings are made of.
    others = [c for c in proposals if c not in preferred and len(data) >= _MIN_DETECT
              and (b"\x00" in data or not c.startswith(("utf-16", "utf-32")))]
    for codec in preferred + others:
        text = _strict(data, codec)
        if text is not None and _looks_like_text(text):
            return text, f"{why}, decoded as {_label(codec)} (detected)"
    for codec in _PREFERRED[:3]:  # short headers: the detector may propose nothing usable
        text = _strict(data, codec)
        if text is not None and _looks_like_text(text, cjk_required=True):
            return text, f"{why}, decoded as {_label(codec)} (guessed)"
    return _replace(data, "utf-8", why)


def _replace(data: bytes, codec: str, why: str) -> tuple[str, str]:
    text = data.decode(codec, errors="replace")
    return text, f"{why}, no charset decodes it cleanly: decoded as {_label(codec)} with replacement characters"


def _mostly_high(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    high = sum(1 for ch in letters if not ch.isascii())
    return bool(letters) and high * 10 > len(letters) * 3


def _label(codec: str) -> str:
    return codec.replace("_", "-")


def _looks_like_text(text: str, cjk_required: bool = False) -> bool:
    """Reject decodings that "succeed" but produce what no person typed.

    Private-use code points (GB18030 maps unassigned GBK pairs there), C1
    controls and replacement characters are the marks of a wrong codec.
    With ``cjk_required``, most non-ASCII letters must also be CJK, which is
    what tells "valid UTF-8 Chinese" from GBK bytes that happen to be valid
    UTF-8 (the famous 联通 case decodes to Cyrillic).
    """
    non_ascii = 0
    cjk = 0
    for ch in text:
        if ch.isascii():
            continue
        code = ord(ch)
        if ch == "\ufffd" or 0x80 <= code <= 0x9F or 0xE000 <= code <= 0xF8FF or 0xF0000 <= code:
            return False
        non_ascii += 1
        if _is_cjk_text_char(ch):
            cjk += 1
    if cjk_required and non_ascii:
        return cjk * 10 >= non_ascii * 7
    return True


def _is_cjk_text_char(ch: str) -> bool:
    code = ord(ch)
    return (0x3000 <= code <= 0x303F or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
            or 0xFF00 <= code <= 0xFFEF or 0x20000 <= code <= 0x3134F
            or unicodedata.category(ch).startswith("P") or ch in "\u00a0\u00b7\u2014\u2026")
