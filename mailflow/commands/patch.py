"""#patch:ID — record the patch that carries the fix; the resolution notice names it."""

from __future__ import annotations

from mailflow.commands.state import Act, Refused, State


def apply(state: State, value: str | None, act: Act) -> State:
    assert value is not None
    if state.plan_patch == value:
        raise Refused(f"#patch:{value}: recorded already")
    return state.did(f"#patch:{value}: recorded", plan_patch=value, event=("patch", value))
