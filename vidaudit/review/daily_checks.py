"""D1, the administrator's daily check: one row per branch and day, every confirmation
its own row.

Two administrators confirming at once (or one who double-clicks) must both be kept, and
must not make two rows for one day: the day's row is inserted with ON CONFLICT DO
NOTHING against the unique (branch, day), then each confirmation is appended.  Nothing
is read and written back, so there is no update to lose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vidaudit.db.models import DailyCheckConfirmationRow, DailyCheckRow, UserRow

OUTCOMES = ("ok", "problems")
MAX_NOTE = 2000


def todays_check(db: Session, branch_id: str, day: dt.date) -> DailyCheckRow | None:
    return db.scalars(
        select(DailyCheckRow).where(DailyCheckRow.branch_id == branch_id, DailyCheckRow.day == day)
    ).first()


@dataclass(frozen=True)
class Confirmation:
    at: dt.datetime
    name: str
    outcome: str
    note: str


def confirmations(db: Session, check: DailyCheckRow | None) -> list[Confirmation]:
    """Who confirmed the day's check, in order, with what they found."""
    if check is None:
        return []
    rows = db.execute(
        select(DailyCheckConfirmationRow, UserRow.display_name)
        .join(UserRow, UserRow.id == DailyCheckConfirmationRow.user_id)
        .where(DailyCheckConfirmationRow.check_id == check.id)
        .order_by(DailyCheckConfirmationRow.at, DailyCheckConfirmationRow.id)
    )
    return [Confirmation(row.at, name, row.outcome, row.note) for row, name in rows]


def confirm(
    db: Session,
    *,
    branch_id: str,
    day: dt.date,
    user: UserRow,
    outcome: str,
    note: str,
    run_id: int | None,
    now: dt.datetime,
) -> tuple[DailyCheckRow, bool]:
    """Record a confirmation of the day's check; returns (the day's row, whether this was
    the day's first).  A day that had problems keeps ``problems``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    note = note.strip()[:MAX_NOTE]
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = db.execute(
        insert(DailyCheckRow)
        .values(
            branch_id=branch_id,
            day=day,
            user_id=user.id,
            confirmed_at=now,
            run_id=run_id,
            outcome=outcome,
        )
        .on_conflict_do_nothing(index_elements=["branch_id", "day"])
        .returning(DailyCheckRow.id)
    ).scalar()
    check = db.scalars(
        select(DailyCheckRow)
        .where(DailyCheckRow.branch_id == branch_id, DailyCheckRow.day == day)
        .execution_options(populate_existing=True)
    ).one()
    db.add(
        DailyCheckConfirmationRow(
            check_id=check.id, user_id=user.id, at=now, outcome=outcome, note=note, run_id=run_id
        )
    )
    if outcome == "problems" and check.outcome != "problems":
        # a conditional write, never a read-modify-write of anything a person typed
        db.execute(
            update(DailyCheckRow).where(DailyCheckRow.id == check.id).values(outcome="problems")
        )
        check.outcome = "problems"
    db.flush()
    return check, inserted is not None
