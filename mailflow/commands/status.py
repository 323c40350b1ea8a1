"""#status:VALUE — move the requirement through the status machine (record/workflow.py)."""

from __future__ import annotations

from mailflow.commands.state import Act, Refused, State, because
from mailflow.record.workflow import is_override, move_problem


def apply(state: State, value: str | None, act: Act) -> State:
    assert value is not None
    problem = move_problem(state.status, value, lead=act.lead)
    if problem:
        raise Refused(f"#status:{value}: {problem}")
    override = " (lead override)" if is_override(state.status, value) else ""
    return state.did(f"#status:{value}: {state.status} -> {value}{override}", status=value,
                     event=("status", f"{state.status} -> {value}{override}{because(act)}"))
