"""#plan:VERSION@DATE — propose a development plan; replies stay non-committal until #confirm.

The body, when there is one, is the proposed way of implementing it and is
sent to the client to confirm (BRIEF §2, complex features) — still naming
no version or date.
"""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State
from mailflow.commands.syntax import plan_value


def apply(state: State, value: str | None, act: Act) -> State:
    assert value is not None
    version, planned = plan_value(value)
    if planned < act.now.date():
        raise Refused(f"#plan:{value}: {planned.isoformat()} is in the past")
    if state.status in ("done", "closed", "cancelled"):
        raise Refused(f"#plan:{value}: the requirement is {state.status}")
    withdrawn = state.plan_confirmed and (version, planned) != (state.plan_version, state.plan_date)
    line = f"#plan:{value}: proposed {version} @ {planned.isoformat()}" + (
        "; the earlier confirmation is withdrawn" if withdrawn else "")
    mail = Mail("plan_proposed", {"message": act.body.strip()}) if act.body.strip() else None
    return state.did(line, plan_version=version, plan_date=planned,
                     plan_confirmed=state.plan_confirmed and not withdrawn,
                     plan_confirmed_by=state.plan_confirmed_by if not withdrawn else None,
                     event=("plan_proposed", f"{version} @ {planned.isoformat()}"
                            + ("; earlier confirmation withdrawn" if withdrawn else "")), mail=mail)
