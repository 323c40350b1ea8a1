"""Staff commands by email: syntax, authentication, permissions, and one module per command.

``syntax`` reads the subject, ``auth`` decides whether the From address can
be believed, ``permissions`` whether that person may, and each command
module (``assign``, ``plan``, ``done`` …) is a pure ``State -> State``
function. ``run`` ties them to the record: all of a subject's commands are
applied together, or none is.
"""

from __future__ import annotations

from collections.abc import Callable

from mailflow.commands import (
    assign,
    confirm,
    decline,
    done,
    fields,
    help,
    merge,
    note,
    patch,
    plan,
    reply,
    status,
)
from mailflow.commands.state import Act, State

Apply = Callable[[State, "str | None", Act], State]

COMMANDS: dict[str, Apply] = {
    "assign": assign.apply,
    "priority": fields.priority,
    "type": fields.type_,
    "stage": fields.stage,
    "status": status.apply,
    "plan": plan.apply,
    "confirm": confirm.apply,
    "patch": patch.apply,
    "done": done.apply,
    "decline": decline.apply,
    "reply": reply.apply,
    "note": note.apply,
    "merge": merge.apply,
    "help": help.apply,
}
