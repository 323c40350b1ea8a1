"""#assign:HANDLE — give the requirement to one person (every requirement has exactly one owner)."""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State, because


def apply(state: State, value: str | None, act: Act) -> State:
    assert value is not None
    person = act.staff.get(value)
    if person is None:
        known = ", ".join(sorted(act.staff))
        raise Refused(f"#assign:{value}: no such person in staff.yaml (known: {known})")
    if value == state.owner:
        raise Refused(f"#assign:{value}: {person.name} already owns it")
    detail = f"{state.owner or '-'} -> {value}{because(act)}"
    return state.did(f"#assign:{value}: {person.name} ({value}) owns it now", owner=value,
                     event=("assigned", detail), mail=Mail("assigned", {"owner_reason": f"{act.actor.name} 指派"
                                                                               f"{because(act)}"}))
