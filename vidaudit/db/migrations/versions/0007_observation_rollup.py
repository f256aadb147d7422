"""observation roll-up marker

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch:
        batch.add_column(
            sa.Column("observations_rolled_up_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch:
        batch.drop_column("observations_rolled_up_at")
