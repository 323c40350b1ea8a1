"""#decline — it cannot be done: the client gets the reason and what they can do instead.

BRIEF §2: a refusal always explains why and offers a workaround. The body
holds both: the reason first, then a line starting ``变通方法:`` /
``替代方案:`` / ``Workaround:`` and what follows it.
"""

from __future__ import annotations

import re

from mailflow.commands.state import Act, Mail, Refused, State
from mailflow.record.workflow import move_problem

_WORKAROUND = re.compile(r"^\s*(?:变通方法|变通办法|替代方案|workaround)\s*[:：]\s*", re.IGNORECASE | re.MULTILINE)


def split_body(body: str) -> tuple[str, str]:
    """(reason, workaround) from a #decline body; either may be empty."""
    match = _WORKAROUND.search(body)
    if match is None:
        return body.strip(), ""
    return body[:match.start()].strip(), body[match.end():].strip()


def apply(state: State, value: str | None, act: Act) -> State:
    reason, workaround = split_body(act.body)
    missing = [what for what, text in (("the reason", reason), ("a workaround", workaround)) if not text]
    if missing:
        raise Refused(f"#decline: the text needs {' and '.join(missing)}: write the reason, then a line "
                      f"'变通方法:…' (or 'Workaround: …') — the client receives both")
    if state.status not in ("new", "in_progress"):
        raise Refused(f"#decline: the requirement is {state.status}; only open work that was not done "
                      f"can be declined")
    problem = move_problem(state.status, "closed", lead=False, via="decline")
    if problem:
        raise Refused(f"#decline: {problem}")
    return state.did(f"#decline: {state.status} -> closed; the client gets the reason and the workaround",
                     status="closed", event=("declined", reason.splitlines()[0]),
                     mail=Mail("declined", {"message": reason, "workaround": workaround}))
