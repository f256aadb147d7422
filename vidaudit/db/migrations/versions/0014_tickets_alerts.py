"""fault tickets handled by people; alerts' outbox and throttle; people's e-mail

Revision ID: 0014
Revises: 0012

Self-contained (only add_column/create_table), so it can be rechained after whatever
head main has when it lands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fault_tickets") as batch:
        # open | acknowledged | assigned | reopened | closed; existing rows are backfilled
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="open")
        )
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("acknowledged_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("close_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reopened", sa.Integer(), nullable=False, server_default="0"))
        batch.create_foreign_key("fk_tickets_ack_user", "users", ["acknowledged_by"], ["id"])
        batch.create_foreign_key("fk_tickets_assignee", "users", ["assignee_id"], ["id"])
        batch.create_foreign_key("fk_tickets_closed_by", "users", ["closed_by"], ["id"])
        batch.create_index("ix_tickets_state", ["state", "branch_id"])
    op.execute("UPDATE fault_tickets SET state = 'closed' WHERE closed_at IS NOT NULL")

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("register_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["fault_tickets.id"]),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.ForeignKeyConstraint(["register_seq"], ["register_entries.seq"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])

    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))

    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_alert_outbox_created_at", "alert_outbox", ["created_at"])

    op.create_table(
        "alert_throttle",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alert_throttle")
    op.drop_index("ix_alert_outbox_created_at", table_name="alert_outbox")
    op.drop_index("ix_alert_outbox_due", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
    op.drop_index("ix_ticket_events_ticket_id", table_name="ticket_events")
    op.drop_table("ticket_events")
    with op.batch_alter_table("fault_tickets") as batch:
        batch.drop_index("ix_tickets_state")
        batch.drop_constraint("fk_tickets_closed_by", type_="foreignkey")
        batch.drop_constraint("fk_tickets_assignee", type_="foreignkey")
        batch.drop_constraint("fk_tickets_ack_user", type_="foreignkey")
        for column in (
            "reopened",
            "close_reason",
            "closed_by",
            "escalated_at",
            "due_at",
            "assignee_id",
            "acknowledged_at",
            "acknowledged_by",
            "version",
            "state",
        ):
            batch.drop_column(column)
