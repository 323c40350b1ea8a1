"""Words a regex cannot match without: the guard skips a regex whose words are not in the text.

Why: the commitment guard runs some thirty regexes (``rules/commitment.yaml``)
over every part of every mail it lets out, and Python's ``re`` walks the whole
text once per regex, even where the text holds none of the words the regex is
about ("上线", " be fixed", "工作日"). Most texts hold none of them for most
regexes. Looking for a handful of plain strings first is several times
cheaper than the walk, and when none is there the regex cannot match: the
verdict is the same, only sooner.

The strings are read off the regex's own parse tree, and only what is certain
is kept: every match of the regex contains at least one of them (compared
case-blind, see ``fold``). Where that cannot be said (a pattern that may match
anything short, a construct not understood here, a Python whose ``re``
internals changed), the regex has no strings and always runs. So a wrong
answer here can only make the guard slower, never let a promise through;
``tests/test_reply_literals.py`` holds it to that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

try:  # the parser ``re`` itself uses; private, so its absence only turns the shortcut off
    from re import _constants as _sre, _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without them
    _sre = _sre_parse = None

__all__ = ["Needs", "fold", "needs_of"]

LIMIT = 24  # alternatives kept per regex: past that, looking for them costs what the regex does

# The characters ``re.IGNORECASE`` takes for an ASCII letter that ``str.lower`` does not turn into
# it (found by trying every code point; the test does it again): İ ı → i, ſ → s, K (Kelvin) → k.
_ODD = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_ODD_TABLE = str.maketrans(_ODD)


def fold(text: str) -> str:
    """The text as the strings are compared with it: lower case, the odd letters above made plain."""
    if not text.isascii() and any(ch in text for ch in _ODD):
        text = text.translate(_ODD_TABLE)
    return text.lower()


@dataclass(frozen=True)
class Needs:
    """What one regex cannot match without: one word of each group. No groups: always run it."""

    groups: tuple[tuple[str, ...], ...] = ()

    def met(self, folded: str) -> bool:
        """Might the regex match the text ``fold`` gave this? False only when it certainly cannot."""
        for words in self.groups:
            for word in words:
                if word in folded:
                    break
            else:
                return False
        return True


def needs_of(pattern: re.Pattern[str]) -> Needs:
    """The word groups every match of ``pattern`` contains one word of each; ``Needs()`` when unsure."""
    if _sre_parse is None:
        return Needs()
    try:
        found = _sequence(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - anything unexpected in re's internals: no shortcut, same verdicts
        return Needs()
    if found is None:
        return Needs()
    groups = sorted({tuple(sorted(words)) for words in (found.words, *found.also) if _telling(words)},
                    key=lambda words: (-min(map(_weight, words)), len(words), words))
    return Needs(tuple(groups[:3]))  # the most telling few: more would cost more than they spare


def _useful(words: frozenset[str]) -> bool:
    return bool(words) and "" not in words and len(words) <= LIMIT


def _telling(words: frozenset[str]) -> bool:
    """Worth looking for: not a single letter, space or punctuation mark, which nearly every text has."""
    return _useful(words) and not any(len(word) == 1 and word.isascii() for word in words)


def _weight(word: str) -> int:
    """How rare a word is, roughly: longer is rarer, and a Chinese character says more than a letter."""
    return len(word) * (1 if word.isascii() else 3)


@dataclass(frozen=True)
class _Found:
    """``exact``: every match of the node is one of ``words``; otherwise each match contains one,
    and one of each group in ``also`` besides."""

    words: frozenset[str]
    exact: bool
    also: tuple[frozenset[str], ...] = ()


_EMPTY = _Found(frozenset({""}), True)


def _sequence(items: Any) -> _Found | None:
    """A run of nodes: adjacent exact ones multiply out into longer words; the best word set wins."""
    run: set[str] = {""}
    exact = True
    candidates: list[frozenset[str]] = []

    def close() -> None:
        if run and run != {""}:
            candidates.append(frozenset(run))

    for op, arg in items:
        found = _node(op, arg)
        if found is not None and found.exact:
            longer = {a + b for a in run for b in found.words}
            if len(longer) <= LIMIT:
                run = longer
                continue
            close()
            run, exact = set(found.words), False
            continue
        exact = False
        close()
        run = {""}
        if found is not None:
            candidates.extend((found.words, *found.also))
    if exact:
        return _Found(frozenset(run), True)
    close()
    useful = [c for c in candidates if _useful(c)]
    if not useful:
        return None
    best = max(useful, key=lambda c: (min(map(len, c)), -len(c)))
    return _Found(best, False, tuple(c for c in useful if c != best))


def _node(op: Any, arg: Any) -> _Found | None:  # noqa: C901 - one branch per kind of node, as in re itself
    if op is _sre.LITERAL:
        ch = _char(arg)
        return _Found(frozenset({ch}), True) if ch is not None else None
    if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
        return _EMPTY  # \b, ^, look-arounds: they match no characters
    if op is _sre.IN:
        chars = _class(arg)
        return _Found(chars, True) if chars is not None else None
    if op is _sre.SUBPATTERN:
        _group, add_flags, del_flags, body = arg
        return _sequence(body) if not (add_flags or del_flags) else None
    if op is _sre.BRANCH:
        alternatives = [_sequence(alt) for alt in arg[1]]
        if any(a is None for a in alternatives):
            return None
        words = frozenset().union(*(a.words for a in alternatives if a is not None))
        if len(words) > LIMIT:
            return None
        return _Found(words, all(a.exact for a in alternatives if a is not None))
    if op in _REPEATS:
        low, high, body = arg
        inner = _sequence(body)
        if inner is None or low == 0:
            return None
        if low == high and inner.exact and len(inner.words) ** low <= LIMIT:
            words = {""}
            for _ in range(low):
                words = {a + b for a in words for b in inner.words}
            return _Found(frozenset(words), True)
        return _Found(inner.words, False, inner.also)
    if op is getattr(_sre, "ATOMIC_GROUP", None):
        return _sequence(arg)
    return None  # ., \d, \w, back-references, conditionals…: anything may stand there


_REPEATS = tuple(op for op in (getattr(_sre, name, None) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"))
                 if op is not None)


def _class(items: Any) -> frozenset[str] | None:
    """A character class of plain characters and short ranges; anything else is unknown."""
    chars: set[str] = set()
    for op, arg in items:
        if op is _sre.LITERAL:
            codes = [arg]
        elif op is _sre.RANGE and arg[1] - arg[0] < LIMIT:
            codes = list(range(arg[0], arg[1] + 1))
        else:
            return None  # a negated class, \d, \s, a long range
        for code in codes:
            ch = _char(code)
            if ch is None:
                return None
            chars.add(ch)
    return frozenset(chars) if 0 < len(chars) <= LIMIT else None


def _char(code: int) -> str | None:
    """The character as ``fold`` leaves it, or None where case rules beyond ASCII could stand in."""
    ch = chr(code)
    if ch.isascii():
        return ch.lower()
    if ch in _ODD:
        return _ODD[ch]
    if ch.lower() == ch == ch.upper():
        return ch  # no case at all: 中文, punctuation, digits of other scripts
    return None
