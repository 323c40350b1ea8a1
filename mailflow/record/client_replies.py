"""What a client's reply means for the record: a verification, a satisfaction rating,
a change of scope, or just more words.

SPEC "Clients' replies": on a requirement waiting for verification, a reply
whose first words are 通过 / pass / yes / 1 passes it and 不通过 / fail / no /
2 sends it back; after a pass, 满意 / 一般 / 不满意 (satisfied / neutral /
unsatisfied, 1 / 2 / 3) rates it. Only the client's own words count (quoted
history is stripped before this), and only their first words, so "通过了,
不过还想问…" passes and the question is still kept with the mail.

A client who changes the scope after a plan exists makes a change request
(BRIEF §5): the requirement goes back to evaluation and a confirmed plan is
withdrawn, so nothing keeps promising what was planned for the old scope.

``read_*`` are pure; ``apply_*`` write the record and return the reply
events the pipeline should queue.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.record.requirements import add_event
from mailflow.store.tables import Requirement

# Longest first where one word begins another (不通过 before 通过).
_VERIFICATION = (("failed", ("不通过", "没通过", "未通过", "fail", "failed", "no", "2")),
                 ("passed", ("通过", "pass", "passed", "yes", "1")))
_SATISFACTION = (("unsatisfied", ("不满意", "unsatisfied", "dissatisfied", "3")),
                 ("satisfied", ("满意", "satisfied", "1")),
                 ("neutral", ("一般", "neutral", "2")))
_INTENSIFIERS = re.compile(r"^(?:非常|很|比较|十分|挺|very|quite|fairly)\s*")
# Phrases that say the client wants something other than what was planned. Kept
# specific on purpose: a false hit withdraws a confirmed plan, so "新增的按钮在哪里"
# or "an error instead of the chart" must not count.
SCOPE_CHANGE = (
    "变更需求", "需求变更", "修改需求", "需求有变", "需求调整", "调整需求", "需求范围", "扩大范围", "范围调整",
    "改成", "改为", "调整为", "换成", "另外还需要", "还需要增加", "还要增加", "再加一个", "增加一个功能",
    "新增一个功能", "不需要了",
    "change the requirement", "changed our requirement", "change of scope", "scope change", "change the scope",
    "expand the scope", "extend the scope", "also need", "we also want", "no longer need", "rather than",
    "instead, we", "we now need",
)
# Sentence shapes: "Instead of e-mail, …", "Additionally, …", "change the approval flow to …".
_SCOPE_SHAPES = re.compile(r"(?:^|[.!?。！？]\s*)(?:instead of\b|additionally\b)"
                           r"|\bchange (?:the|our) [^.?!\n]{1,40}? to\b", re.MULTILINE)
# After a Chinese answer word, what may follow for it still to be the answer: 通过了 / 通过! pass,
# 通过测试发现… ("testing shows…", 通过 as "by means of") is not an answer; a person reads it.
_AFTER_CHINESE = re.compile(r"(?:$|[了啦啊呀的吧]|[^\u3400-\u9fff])")


@dataclass(frozen=True)
class Reaction:
    """What the pipeline queues after a client's reply: reply events, each to be rendered."""

    kind: str  # verification_passed | verification_failed | satisfaction | client_reply | change_request | follow_up
    events: tuple[str, ...]  # reply-engine events, in order
    line: str  # for the ingest log


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _first_words(text: str) -> str:
    return unicodedata.normalize("NFKC", _first_line(text)).strip().lower()


def _starts(words: str, word: str) -> bool:
    if not words.startswith(word):
        return False
    rest = words[len(word):]
    if word.isascii():  # "yes" but not "yesterday"; "1" but not "12"
        return not rest or not (rest[0].isalnum())
    return _AFTER_CHINESE.match(rest) is not None  # Chinese has no spaces: 通过了 / 通过,谢谢 both pass


def read_verification(text: str) -> str | None:
    """"passed", "failed", or None when the reply is neither."""
    words = _first_words(text)
    for verdict, options in _VERIFICATION:
        if any(_starts(words, option) for option in options):
            return verdict
    return None


def read_satisfaction(text: str) -> str | None:
    """"satisfied", "neutral", "unsatisfied", or None."""
    words = _INTENSIFIERS.sub("", _first_words(text))
    for rating, options in _SATISFACTION:
        if any(_starts(words, option) for option in options):
            return rating
    return None


def changes_scope(text: str) -> bool:
    folded = unicodedata.normalize("NFKC", text).lower()
    return any(phrase in folded for phrase in SCOPE_CHANGE) or _SCOPE_SHAPES.search(folded) is not None


def react(session: Session, req: Requirement, words: str, *, actor: str, now: datetime) -> Reaction:
    """Apply a client's reply to the record; say which mails it calls for.

    The owner is always told when a person has to read the words.
    """
    if req.status == "pending_verification":
        verdict = read_verification(words)
        if verdict == "passed":
            req.status, req.verification, req.completed_at, req.updated_at = "done", "passed", now, now
            add_event(session, req.id, at=now, actor=actor, kind="verification", detail="passed")
            add_event(session, req.id, at=now, actor=actor, kind="status", detail="pending_verification -> done")
            return Reaction("verification_passed", ("verification_passed", "satisfaction_request"),
                            "verification passed; satisfaction asked")
        if verdict == "failed":
            req.status, req.verification, req.updated_at = "in_progress", "failed", now
            add_event(session, req.id, at=now, actor=actor, kind="verification", detail="failed: " + _line(words))
            add_event(session, req.id, at=now, actor=actor, kind="status",
                      detail="pending_verification -> in_progress")
            return Reaction("verification_failed", ("verification_failed",), "verification failed; back to the owner")
        return Reaction("client_reply", ("client_reply",), "reply while awaiting verification; owner told")
    if req.status == "done" and req.verification == "passed" and req.satisfaction is None:
        rating = read_satisfaction(words)
        if rating is not None:
            req.satisfaction, req.status, req.updated_at = rating, "closed", now
            add_event(session, req.id, at=now, actor=actor, kind="satisfaction", detail=rating)
            add_event(session, req.id, at=now, actor=actor, kind="status", detail="done -> closed")
            return Reaction("satisfaction", ("client_reply",) if rating == "unsatisfied" else (),
                            f"satisfaction: {rating}; closed")
        return Reaction("client_reply", ("client_reply",), "reply after verification; owner told")
    if req.status in ("new", "in_progress") and req.plan_version and changes_scope(words):
        return Reaction("change_request", ("change_request",), "change request: back to evaluation")
    return Reaction("follow_up", ("follow_up",), "")


def back_to_evaluation(session: Session, req: Requirement, words: str, *, actor: str, now: datetime) -> None:
    """The change request's effect, after the owner's notice was worded with the old plan."""
    withdrawn = "; confirmed plan withdrawn" if req.plan_confirmed else ""
    old = req.status
    req.status, req.plan_confirmed, req.plan_confirmed_by, req.updated_at = "new", False, None, now
    add_event(session, req.id, at=now, actor=actor, kind="change_request", detail=_line(words) + withdrawn)
    if old != "new":
        add_event(session, req.id, at=now, actor=actor, kind="status", detail=f"{old} -> new (re-evaluation)")


def _line(words: str) -> str:
    return _first_line(words)[:200]
