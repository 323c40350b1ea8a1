"""The commitment guard: no mail to a client promises what nobody has confirmed.

Until a requirement has a confirmed development plan, anything that says or
implies "this will be done" can be held against us later (BRIEF §2), so such
a mail is held instead of sent. Once the plan is confirmed, committal wording
is fine, but only about *that* plan: any other version or date in our words
would be a second, unconfirmed promise.

The words live in ``rules/commitment.yaml`` (admins extend them); this module
compiles them once into a few alternations, because the check runs on every
outgoing mail. Matching happens on a normalised view of the text — half-width,
lower-case, no spaces next to Chinese characters, quoted client lines and the
client's own words taken out — so "保 证", "ＷＩＬＬ  ＢＥ fixed" and a wrapped
line are all caught, while a client's "你们保证过…" quoted back is not ours.
Pure: no clock, no I/O except loading the file.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from mailflow.classify.source import Problems, Where, check_keys, get_texts, read_mapping
from mailflow.errors import RuleError
from mailflow.reply.literals import fold, needs_of
from mailflow.reply.plan_terms import conflict

COMMITMENT_FILE = "commitment.yaml"
KEYS = ("phrases", "patterns", "allow", "allow_patterns")
MIN_CLIENT_WORDS = 6  # shorter client texts are not masked: "保证" alone must not whitelist itself

_MASK = "\x00"  # stands where quoted, allowed or client text was; never matches a word
_CJK = ("\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u9fff"
        "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\U00020000-\U0003ffff")
_IS_CJK = re.compile(f"[{_CJK}]")
_SPACE_NEAR_CJK = re.compile(f"[{_CJK}] | [{_CJK}]")
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\uff07": "'"})


@dataclass(frozen=True)
class Plan:
    """The requirement's development plan, as far as it exists."""

    version: str | None
    date: str | None  # YYYY-MM-DD
    patch: str | None
    confirmed: bool


@dataclass(frozen=True)
class Verdict:
    """Whether a text may go to the client; ``phrase`` is the offending words as written."""

    allowed: bool
    phrase: str | None
    reason: str  # one line


class _AnyOf:
    """Plain phrases and regexes, compiled once, searched for the leftmost hit.

    Measured on Python's ``re``: one flat alternation of ~70 entries costs
    ~10x more than a phrase trie (``保(?:证|證)|…``, one pass whatever the
    number of phrases) plus one search per regex, which also keeps admin
    regexes independent (a group name or ``(?i)`` in one cannot break another).
    A regex none of whose words (``literals.needs_of``) is in the text is not
    run at all: it could not match, and most cannot, in most mails.
    """

    def __init__(self, phrases: list[str], patterns: list[str]) -> None:
        self.phrases, self.patterns = tuple(phrases), tuple(patterns)
        trie = _trie(phrases)
        regexes = ((re.compile(trie),) if trie else ()) + tuple(
            re.compile(source, re.IGNORECASE) for source in patterns)
        self._regexes = tuple((rx, needs_of(rx)) for rx in regexes)

    def search(self, text: str) -> re.Match[str] | None:
        """The leftmost match; at one position, phrases before patterns, then file order."""
        best: tuple[int, int, re.Match[str]] | None = None
        folded = fold(text)
        for order, (rx, needs) in enumerate(self._regexes):
            found = rx.search(text) if needs.met(folded) else None
            if found and (best is None or found.start() < best[0]):
                best = (found.start(), order, found)
        return best[2] if best else None

    def mask(self, text: str) -> str:
        """The text with every match blanked, keeping its length (positions stay valid)."""
        folded = fold(text)
        for rx, needs in self._regexes:
            if needs.met(folded):
                masked = rx.sub(lambda m: _MASK * len(m.group()), text)
                if masked != text:  # the next regex is asked about the text it will see
                    text, folded = masked, fold(masked)
        return text


