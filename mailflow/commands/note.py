"""#note — an internal note on the record; nothing goes to the client."""

from __future__ import annotations

from mailflow.commands.state import Act, Refused, State


def apply(state: State, value: str | None, act: Act) -> State:
    text = act.body.strip()
    if not text:
        raise Refused("#note: the mail has no text of its own to note")
    return state.did("#note: noted (internal, not sent to the client)", event=("note", text))
