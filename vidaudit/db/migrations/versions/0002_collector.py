"""collector: runs, observations, branch results, fault tickets

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "collection_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("devices_down", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("channels_compliant", sa.Integer(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_runs_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "branch_results",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compliant", sa.Boolean(), nullable=False),
        sa.Column("devices_down", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("channels_compliant", sa.Integer(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["collection_runs.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "branch_id"),
    )
    with op.batch_alter_table("branch_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_branch_results_branch_ok_time",
            ["branch_id", "compliant", "observed_at"],
            unique=False,
        )

    op.create_table(
        "fault_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("owner_role", sa.String(length=32), nullable=False),
        sa.Column("notify_roles", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_run_id", sa.Integer(), nullable=False),
        sa.Column("closed_run_id", sa.Integer(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["closed_run_id"],
            ["collection_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["opened_run_id"],
            ["collection_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fault_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_branch_open", ["branch_id", "closed_at"], unique=False)
        batch_op.create_index(
            "ix_tickets_subject_open", ["subject_id", "rule", "closed_at"], unique=False
        )

    op.create_table(
        "device_observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("clock_drift_s", sa.Double(), nullable=True),
        sa.Column("manufacturer", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("firmware", sa.String(length=128), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["collection_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_obs_device_time", ["device_id", "observed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_observations_branch_id"), ["branch_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_device_observations_run_id"), ["run_id"], unique=False)

    op.create_table(
        "channel_observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recording_state", sa.String(length=16), nullable=False),
        sa.Column("earliest", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retention_days", sa.Double(), nullable=True),
        sa.Column("required_days", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("occupancy", sa.Double(), nullable=True),
        sa.Column("gaps", sa.JSON(), nullable=True),
        sa.Column("business_days", sa.JSON(), nullable=False),
        sa.Column("business_hours_covered", sa.Boolean(), nullable=True),
        sa.Column("audio", sa.Boolean(), nullable=True),
        sa.Column("compliant", sa.Boolean(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["collection_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_channel_obs_channel_time", ["channel_id", "observed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_observations_branch_id"), ["branch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_observations_run_id"), ["run_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("channel_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_observations_run_id"))
        batch_op.drop_index(batch_op.f("ix_channel_observations_branch_id"))
        batch_op.drop_index("ix_channel_obs_channel_time")

    op.drop_table("channel_observations")
    with op.batch_alter_table("device_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_observations_run_id"))
        batch_op.drop_index(batch_op.f("ix_device_observations_branch_id"))
        batch_op.drop_index("ix_device_obs_device_time")

    op.drop_table("device_observations")
    with op.batch_alter_table("fault_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_subject_open")
        batch_op.drop_index("ix_tickets_branch_open")

    op.drop_table("fault_tickets")
    with op.batch_alter_table("branch_results", schema=None) as batch_op:
        batch_op.drop_index("ix_branch_results_branch_ok_time")

    op.drop_table("branch_results")
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_runs_started_at"))

    op.drop_table("collection_runs")
