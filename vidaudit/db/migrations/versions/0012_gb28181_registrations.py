"""GB/T 28181 registrations kept across the SIP service's restart

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
# issue 17's pre-assigned number; chained after issue 14's 0011 (vendor APIs)
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gb_registrations",
        sa.Column("gb_id", sa.String(length=20), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("contact", sa.String(length=256), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gb_id"),
    )


def downgrade() -> None:
    op.drop_table("gb_registrations")
