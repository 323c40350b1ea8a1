"""Lifting base64 bodies out before parsing: the same tree the stdlib builds, only sooner.

Each test parses a mail both ways, plainly with the stdlib and with its long
base64 runs lifted out and put back, and asks for the same tree: every
part's headers, payload, preamble, epilogue and defects.
"""

from __future__ import annotations

import base64
import random
import sys
from email.message import Message
from pathlib import Path

import pytest

from mailflow.parse import mime, parse
from mailflow.parse.lift import MIN_BODY, lift

MAIL = Path(__file__).parent / "data" / "mail"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from generate import generate  # noqa: E402  - the benchmark's realistic mix, seeded


def shape(msg: Message) -> list:
    """Everything the parser decided, part by part, in order."""
    out = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        payload = part._payload  # noqa: SLF001 - what the parser stored, before any decoding
        out.append((list(part.raw_items()), part.get_unixfrom(), part.preamble, part.epilogue,
                    [type(d).__name__ for d in part.defects],
                    payload if isinstance(payload, str) else len(payload)))
        if isinstance(payload, list):
            stack.extend(payload)
    return out


def both_ways(raw: bytes) -> tuple[list, list]:
    return shape(mime._feed(raw)), shape(mime._parse_in_chunks(raw))  # noqa: SLF001


def same_tree_when_lifted(raw: bytes) -> list:
    """The mail is lifted, and its tree is the plain parse's; the tree, for more questions."""
    assert lift(raw) is not None
    plain, lifted = both_ways(raw)
    assert lifted == plain
    return lifted


def b64_lines(size: int, seed: int = 1, width: int = 76, ending: bytes = b"\n") -> bytes:
    data = random.Random(seed).randbytes(size)
    text = base64.b64encode(data)
    return ending.join(text[i:i + width] for i in range(0, len(text), width))


def multipart(body: bytes, *, ending: bytes = b"\n", content_type: bytes = b"application/pdf",
              tail: bytes = b"--b1--") -> bytes:
    lines = [b"From: a@example.com", b"Subject: x", b"Content-Type: multipart/mixed; boundary=b1", b"",
             b"--b1", b"Content-Type: text/plain", b"", b"hello", b"--b1",
             b"Content-Type: " + content_type, b"Content-Transfer-Encoding: base64", b"", body, tail, b""]
    return ending.join(lines)


@pytest.mark.parametrize("name", sorted(p.name for p in MAIL.glob("*.eml")))
def test_every_fixture_parses_to_the_same_tree(name: str) -> None:
    plain, lifted = both_ways((MAIL / name).read_bytes())
    assert lifted == plain


def test_the_benchmark_mix_parses_to_the_same_tree_and_the_same_mail() -> None:
    raws = generate(300, seed=11)
    lifted_any = 0
    for raw in raws:
        plain, lifted = both_ways(raw)
        assert lifted == plain
        lifted_any += lift(raw) is not None
    assert lifted_any >= 20  # the mix has attachments, and they were lifted
    # The whole parse stage, attachments decoded and hashed, agrees too.
    raw = next(r for r in raws if lift(r) is not None)
    original = mime._parse_in_chunks  # noqa: SLF001
    try:
        mime._parse_in_chunks = mime._feed  # noqa: SLF001
        expected = parse(raw)
    finally:
        mime._parse_in_chunks = original  # noqa: SLF001
    assert parse(raw) == expected


def test_an_attachment_is_lifted_and_put_back_byte_for_byte() -> None:
    body = b64_lines(40_000)
    raw = multipart(body)
    lifted = lift(raw)
    assert lifted is not None and len(lifted.raw) < 400
    msg = mime._parse_in_chunks(raw)  # noqa: SLF001
    assert msg.get_payload()[1].get_payload(decode=True) == random.Random(1).randbytes(40_000)
    assert both_ways(raw)[1] == both_ways(raw)[0]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("width", [76, 64, 72])
def test_line_endings_and_widths_of_real_clients(ending: bytes, width: int) -> None:
    same_tree_when_lifted(multipart(b64_lines(20_000, width=width, ending=ending), ending=ending))


