"""Requirement numbers: REQ-YYYYMM-NNN, the sequence restarting each month.

The counter is one row per month, bumped with ``UPDATE … RETURNING`` inside
the mail's own transaction: on PostgreSQL the row lock serialises concurrent
workers until commit, on SQLite the write lock does, so two workers never
hand out the same number and a rolled-back mail gives its number back.
The month's row is made by its first requirement. Within one transaction
only the first number of a month costs a statement: the row is locked from
then until commit, so the next numbers are counted here and the counter is
written once, as the transaction commits (a batch of fifty mails made
forty statements of this kind).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, event, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.store.session import transaction_state
from mailflow.store.tables import Sequence


def period_of(local_time: datetime) -> str:
    """The YYYYMM a requirement is numbered in: the month in the desk's own time zone."""
    return local_time.strftime("%Y%m")


def format_id(period: str, number: int) -> str:
    return f"REQ-{period}-{number:03d}"


def next_requirement_id(session: Session, local_time: datetime) -> str:
    period = period_of(local_time)
    counted: dict[str, list[int]] = transaction_state(session, _COUNTED_KEY, dict)  # period -> [stored, given]
    if period in counted:  # the row is ours until commit
        counted[period][1] += 1
        return format_id(period, counted[period][1])
    conn = session.connection()  # the mail's own transaction; no flush: the counter needs no pending row
    number = conn.execute(_BUMP, {"b_period": period}).scalar()
    if number is None:  # the month's first: its row is made (or was, a moment ago, by another worker)
        conn.execute(_START[conn.dialect.name == "postgresql"], {"b_period": period})
        number = conn.execute(_BUMP, {"b_period": period}).scalar_one()
    counted[period] = [number, number]
    return format_id(period, number)


@event.listens_for(Session, "before_commit")
def _write_counters(session: Session) -> None:
    counted: dict[str, list[int]] | None = session.info.get(_COUNTED_KEY)
    changed = [{"b_period": period, "b_last": given} for period, (stored, given) in (counted or {}).items()
               if given > stored]
    if changed:
        session.connection().execute(_SET, changed)


# Built once: they run for every new requirement. (SQLite's and PostgreSQL's upserts are spelled alike,
# but each dialect compiles only its own construct.)
_sequences = Sequence.__table__
_START = {postgres: insert(_sequences).values(period=bindparam("b_period"), last=0).on_conflict_do_nothing()
          for postgres, insert in ((False, sqlite_insert), (True, pg_insert))}
_BUMP = (update(_sequences).where(_sequences.c.period == bindparam("b_period"))
         .values(last=_sequences.c.last + 1).returning(_sequences.c.last))
_SET = update(_sequences).where(_sequences.c.period == bindparam("b_period")).values(last=bindparam("b_last"))
_COUNTED_KEY = "mailflow.requirement_numbers"