def _trie(phrases: list[str]) -> str:
    """One regex for many literal phrases, sharing prefixes; English words match whole."""
    root: dict = {}
    for phrase in phrases:
        node = root
        tokens = [re.escape(ch) for ch in phrase]
        if phrase[0].isascii() and phrase[0].isalnum():
            tokens.insert(0, r"\b")
        if phrase[-1].isascii() and phrase[-1].isalnum():
            tokens.append(r"\b")
        for token in tokens:
            node = node.setdefault(token, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [token + build(child) for token, child in node.items() if token]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else f"(?:{'|'.join(branches)})"
        return body + ("?" if "" in node else "")

    return build(root)


@dataclass(frozen=True)
class CommitmentRules:
    """The compiled word lists of one ``commitment.yaml``."""

    committal: _AnyOf
    allowed: _AnyOf
    source: str  # the file, for messages


# --- loading ------------------------------------------------------------------------------

def load_commitment(path: Path) -> CommitmentRules:
    """The compiled rules; raises RuleError (``file:line: reason``) with the first problem."""
    rules, problems = _load(Path(path))
    if problems:
        raise RuleError(problems[0])
    assert rules is not None
    return rules


def check_commitment(path: Path) -> list[str]:
    """Every problem in the file, one ``file:line: reason`` each; [] when it is fine."""
    return _load(Path(path))[1]


def _load(path: Path) -> tuple[CommitmentRules | None, list[str]]:
    problems = Problems()
    where = Where(str(path), problems)
    if not path.is_file():
        where.error(None, "file not found (the commitment guard needs its list of committal words)")
        return None, problems.lines()
    top = read_mapping(path, where)
    if top is None:
        return None, problems.lines()
    check_keys(where, top, KEYS)
    phrases = _phrases(where, get_texts(where, top, "phrases"), "phrases")
    patterns = _regexes(where, get_texts(where, top, "patterns"), "patterns")
    allow = _phrases(where, get_texts(where, top, "allow"), "allow")
    allow_patterns = _regexes(where, get_texts(where, top, "allow_patterns"), "allow_patterns")
    if not phrases and not patterns and not problems.found:
        where.error(top.line, "no phrases and no patterns: the guard would let every promise through")
    if problems.found:
        return None, problems.lines()
    return CommitmentRules(_AnyOf(phrases, patterns), _AnyOf(allow, allow_patterns), str(path)), []


def _phrases(where: Where, items: list[tuple[str, int]], key: str) -> list[str]:
    """Phrases normalised like the mail will be, so "ＡＳ Ｐｒｏｍｉｓｅｄ" finds "as promised"."""
    found = []
    for index, (text, line) in enumerate(items, 1):
        norm = _normalised(text).strip(_MASK)
        if norm:
            found.append(norm)
        else:
            where.error(line, f'"{key}" item {index} has no visible characters')
    return found


def _regexes(where: Where, items: list[tuple[str, int]], key: str) -> list[str]:
    valid = []
    for index, (source, line) in enumerate(items, 1):
        try:
            rx = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            where.error(line, f'"{key}" item {index} is not a valid regular expression: {exc.msg}'
                              + (f" at character {exc.pos + 1}" if exc.pos is not None else ""))
            continue
        if rx.search("") is not None:
            where.error(line, f'"{key}" item {index} matches empty text, so it would match every mail')
        elif _SPACE_NEAR_CJK.search(source):
            where.error(line, f'"{key}" item {index} has a space next to a Chinese character; '
                              "spaces there are removed before matching, so it would never match")
        else:
            valid.append(source)
    return valid


# --- checking -----------------------------------------------------------------------------

def check_text(text: str, plan: Plan, rules: CommitmentRules, *,
               client_words: Iterable[str] = ()) -> Verdict:
    """May this text go to a client under this plan? Quoted and client words are not ours.

    ``client_words`` are texts the client wrote (their subject, their
    description); where our mail repeats one verbatim (as the acknowledgement
    does, in “…”), it is not checked.
    """
    words = tuple(client_words)
    original, norm = _view(text, words, rules)
    if not plan.confirmed:
        found = rules.committal.search(norm)
        if found is None:
            return Verdict(True, None, "no committal wording")
        origin = _origin(original)
        phrase = _as_written(original, origin, found.start(), found.end())
        proposed = f" (plan {plan.version} is proposed, not confirmed)" if plan.version else ""
        return Verdict(False, phrase, f'committal wording "{phrase}" before a confirmed plan{proposed}')
    clash = conflict(norm, plan.version, plan.patch, _plan_date(plan.date))
    if clash is None:
        return Verdict(True, None, f"names only the confirmed plan ({plan.version} @ {plan.date})")
    start, end, what, planned = clash
    phrase = _as_written(original, _origin(original), start, end)
    return Verdict(False, phrase, f"names {what} {phrase} but the confirmed plan is {planned}")


def check_draft(subject: str, text: str, html: str | None, plan: Plan, rules: CommitmentRules, *,
                client_words: Iterable[str] = ()) -> Verdict:
    """The first part that may not go (subject, then text, then HTML), or allowed."""
    words = tuple(client_words)
    parts = [("subject", subject), ("text", text)]
    if html:
        parts.append(("HTML part", html_to_text(html)))
    verdict = Verdict(True, None, "no committal wording")
    for name, part in parts:
        verdict = check_text(part, plan, rules, client_words=words)
        if not verdict.allowed:
            where = "" if name == "text" else f" (in the {name})"
            return Verdict(False, verdict.phrase, verdict.reason + where)
    return verdict


_DROP = re.compile(r"<(script|style|blockquote|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Crude but safe: tags out, entities decoded; <blockquote> is the client's words, dropped."""
    text = _TAG.sub("", _BREAK.sub("\n", _DROP.sub("\n", html)))
    return html_lib.unescape(text)


# --- the normalised view ------------------------------------------------------------------

def _view(text: str, client_words: Iterable[str], rules: CommitmentRules) -> tuple[str, str]:
    """(original, normalised-and-masked): what the rules are matched on."""
    original = unicodedata.normalize("NFC", text)
    norm = _normalised(original, skip_quoted=True)
    for piece in _client_pieces(tuple(client_words)):
        norm = norm.replace(piece, _MASK * len(piece))
    return original, rules.allowed.mask(norm)


@lru_cache(maxsize=32)
def _client_pieces(client_words: tuple[str, ...]) -> tuple[str, ...]:
    """The client's lines, normalised: the same for every part of every mail about one event."""
    return tuple(piece for words in client_words for line in (words or "").splitlines()
                 if len(piece := _normalised(line)) >= MIN_CLIENT_WORDS)


def _origin(original: str) -> list[int]:
    """Where each normalised character stands in ``original``: needed only to quote a hit as written."""
    return _normalise(original, skip_quoted=True)[1]


class _FoldTable(dict):  # type: ignore[type-arg]
    """``str.translate`` table that folds each character the first time it is seen."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold(chr(code))
        return folded


_FOLDED = _FoldTable()
# The runs of whitespace ``space`` below may change: not a lone space between two other characters,
# which stays (most of them, in English: calling back for each was over half of the normalising).
_WHITESPACE_RUN = re.compile(f"[ \n]{{2,}}|\n| (?<![^{_CJK}{_MASK}] )| (?![^{_CJK}{_MASK}])")


def _normalised(text: str, skip_quoted: bool = False) -> str:
    """``_normalise(text)[0]``, in a few passes of C instead of a loop over every character.

    The guard runs on every mail queued, and the loop was most of its cost.
    It must equal ``_normalise`` exactly (a test holds the two together);
    ``_normalise`` is still what finds where a hit stands in the mail.
    """
    if skip_quoted:
        pieces = [_MASK if unicodedata.normalize("NFKC", line.lstrip()[:1]) == ">" else line.translate(_FOLDED)
                  for line in text.splitlines(keepends=True)]
        folded = "".join(pieces)
    else:
        folded = text.translate(_FOLDED)

    def space(run: re.Match[str]) -> str:
        start, end = run.span()
        if start == 0 or end == len(folded):
            return ""  # leading and trailing whitespace goes
        before, after = folded[start - 1], folded[end]
        if _MASK in (before, after):
            return ""
        if _IS_CJK.match(before) or _IS_CJK.match(after):
            return "\n" if "\n" in run.group() else ""
        return " "

    return _WHITESPACE_RUN.sub(space, folded)


def _normalise(text: str, skip_quoted: bool = False) -> tuple[str, list[int]]:
    """Half-width, lower-case, invisible characters out, whitespace as matching needs it.

    Spaces next to a Chinese character are dropped (Chinese has none, so any
    there is layout or evasion); a line break there stays one line break,
    because mail programs do not wrap Chinese text, so it ends a line the
    writer meant (and "已收到" on one line cannot excuse "下周上线" on the
    next). Between other characters any run of whitespace is one space, so
    English wrapped at 72 columns reads as one sentence. Quoted lines (``>``)
    become one mask character: words on either side never join across them.
    """
    out: list[str] = []
    origin: list[int] = []
    pending = ""  # whitespace seen since the last kept character: "", " " or "\n"
    position = 0
    for line in text.splitlines(keepends=True):
        if skip_quoted and unicodedata.normalize("NFKC", line.lstrip()[:1]) == ">":
            out.append(_MASK)
            origin.append(position)
            pending = ""
            position += len(line)
            continue
        for offset, char in enumerate(line):
            for ch in _fold(char):
                if ch in " \n":
                    pending = "\n" if "\n" in (pending, ch) else " "
                    continue
                if pending and out and _MASK not in (out[-1], ch):
                    if _IS_CJK.match(out[-1]) or _IS_CJK.match(ch):
                        if pending == "\n":
                            out.append("\n")
                            origin.append(position + offset)
                    else:
                        out.append(" ")
                        origin.append(position + offset)
                pending = ""
                out.append(ch)
                origin.append(position + offset)
        position += len(line)
    return "".join(out), origin


@lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    """One character as matching sees it: a line break is "\n", other whitespace " "."""
    folded = unicodedata.normalize("NFKC", char).lower().translate(_APOSTROPHES)
    return "".join(("\n" if ch in _LINE_BREAKS else " ") if ch.isspace() else ch for ch in folded
                   if unicodedata.category(ch) != "Cf")  # zero-width space, joiners, soft hyphen


def _as_written(original: str, origin: list[int], start: int, end: int) -> str:
    """The matched words as they stand in the mail, on one line."""
    if start >= end or end > len(origin):
        return ""
    written = original[origin[start]:origin[end - 1] + 1]
    return " ".join("".join(c for c in written if unicodedata.category(c) != "Cf").split())


def _plan_date(value: str | date | None) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
