"""Requirement numbers: REQ-YYYYMM-NNN, the sequence restarting each month.

The counter is one row per month, bumped with ``UPDATE … RETURNING`` inside
the mail's own transaction: on PostgreSQL the row lock serialises concurrent
workers until commit, on SQLite the write lock does, so two workers never
hand out the same number and a rolled-back mail gives its number back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.store.tables import Sequence


def period_of(local_time: datetime) -> str:
    """The YYYYMM a requirement is numbered in: the month in the desk's own time zone."""
    return local_time.strftime("%Y%m")


def format_id(period: str, number: int) -> str:
    return f"REQ-{period}-{number:03d}"


def next_requirement_id(session: Session, local_time: datetime) -> str:
    period = period_of(local_time)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(Sequence).values(period=period, last=0).on_conflict_do_nothing())
    number = session.execute(
        update(Sequence).where(Sequence.period == period).values(last=Sequence.last + 1).returning(Sequence.last)
    ).scalar_one()
    return format_id(period, number)
