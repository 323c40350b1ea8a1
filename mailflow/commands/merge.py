"""#merge:REQ-ID — this requirement is a duplicate: it continues in another one.

The client is told which requirement now carries their request, and later
mail on this thread is filed on that one.
"""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State


def apply(state: State, value: str | None, act: Act) -> State:
    assert value is not None
    if value == state.requirement_id:
        raise Refused(f"#merge:{value}: a requirement cannot be merged into itself")
    if state.merged_into:
        raise Refused(f"#merge:{value}: already merged into {state.merged_into}")
    problem = act.merge_problem(value)
    if problem:
        raise Refused(f"#merge:{value}: {problem}")
    return state.did(f"#merge:{value}: merged; {state.status} -> closed; the client is told", status="closed",
                     merged_into=value, event=("merged", f"into {value}"),
                     mail=Mail("merged", {"merged_into": value}))