@pytest.mark.parametrize(("label", "body"), [
    ("a blank line inside", b64_lines(3000) + b"\n\n" + b64_lines(3000)),
    ("a line starting with --", b64_lines(3000) + b"\n--b1\n" + b64_lines(3000)),
    ("a lone CR", b64_lines(3000).replace(b"\n", b"\r", 1)),
    ("a last line longer than the others", b64_lines(3000) + b"QUJD" * 30),
    ("lines of different widths", b64_lines(3000, width=76) + b"\n" + b64_lines(3000, width=60)),
    ("short", b64_lines(MIN_BODY // 2)),
])
def test_what_is_not_one_clean_run_is_parsed_as_it_is(label: str, body: bytes) -> None:
    raw = multipart(body)
    plain, lifted = both_ways(raw)
    assert lifted == plain, label


def test_a_run_is_put_back_whatever_else_its_later_lines_hold() -> None:
    """Only the first line meets a header parser; later ones are kept as they are, 8-bit bytes too."""
    lines = b64_lines(6000).split(b"\n")
    lines[5] = b"X" * 10 + "中文:".encode("gbk") + b"Y" * (76 - 15)
    same_tree_when_lifted(multipart(b"\n".join(lines)))


def test_a_delivery_report_and_a_forwarded_mail_keep_their_blocks() -> None:
    run = b64_lines(5000)
    report = (b"From: mailer-daemon@example.com\nSubject: failed\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\n\n"
              b"--r\nContent-Type: text/plain\n\nfailed\n--r\nContent-Type: message/delivery-status\n\n"
              b"Reporting-MTA: dns; mx.example.com\n\n" + run + b"\n\nFinal-Recipient: rfc822; x@example.com\n"
              b"--r\nContent-Type: message/rfc822\n\n" + run + b"\n--r--\n")
    same_tree_when_lifted(report)


def test_runs_in_a_preamble_an_epilogue_and_a_mail_without_parts() -> None:
    run = b64_lines(5000)
    raw = (b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b1\n\n" + run +
           b"\n--b1\nContent-Type: text/plain\n\nhi\n--b1--\n\n" + run + b"\n")
    same_tree_when_lifted(raw)
    same_tree_when_lifted(b"From: a@example.com\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
                          + run + b"\n")


def test_nested_parts_and_a_missing_closing_boundary() -> None:
    run = b64_lines(5000)
    nested = (b"From: a@example.com\nContent-Type: multipart/mixed; boundary=outer\n\n"
              b"--outer\nContent-Type: multipart/related; boundary=inner\n\n"
              b"--inner\nContent-Type: text/html\n\n<p>x</p>\n--inner\nContent-Type: image/png\n"
              b"Content-Transfer-Encoding: base64\n\n" + run + b"\n--inner--\n"
              b"--outer\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n" + run)
    assert len(lift(nested).spans) == 2
    assert "CloseBoundaryNotFoundDefect" in str(same_tree_when_lifted(nested))


def test_a_mail_that_holds_the_token_itself_is_parsed_as_it_is() -> None:
    raw = multipart(b64_lines(5000)).replace(b"hello", b"MAILFLOWLIFTEDBODY00000000")
    assert lift(raw) is None
    assert both_ways(raw)[1] == both_ways(raw)[0]


def test_a_text_of_many_false_starts_stops_looking_and_parses_as_it_is() -> None:
    """Each candidate that is no clean run may cost a look to the end: a mail gets MAX_MISSES of them."""
    from mailflow.parse.lift import MAX_MISSES

    paragraph = b"A" * 60 + b" is not base64, for it has spaces.\n"
    text = b"\n".join([paragraph] * (MAX_MISSES + 5))
    raw = (b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\n"
           b"Content-Type: text/plain\n\n" + text + b"\n--b1\nContent-Type: image/png\n"
           b"Content-Transfer-Encoding: base64\n\n" + b64_lines(5000) + b"\n--b1--\n")
    assert lift(raw) is None  # it gave up before reaching the image
    assert lift(raw.replace(text, paragraph)) is not None  # with one false start it reaches it
    assert both_ways(raw)[1] == both_ways(raw)[0]
