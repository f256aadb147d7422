"""device identities pinned on first contact

Revision ID: 0010
Revises: 0009

Self-contained (no imports from the package) so it can be rechained.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_identities",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=True),
        sa.Column("cert_sha256", sa.String(length=64), nullable=True),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pinned_by", sa.String(length=128), nullable=False),
        sa.Column("seen_serial", sa.String(length=128), nullable=True),
        sa.Column("seen_cert_sha256", sa.String(length=64), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("device_identities")
