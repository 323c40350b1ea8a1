"""#confirm — confirm the proposed plan: from now on mail may name its version and date.

Confirming is also when the work starts: a ``new`` requirement becomes
``in_progress`` (BRIEF §3: evaluate -> assign -> execute).
"""

from __future__ import annotations

from mailflow.commands.state import Act, Mail, Refused, State


def apply(state: State, value: str | None, act: Act) -> State:
    if not state.plan_version or state.plan_date is None:
        raise Refused("#confirm: there is no plan to confirm; propose one with #plan:VERSION@YYYY-MM-DD")
    if state.status in ("done", "closed", "cancelled"):
        raise Refused(f"#confirm: the requirement is {state.status}; nothing is left to plan")
    if state.plan_date < act.now.date():
        raise Refused(f"#confirm: the planned date {state.plan_date.isoformat()} has passed; propose a new one "
                      f"with #plan:VERSION@YYYY-MM-DD")
    if state.plan_confirmed:
        raise Refused(f"#confirm: {state.plan_version} @ {state.plan_date.isoformat()} is confirmed already")
    plan = f"{state.plan_version} @ {state.plan_date.isoformat()}"
    confirmed = state.did(f"#confirm: {plan} confirmed; the client is told", plan_confirmed=True,
                          plan_confirmed_by=act.actor.handle, event=("plan_confirmed", plan),
                          mail=Mail("plan_confirmed"))
    if state.status != "new":
        return confirmed
    return confirmed.did("new -> in_progress (plan confirmed)", status="in_progress",
                         event=("status", "new -> in_progress (plan confirmed)"))
