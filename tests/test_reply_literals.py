"""The guard's shortcut: a regex is skipped only where it could not have matched.

``literals.needs_of`` reads off a regex the words every match of it
contains; the guard does not run a regex on a text holding none of them.
The one thing that matters is that this never skips a regex that would have
matched: then a promise would go out. So most of these tests hold the
shortcut to the plain answer (run every regex) on many texts: the shipped
word list's own examples, every reply template, and random texts made of
the word list's own pieces.
"""

from __future__ import annotations

import random
import re
import sys

import pytest

from conftest import ROOT
from mailflow.reply import Templates, drafts_for
from mailflow.reply.guard import COMMITMENT_FILE, _MASK, CommitmentRules, _view, html_to_text, load_commitment
from mailflow.reply.literals import Needs, fold, needs_of
from mailflow.reply.rehearsal import samples

sys.path.insert(0, str(ROOT / "tests"))
from test_reply_guard import WITH_CONFIRMED_PLAN, WITHOUT_PLAN  # noqa: E402

SHIPPED = ROOT / "rules" / COMMITMENT_FILE


@pytest.fixture(scope="module")
def rules() -> CommitmentRules:
    return load_commitment(SHIPPED)


def groups(pattern: str, flags: int = re.IGNORECASE) -> list[set[str]]:
    return [set(words) for words in needs_of(re.compile(pattern, flags)).groups]


# --- what is read off a regex ---------------------------------------------------------------

def test_alternatives_next_to_each_other_multiply_into_words():
    assert groups("(将|將)(会|會)") == [{"将会", "将會", "將会", "將會"}]
    assert groups(r"\b(will|shall) be (fixed|done)\b") == [
        {"will be fixed", "will be done", "shall be fixed", "shall be done"}]


def test_what_may_be_missing_or_anything_splits_the_words_and_each_part_is_needed():
    assert groups("(将|將)(会|會)?(在|于|於).{0,16}(上线|修复)") == [{"上线", "修复"}, {"将", "將"}, {"在", "于", "於"}]


def test_english_letters_are_compared_case_blind():
    assert groups("Will Be") == [{"will be"}]
    assert groups("(?i)SOON", 0) == [{"soon"}]


def test_zero_width_parts_do_not_break_a_word():
    assert groups(r"(?<!预计)\bdone\b(?=\.)") == [{"done"}]


def test_a_repeat_needs_its_body_once_and_an_exact_count_multiplies():
    assert groups("(ab)+c") == [{"ab"}]
    assert groups("(上线){2}") == [{"上线上线"}]
    assert groups("x[a-c]") == [{"xa", "xb", "xc"}]


@pytest.mark.parametrize("pattern", [
    r"\d+",                # digits: anything
    "a?b*",                # may match nothing
    "x|.",                 # one alternative may be anything
    r"(a)\1",              # a back-reference
    "[^x]y",               # a negated class: then only a single letter is left, which every text has
    "(?-i:Ab)",            # a flag switched inside: not worth the risk
    "Σ",                   # a cased letter beyond ASCII: case rules too wide to be sure of
])
def test_where_nothing_is_certain_the_regex_always_runs(pattern):
    assert needs_of(re.compile(pattern, re.IGNORECASE)) == Needs()


def test_too_many_alternatives_are_not_looked_for():
    many = "|".join(f"{chr(0x4E00 + i)}上线" for i in range(40))
    assert needs_of(re.compile(f"({many})")) == Needs()
    assert groups("(word1|word2|word3)") == [{"word1", "word2", "word3"}]


# --- folding agrees with re.IGNORECASE ------------------------------------------------------

def test_every_character_ignorecase_takes_for_an_ascii_letter_folds_to_it():
    letter = re.compile("[a-z]", re.IGNORECASE)
    odd = [chr(code) for code in range(0x80, sys.maxunicode + 1) if letter.fullmatch(chr(code))]
    assert odd == ["\u0130", "\u0131", "\u017f", "\u212a"]  # İ ı ſ K: the table in literals.py
    for ch in odd:
        assert re.fullmatch(fold(ch), ch, re.IGNORECASE)
        assert fold(ch).isascii()


def test_a_case_variant_beyond_ascii_never_hides_a_word():
    """A word with a character beyond ASCII is kept only when that character has no case;
    then no other character matches it case-blind, so looking for it exactly is enough."""
    for code in range(0x80, sys.maxunicode + 1):
        ch = chr(code)
        for other in {ch.lower(), ch.upper(), ch.swapcase(), ch.casefold()}:
            if len(other) != 1 or other == ch or not re.fullmatch(re.escape(other), ch, re.IGNORECASE):
                continue
            kept = needs_of(re.compile(f"x{re.escape(other)}y", re.IGNORECASE)).groups
            assert not kept or kept == ((f"x{fold(ch)}y",),), (ch, other, kept)


# --- the shortcut changes no verdict ----------------------------------------------------------

def plain_search(rules_any, text):
    """What the guard did before the shortcut: every regex, leftmost hit, earlier regex first."""
    best = None
    for order, (rx, _needs) in enumerate(rules_any._regexes):
        found = rx.search(text)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), order, found)
    return best[2] if best else None


def plain_mask(rules_any, text):
    for rx, _needs in rules_any._regexes:
        text = rx.sub(lambda m: _MASK * len(m.group()), text)
    return text


def same(found, expected):
    return (found and (found.span(), found.re.pattern)) == (expected and (expected.span(), expected.re.pattern))


def assert_same_verdicts(rules, text):
    original, norm = _view(text, (), rules)
    unmasked = norm
    for rx, needs in (*rules.committal._regexes, *rules.allowed._regexes):
        if rx.search(unmasked):
            assert needs.met(fold(unmasked)), (rx.pattern, text)
    assert rules.allowed.mask(unmasked) == plain_mask(rules.allowed, unmasked), text
    masked = plain_mask(rules.allowed, unmasked)
    assert same(rules.committal.search(masked), plain_search(rules.committal, masked)), text


def test_the_guard_tables_own_sentences(rules):
    for sentence, _phrase in (*WITHOUT_PLAN, *WITH_CONFIRMED_PLAN):
        assert_same_verdicts(rules, sentence)
        assert_same_verdicts(rules, sentence.upper())


def test_every_reply_template_in_both_languages(rules):
    templates = Templates(ROOT / "reply_templates")
    for ctx in samples():
        for draft in drafts_for(ctx, templates):
            for text in (draft.subject, draft.text, html_to_text(draft.html) if draft.html else ""):
                assert_same_verdicts(rules, text)


def test_random_texts_made_of_the_word_lists_own_pieces(rules):
    """Pieces of every pattern and phrase, shuffled with digits, spaces, dotless i and full-width
    letters: texts that come close to matching in many ways."""
    pieces = set()
    for rx, _needs in (*rules.committal._regexes, *rules.allowed._regexes):
        pieces.update(p for p in re.split(r"[\\()|?*+{}\[\]^$.:<>!=,]+|\\[a-z]", rx.pattern) if p)
    pieces.update(["1", "12", "2026", "-", ".", " ", "\n", "v2.3", "ı", "İ", "Ｗｉｌｌ", "BE ", "月", "日"])
    alphabet = sorted(pieces)
    rng = random.Random(20261207)
    matched = 0
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert_same_verdicts(rules, text)
        matched += plain_search(rules.committal, _view(text, (), rules)[1]) is not None
    assert matched > 400  # the texts do come close: a test of nothing would prove nothing
