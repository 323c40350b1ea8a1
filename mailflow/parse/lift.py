"""Long base64 bodies set aside while the standard library parses the mail around them.

Why: the stdlib's feed parser reads a mail one line at a time and checks
every line against each open MIME boundary, a step of Python per 76 bytes of
an attachment's base64. That was a third of the parsing process's time.

A run of lines after a blank line, all of one width with one kind of line
ending, none starting with ``-``, the first of base64 characters only (every
base64 body a mail program writes) cannot change the shape of the tree: no
line of it is a boundary (those begin with ``--``) or blank, the first is no
header, and the others, as body lines, are only kept. Such a run is replaced
by one token line, the shortened mail is parsed, and each token is put back,
byte for byte, into the payload, preamble or epilogue where it landed. If any
token is not found exactly once, the caller parses the original: the tree is
always the one the stdlib builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

__all__ = ["Lifted", "lift"]

MIN_BODY = 1024  # shorter runs cost more to find and put back than their lines cost the parser
MAX_MISSES = 16  # candidates that turn out not to be one clean run: each may cost a look to the end
_TOKEN = b"MAILFLOWLIFTEDBODY"  # letters only: never a header, a boundary or a blank line
_TOKEN_TEXT = _TOKEN.decode("ascii")
_PUT_BACK = re.compile(_TOKEN_TEXT + r"(\d{8})")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# A blank line (the end of a header section), then a line that looks like base64.
_BODY_START = re.compile(rb"\n\r?\n(?=[A-Za-z0-9+/]{40})")


@dataclass(frozen=True)
class Lifted:
    """The mail with its long base64 runs replaced by tokens, and where each run stood."""

    raw: bytes
    spans: tuple[tuple[int, int], ...]
    original: bytes

    def put_back(self, msg: Message) -> bool:
        """Each run back in the payload its token landed in; False when that is not exactly once each."""
        seen: list[int] = []
        view = memoryview(self.original)

        def text(match: re.Match[str]) -> str:
            index = int(match.group(1))
            seen.append(index)
            if index >= len(self.spans):
                return match.group()
            start, end = self.spans[index]
            return str(view[start:end], "ascii", "surrogateescape")  # as BytesFeedParser decodes

        stack = [msg]  # not msg.walk(): the tree is hostile input, and walk() recurses
        while stack:
            part = stack.pop()
            for name in ("_payload", "preamble", "epilogue"):
                value = getattr(part, name, None)
                if isinstance(value, str) and _TOKEN_TEXT in value:
                    setattr(part, name, _PUT_BACK.sub(text, value))
                elif isinstance(value, list):
                    stack.extend(child for child in value if isinstance(child, Message))
        return sorted(seen) == list(range(len(self.spans)))


def lift(raw: bytes) -> Lifted | None:
    """The mail with its long base64 runs as tokens; None when there is nothing worth lifting."""
    if _TOKEN in raw:
        return None  # a mail quoting our token (this source, say) is parsed as it is
    spans: list[tuple[int, int]] = []
    position = searched = misses = 0
    above = -1  # the last line starting "--" before the candidate
    while misses < MAX_MISSES and (found := _BODY_START.search(raw, position)) is not None:
        start = found.end()
        back = raw.rfind(b"\n--", searched, start)  # each stretch looked through once
        above, searched = (back if back >= 0 else above), start
        end = _next_boundary(raw, start, above)
        stop = end
        while stop > start and raw[stop - 1] in b"\r\n":
            stop -= 1  # the last line ending stays: the parser gives it to the boundary
        if stop - start >= MIN_BODY and _fixed_lines(raw, start, stop):
            spans.append((start, stop))
            position = end
        else:
            misses += 1
            position = start  # text, say: a run may still start further down
    if not spans:
        return None
    pieces: list[bytes] = []
    previous = 0
    for index, (start, stop) in enumerate(spans):
        pieces += [raw[previous:start], b"%s%08d" % (_TOKEN, index)]
        previous = stop
    pieces.append(raw[previous:])
    return Lifted(b"".join(pieces), tuple(spans), raw)


def _next_boundary(raw: bytes, start: int, above: int) -> int:
    """Where the next line with this part's boundary begins (the end of the mail when there is none).

    Found by the boundary line above the part's headers (at ``above``): a
    long needle is found without stopping at every line ending, as
    ``\\n--`` would. A miss costs a search to the end of the mail, which is
    why a mail gets only MAX_MISSES of them.
    """
    line_end = raw.find(b"\n", above + 1, start) if above >= 0 else -1
    if line_end < 0:  # a preamble, or a mail of one part: the next boundary of any kind
        end = raw.find(b"\n--", start)
        return len(raw) if end < 0 else end
    boundary = raw[above:line_end].rstrip(b"\r\t ")
    if boundary.endswith(b"--") and len(boundary) > 3:
        boundary = boundary[:-2]  # the closing line of a part above: its boundary may go on here
    end = raw.find(boundary, start)
    return len(raw) if end < 0 else end


def _fixed_lines(raw: bytes, start: int, stop: int) -> bool:
    """Lines of one width (the last may be shorter), one kind of line ending, the first all base64.

    That is every base64 body a mail program writes, and it is enough: no
    line in it is blank or starts with ``-`` (so none is a boundary), and the
    first is no header. The other lines may hold anything; as body
    lines they are only kept. Checked with counts and strided slices: a
    megabyte costs about a millisecond, and is not copied.
    """
    first = raw.find(b"\n", start, stop)
    if first < 0:
        return False
    crlf = raw[first - 1] == 13
    width = first - start - crlf
    if width < 1 or raw[start:start + width].translate(None, _ALPHABET):
        return False
    step = width + 1 + crlf
    endings = raw.count(b"\n", start, stop)
    if raw.count(b"\r", start, stop) != (endings if crlf else 0):
        return False
    view = memoryview(raw)
    if view[start + width + crlf:stop:step].tobytes() != b"\n" * endings:
        return False
    if b"-" in view[start + step:stop:step].tobytes():
        return False  # a line starting "--" may be a boundary
    return not crlf or view[start + width:stop:step].tobytes() == b"\r" * endings
