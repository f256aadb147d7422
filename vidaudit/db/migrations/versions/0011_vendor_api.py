"""vendor APIs: devices read through ISAPI or Dahua HTTP; disks and serials observed;
what each read settled (settled_footage)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot drop NOT NULL in place (the table is copied).
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("api", sa.String(length=16), nullable=False, server_default="onvif")
        )
        batch.add_column(sa.Column("api_url", sa.String(length=512), nullable=True))
        batch.alter_column("onvif_url", existing_type=sa.String(length=512), nullable=True)
    with op.batch_alter_table("device_observations") as batch:
        # [{"id", "status", "state", "capacity_bytes", "free_bytes"}] or NULL (unknown)
        batch.add_column(sa.Column("storage", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("serial", sa.String(length=128), nullable=True))
    op.create_table(
        "settled_footage",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("api", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("settled_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("earliest", sa.DateTime(timezone=True), nullable=True),
        sa.Column("earliest_bounded", sa.Boolean(), nullable=False),
        sa.Column("disks", sa.Text(), nullable=True),
        sa.Column("read_in_full_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel_id"),
    )


def downgrade() -> None:
    op.drop_table("settled_footage")
    with op.batch_alter_table("device_observations") as batch:
        batch.drop_column("serial")
        batch.drop_column("storage")
    with op.batch_alter_table("devices") as batch:
        batch.alter_column("onvif_url", existing_type=sa.String(length=512), nullable=False)
        batch.drop_column("api_url")
        batch.drop_column("api")
