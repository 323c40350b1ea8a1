"""#help — the list of commands, in the result mail."""

from __future__ import annotations

from mailflow.commands.state import Act, State


def apply(state: State, value: str | None, act: Act) -> State:
    return state.did("#help")
