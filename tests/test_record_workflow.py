"""The requirement's status machine (BRIEF §3): which moves are allowed, and how.

new (待处理) -> in_progress (处理中) -> pending_verification (待验证) -> done (已完成) -> closed (已关闭);
cancelled (已取消) on the side. Work is ``done`` only on the client's word; a
few moves need a particular command (``VIA``) rather than a bare ``#status``;
a lead may make any move by ``#status``, and that is logged as an override.
"""

from __future__ import annotations

import pytest

from mailflow.record.workflow import LABELS, OPEN, STATUSES, TRANSITIONS, VIA, is_override, move_problem

# Every move anyone on the requirement may make with a plain #status.
PLAIN_MOVES = [
    ("new", "in_progress"),
    ("new", "cancelled"),
    ("in_progress", "new"),
    ("in_progress", "cancelled"),
    ("pending_verification", "in_progress"),  # sent back to work
    ("done", "closed"),  # archived
    ("done", "in_progress"),  # reopened after verification
    ("closed", "in_progress"),  # reopened
    ("cancelled", "new"),  # taken up again
]
# Moves that are not in the machine at all: only a lead's override makes them.
FORBIDDEN = [
    ("new", "done"),
    ("in_progress", "done"),
    ("pending_verification", "closed"),
    ("pending_verification", "cancelled"),
    ("pending_verification", "new"),
    ("done", "new"),
    ("done", "cancelled"),
    ("done", "pending_verification"),
    ("closed", "new"),
    ("closed", "done"),
    ("closed", "cancelled"),
    ("closed", "pending_verification"),
    ("cancelled", "in_progress"),
    ("cancelled", "closed"),
    ("cancelled", "done"),
    ("cancelled", "pending_verification"),
]


def test_statuses_and_their_chinese_labels():
    assert STATUSES == ("new", "in_progress", "pending_verification", "done", "closed", "cancelled")
    assert [LABELS[s] for s in STATUSES] == ["待处理", "处理中", "待验证", "已完成", "已关闭", "已取消"]
    assert OPEN == ("new", "in_progress", "pending_verification")


def test_the_tables_cover_every_move():
    """Every (from, to) pair is a plain move, a move through a command, or forbidden: nothing is left out."""
    pairs = {(a, b) for a in STATUSES for b in STATUSES if a != b}
    assert set(PLAIN_MOVES) | set(VIA) | set(FORBIDDEN) == pairs
    assert set(PLAIN_MOVES) | set(VIA) == {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("current", "target"), PLAIN_MOVES)
def test_allowed_moves_need_no_lead(current, target):
    assert move_problem(current, target, lead=False) is None
    assert not is_override(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_moves_outside_the_machine_are_refused_with_what_is_allowed(current, target):
    problem = move_problem(current, target, lead=False)
    allowed = ", ".join(sorted(TRANSITIONS[current]))
    assert problem == f"{current} cannot become {target} (from {current}: {allowed}; a lead may override)"


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("new", "done", "new cannot become done (from new: cancelled, closed, in_progress, pending_verification; "
                        "a lead may override)"),
        ("closed", "new", "closed cannot become new (from closed: in_progress; a lead may override)"),
        ("cancelled", "in_progress", "cancelled cannot become in_progress (from cancelled: new; a lead may override)"),
    ],
)
def test_the_refusal_lists_where_the_requirement_can_go(current, target, expected):
    assert move_problem(current, target, lead=False) == expected


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("lead", [False, True])
def test_a_move_to_the_same_status_is_refused_even_for_a_lead(status, lead):
    assert move_problem(status, status, lead=lead) == f"already {status}"


# --- moves that need a specific command (VIA) ---------------------------------

@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("pending_verification", "done",
         "pending_verification -> done goes through the client's verification (通过 / pass)"),
        ("new", "closed", "new -> closed goes through #decline (with the reason and a workaround for the client)"),
        ("in_progress", "closed",
         "in_progress -> closed goes through #decline (with the reason and a workaround for the client)"),
        ("new", "pending_verification", "new -> pending_verification goes through #done (with how it was solved)"),
        ("in_progress", "pending_verification",
         "in_progress -> pending_verification goes through #done (with how it was solved)"),
    ],
)
def test_a_bare_status_cannot_make_a_move_that_needs_a_command(current, target, expected):
    assert move_problem(current, target, lead=False) == expected
    assert move_problem(current, target, lead=False, via="status") == expected


@pytest.mark.parametrize(
    ("current", "target", "via"),
    [
        ("new", "pending_verification", "done"),
        ("in_progress", "pending_verification", "done"),
        ("new", "closed", "decline"),
        ("in_progress", "closed", "decline"),
        ("pending_verification", "done", "client"),
    ],
)
def test_the_command_named_in_via_makes_its_move(current, target, via):
    assert move_problem(current, target, lead=False, via=via) is None
    assert not is_override(current, target, via=via)


@pytest.mark.parametrize(
    ("current", "target", "via"),
    [
        ("new", "closed", "done"),
        ("in_progress", "pending_verification", "decline"),
        ("pending_verification", "done", "done"),
        ("pending_verification", "done", "decline"),
    ],
)
def test_a_move_that_needs_one_command_is_refused_to_another(current, target, via):
    assert move_problem(current, target, lead=False, via=via) is not None


@pytest.mark.parametrize(
    ("current", "via"),
    [("pending_verification", "done"), ("done", "done"), ("closed", "done"), ("cancelled", "done"),
     ("pending_verification", "decline"), ("closed", "decline"), ("cancelled", "decline")],
)
def test_done_and_decline_cannot_start_from_anywhere(current, via):
    target = {"done": "pending_verification", "decline": "closed"}[via]
    assert move_problem(current, target, lead=False, via=via) is not None


# --- lead override -----------------------------------------------------------

@pytest.mark.parametrize(("current", "target"), FORBIDDEN + list(VIA))
def test_a_lead_may_make_any_move_by_status_and_it_is_an_override(current, target):
    assert move_problem(current, target, lead=True) is None
    assert is_override(current, target)


@pytest.mark.parametrize(("current", "target"), PLAIN_MOVES)
def test_a_lead_making_an_ordinary_move_is_not_an_override(current, target):
    assert move_problem(current, target, lead=True) is None
    assert not is_override(current, target)
