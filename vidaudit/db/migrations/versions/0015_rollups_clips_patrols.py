"""regions, off-site ATMs, patrol rounds (D9), clips, daily O&M indicators

Revision ID: 0015
Revises: 0014

Self-contained (it touches no table another pending migration creates), so it can be
rechained after whatever head main has when it lands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("branches") as batch:
        batch.add_column(sa.Column("region", sa.String(length=64), nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("offsite", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "patrol_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("diagnostics", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("register_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"]),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.ForeignKeyConstraint(["register_seq"], ["register_entries.seq"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patrol_rounds") as batch:
        batch.create_index("ix_patrol_rounds_channel_time", ["channel_id", "at"])
        batch.create_index("ix_patrol_rounds_branch_time", ["branch_id", "at"])

    op.create_table(
        "task_clips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("requested_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("register_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["spot_check_tasks.id"]),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.ForeignKeyConstraint(["register_seq"], ["register_entries.seq"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_clips") as batch:
        batch.create_index("ix_task_clips_task", ["task_id"])
        batch.create_index("ix_task_clips_evidence", ["evidence_sha256"])

    op.create_table(
        "indicator_days",
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_polls", sa.Integer(), nullable=False),
        sa.Column("device_online", sa.Integer(), nullable=False),
        sa.Column("clock_polls", sa.Integer(), nullable=False),
        sa.Column("clock_ok", sa.Integer(), nullable=False),
        sa.Column("record_channels", sa.Integer(), nullable=False),
        sa.Column("record_required_min", sa.Float(), nullable=False),
        sa.Column("record_missing_min", sa.Float(), nullable=False),
        sa.Column("retention_channels", sa.Integer(), nullable=False),
        sa.Column("retention_ok", sa.Integer(), nullable=False),
        sa.Column("picture_channels", sa.Integer(), nullable=False),
        sa.Column("picture_ok", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"]),
        sa.PrimaryKeyConstraint("branch_id", "day"),
    )
    with op.batch_alter_table("indicator_days") as batch:
        batch.create_index("ix_indicator_days_day", ["day"])


def downgrade() -> None:
    with op.batch_alter_table("indicator_days") as batch:
        batch.drop_index("ix_indicator_days_day")
    op.drop_table("indicator_days")
    with op.batch_alter_table("task_clips") as batch:
        batch.drop_index("ix_task_clips_evidence")
        batch.drop_index("ix_task_clips_task")
    op.drop_table("task_clips")
    with op.batch_alter_table("patrol_rounds") as batch:
        batch.drop_index("ix_patrol_rounds_branch_time")
        batch.drop_index("ix_patrol_rounds_channel_time")
    op.drop_table("patrol_rounds")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("offsite")
    with op.batch_alter_table("branches") as batch:
        batch.drop_column("region")
