"""daily checks: one row per branch and day, confirmations as their own rows

Revision ID: 0009
Revises: 0008

A second confirmation used to be appended to the day's note by rewriting it, so two
administrators confirming at once lost one of the two (and nothing stopped two rows for
one branch-day).  Every existing row becomes a confirmation; rows of the same branch and
day are merged into the oldest (its outcome ``problems`` if any said so); then
(branch_id, day) is unique and the note lives in the confirmations only.

Self-contained (no imports from the package) so it can be rechained.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_checks = sa.table(
    "daily_checks",
    sa.column("id", sa.Integer()),
    sa.column("branch_id", sa.String()),
    sa.column("day", sa.Date()),
    sa.column("user_id", sa.Integer()),
    sa.column("confirmed_at", sa.DateTime(timezone=True)),
    sa.column("run_id", sa.Integer()),
    sa.column("outcome", sa.String()),
    sa.column("note", sa.Text()),
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = [dict(r._mapping) for r in bind.execute(sa.select(_checks).order_by(_checks.c.id))]
    keep: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        first = keep.setdefault((row["branch_id"], row["day"]), row)
        row["check_id"] = first["id"]
        if row["outcome"] == "problems":
            first["outcome"] = "problems"
    merged = [r["id"] for r in rows if r["check_id"] != r["id"]]
    if merged:
        bind.execute(sa.delete(_checks).where(_checks.c.id.in_(merged)))
    for first in keep.values():
        bind.execute(
            sa.update(_checks).where(_checks.c.id == first["id"]).values(outcome=first["outcome"])
        )
    # Nothing references daily_checks yet, so SQLite may rebuild it to drop the column.
    with op.batch_alter_table("daily_checks") as batch_op:
        batch_op.drop_index("ix_daily_checks_branch_day")
        batch_op.create_index("uq_daily_checks_branch_day", ["branch_id", "day"], unique=True)
        batch_op.drop_column("note")
    op.create_table(
        "daily_check_confirmations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["daily_checks.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["collection_runs.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_daily_check_confirmations_check_id", "daily_check_confirmations", ["check_id"]
    )
    confirmations = sa.table(
        "daily_check_confirmations",
        sa.column("check_id", sa.Integer()),
        sa.column("user_id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("outcome", sa.String()),
        sa.column("note", sa.Text()),
        sa.column("run_id", sa.Integer()),
    )
    if rows:
        op.bulk_insert(
            confirmations,
            [
                {
                    "check_id": r["check_id"],
                    "user_id": r["user_id"],
                    "at": r["confirmed_at"],
                    # a merged or appended-to note keeps its text as it was written
                    "outcome": r["outcome"],
                    "note": r["note"],
                    "run_id": r["run_id"],
                }
                for r in rows
            ],
        )


def downgrade() -> None:
    bind = op.get_bind()
    notes: dict[int, str] = {}
    for check_id, note in bind.execute(
        sa.text("SELECT check_id, note FROM daily_check_confirmations ORDER BY id")
    ):
        notes[check_id] = f"{notes[check_id]}\n{note}" if check_id in notes else note
    op.drop_index("ix_daily_check_confirmations_check_id", "daily_check_confirmations")
    op.drop_table("daily_check_confirmations")
    with op.batch_alter_table("daily_checks") as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
        batch_op.drop_index("uq_daily_checks_branch_day")
        batch_op.create_index("ix_daily_checks_branch_day", ["branch_id", "day"], unique=False)
    for check_id, note in notes.items():
        bind.execute(sa.update(_checks).where(_checks.c.id == check_id).values(note=note))
