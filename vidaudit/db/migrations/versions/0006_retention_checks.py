"""retention checks

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "retention_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("required_days", sa.Integer(), nullable=False),
        sa.Column("requested", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actual", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("register_seq", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["evidence_sha256"],
            ["evidence.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["register_seq"],
            ["register_entries.seq"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("retention_checks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_retention_checks_channel_time", ["channel_id", "checked_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("retention_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_retention_checks_channel_time")

    op.drop_table("retention_checks")
