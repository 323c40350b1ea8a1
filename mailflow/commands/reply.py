"""#reply — the mail's text goes to the client, through the commitment guard like any other mail."""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State


def apply(state: State, value: str | None, act: Act) -> State:
    text = act.body.strip()
    if not text:
        raise Refused("#reply: the mail has no text of its own to send (quoted history is not sent)")
    summary = " ".join(text.split())
    return state.did("#reply: your text goes to the client",
                     event=("reply", summary if len(summary) <= 200 else summary[:199] + "…"),
                     mail=Mail("staff_reply", {"message": text}))
