"""collection runs: how many tickets finishing the run reopened (issue 16's reopen by
check), so the stored run document says it as the in-memory one did

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch:
        batch.add_column(sa.Column("tickets_reopened", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch:
        batch.drop_column("tickets_reopened")
