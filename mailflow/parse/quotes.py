"""The client's own words: quoted history and signature removed, wording untouched.

mail-parser-reply finds the usual English attribution lines, Outlook
header blocks and closing formulas ("Best regards,"), but it misses what
Chinese clients send every day: its "写道" pattern can never match (it is
guarded by a negative lookahead of itself), it leaves a 原始邮件 separator
line in the reply, cannot see a Foxmail/QQ quote whose header block has
only one field it knows, nor "发自我的iPhone".  So the text is cut at the
earliest point found by either the library or the line rules below, and
lines quoted with ">" are dropped.  The result is a slice of the original
lines, never a rewrite: it becomes the requirement's description, which
must be the client's original words.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailMessage, EmailReplyParser

LANGUAGES = ("zh", "en")

# Whole-line separators that start quoted or forwarded history.
_SEPARATOR = re.compile(
    r"^(?:-{2,}|_{2,}|={2,})\s*(?:原始邮件|原始郵件|邮件原文|Original Message|Original|Forwarded message|"
    r"Forwarded Message|转发邮件信息|转发的邮件|转发邮件|轉寄郵件|回复的原邮件)\s*(?:-{2,}|_{2,}|={2,})$"
    r"|^Begin forwarded message:$|^以下是转发的邮件[:：]?$",
    re.IGNORECASE,
)
_RULE_LINE = re.compile(r"^[_\-]{10,}$")
_FROM_FIELD = re.compile(r"^\*?(?:From|发件人|寄件者|寄件人)\*?\s*[:：]", re.IGNORECASE)
_OTHER_FIELD = re.compile(
    r"^\*?(?:Sent|Date|To|Subject|Cc|发送时间|时间|日期|收件人|抄送|主题|寄件日期|傳送時間|收件者|主旨)\*?\s*[:：]",
    re.IGNORECASE,
)
_WROTE_END = re.compile(r"(?:\bwrote|写道|寫道)\s*[:：]\s*$", re.IGNORECASE)
_WROTE_START = re.compile(r"^(?:On\s|在\s*\S|于\s*\d|\d{4}[-/年])", re.IGNORECASE)
_SENT_FROM = re.compile(
    r"^(?:Sent from my\s.{1,40}|Sent from (?:Mail|Outlook)\b.{0,40}|Get Outlook for\s.{1,30}|"
    r"发自我的\s*\S{1,20}|从我的\s*\S{1,20}\s*发送|發自我的\s*\S{1,20}|发自\S{1,12}邮箱\S{0,6}|"
    r"来自\S{1,12}邮箱\S{0,6})$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")
_LIBRARY_SIGNATURE_MAX = 40  # a closing formula is a short line ("Best regards,", "Thanks,")
_LIBRARY_LINES = 200
_LIBRARY_LINE_MAX = 200


def strip_quotes(text: str, language: str) -> str:
    """The reply's own text; the whole text when stripping would leave nothing.

    ``language`` ("zh" or "en") is tried first by the library; both are
    always tried, since a Chinese client quotes our English mails and back.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = min(_rule_cut(lines), _library_cut(lines, language))
    kept = [line for line in lines[:cut] if not _QUOTED.match(line)]
    own = _trim(kept)
    return own if own else _trim(lines)


def _trim(lines: list[str]) -> str:
    """Drop surrounding blank lines (and trailing blanks); keep everything else."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]).rstrip()


def _rule_cut(lines: list[str]) -> int:
    """Index of the first line of quoted history or signature by the line rules."""
    stripped = [line.strip() for line in lines]
    for i, line in enumerate(stripped):
        if _QUOTED.match(line):
            continue  # dropped anyway; an interleaved answer below it is kept
        if _SEPARATOR.match(line) or line == "--" or _SENT_FROM.match(line):
            return i  # "--" is the stripped "-- " signature separator
        if _RULE_LINE.match(line) and header_block_at(stripped, _next_filled(stripped, i + 1)):
            return i
        if header_block_at(stripped, i):
            return i
        if _WROTE_END.search(line) and len(line) <= 200:
            # "On Mon, ... wrote:" / "在 2026年11月20日 10:00，xxx 写道：", maybe wrapped:
            # the attribution then starts one line up.
            if i > 0 and stripped[i - 1] and _WROTE_START.match(stripped[i - 1]) \
                    and not _WROTE_START.match(line):
                return i - 1
            return i
    return len(lines)


def _next_filled(stripped: list[str], start: int) -> int:
    for j in range(start, min(start + 3, len(stripped))):
        if stripped[j]:
            return j
    return len(stripped)


def header_block_at(stripped: list[str], i: int) -> bool:
    """An Outlook/Foxmail header block: a From line, then Sent/To/Subject lines."""
    if i >= len(stripped) or not _FROM_FIELD.match(stripped[i]):
        return False
    return any(_OTHER_FIELD.match(line) for line in stripped[i + 1:i + 6])


def _library_cut(lines: list[str], language: str) -> int:
    """Index of the first line mail-parser-reply treats as history or signature."""
    languages = [language] + [code for code in LANGUAGES if code != language]
    index, lib_lines = _library_view(lines)
    lib_text = "\n".join(lib_lines)
    parser = EmailReplyParser(languages=languages)
    message = EmailMessage(text=lib_text, languages=list(parser.languages), keep_hyphen_lists=True).read()
    if message.text != lib_text or not message.replies:
        return len(lines)  # the library rewrote the text after all: its offsets mean nothing here
    first = message.replies[0]
    if first.headers:
        return 0  # the text opens with quoted history
    start = message.text.find(first.content) if first.content else 0
    cut = len(lib_lines)
    if len(message.replies) > 1:
        cut = _line_at(message.text, start + len(first.content), len(lib_lines))
    if first.signatures:
        where = message.text.find(first.signatures, start)
        line = _line_at(message.text, where, len(lib_lines)) if where >= 0 else len(lib_lines)
        before = [x for x in lib_lines[:line] if x]
        if line < cut and before and len(lib_lines[line]) <= _LIBRARY_SIGNATURE_MAX:
            cut = line
    return index[cut] if cut < len(lib_lines) else len(lines)


def _library_view(lines: list[str]) -> tuple[list[int], list[str]]:
    """What the library is shown, and for each of its lines the index of ours.

    Lines are stripped as the library would strip them, and long rule lines
    blanked (it would delete them), so its offsets map back onto our lines.
    Its patterns backtrack badly on long lines and runs of blank lines (a
    40 kB line takes half a minute, 400 long "On ..." lines seconds), so it sees at most one blank line in a
    row, lines cut to _LIBRARY_LINE_MAX characters and the first
    _LIBRARY_LINES lines: the first cut is all that is asked of it, and the
    line rules above still read the whole text.
    """
    index: list[int] = []
    view: list[str] = []
    for number, line in enumerate(lines):
        text = line.strip()
        if len(text) >= 32 and _RULE_LINE.match(text):
            text = ""
        if not text and view and not view[-1]:
            continue
        index.append(number)
        view.append(text[:_LIBRARY_LINE_MAX].strip())
        if len(view) >= _LIBRARY_LINES:
            break
    return index, view


def _line_at(text: str, offset: int, count: int) -> int:
    """The line where text at ``offset`` (skipping blanks) begins; a cut mid-line keeps the line."""
    while offset < len(text) and text[offset] in " \t\n":
        offset += 1
    if offset >= len(text):
        return count
    index = text.count("\n", 0, offset)
    return index if offset == 0 or text[offset - 1] == "\n" else index + 1
