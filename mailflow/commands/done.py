"""#done — the work is done: the client gets how it was solved and is asked to verify.

Done is the client's word, not ours: the requirement waits in
``pending_verification`` until the client replies 通过 / pass.
"""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State
from mailflow.record.workflow import move_problem


def apply(state: State, value: str | None, act: Act) -> State:
    resolution = act.body.strip()
    if not resolution:
        raise Refused("#done: write how it was solved in the mail's text; the client receives it")
    problem = move_problem(state.status, "pending_verification", lead=False, via="done")
    if problem:
        raise Refused(f"#done: {problem}")
    patch = f", patch {state.plan_patch}" if state.plan_patch else ""
    resolved = Mail("resolved", {"resolution": resolution, "resolved_at": act.now})
    return state.did(f"#done: {state.status} -> pending_verification{patch}; the client is asked to verify",
                     status="pending_verification", event=("done", f"{act.reason}{patch}"),
                     mail=resolved, also=(Mail("verification_request"),))
