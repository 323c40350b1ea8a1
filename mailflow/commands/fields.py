"""#priority, #type, #stage — correct what classification decided.

Three commands of one shape: set a field, log old -> new with the reason.
"""

from __future__ import annotations

from mailflow.commands.state import Act, Refused, State, because


def _setter(word: str):  # type: ignore[no-untyped-def]
    def apply(state: State, value: str | None, act: Act) -> State:
        assert value is not None
        old = getattr(state, word)
        if old == value:
            raise Refused(f"#{word}:{value}: it is {value} already")
        return state.did(f"#{word}:{value}: {old} -> {value}", event=(word, f"{old} -> {value}{because(act)}"),
                         **{word: value})

    apply.__doc__ = f"Set the requirement's {word}."
    return apply


priority = _setter("priority")
type_ = _setter("type")
stage = _setter("stage")
