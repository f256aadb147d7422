"""register, evidence, spot-check plans

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: prev_hash of the first entry (the chain has no predecessor)
GENESIS = "0" * 64


def upgrade() -> None:

    op.create_table(
        "evidence",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "register_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("range_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("range_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("register_entries", schema=None) as batch_op:
        batch_op.create_index("ix_register_branch_time", ["branch_id", "at"], unique=False)
        batch_op.create_index("ix_register_channel_time", ["channel_id", "at"], unique=False)

    op.create_table(
        "register_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "spot_check_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.String(length=32), nullable=True),
        sa.Column("algorithm", sa.String(length=64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "spot_check_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frames_wanted", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["spot_check_plans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("spot_check_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spot_check_tasks_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index("ix_tasks_branch_status", ["branch_id", "status"], unique=False)

    op.create_table(
        "task_frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("requested", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actual", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delta_ms", sa.Double(), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("diagnostics", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("register_seq", sa.Integer(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["spot_check_tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_frames_channel_id"), ["channel_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_frames_task_id"), ["task_id"], unique=False)

    # The register is append-only at the database too, not only in our code: an UPDATE or
    # DELETE made with any SQL client fails. (verify still detects edits made around it,
    # e.g. by dropping the trigger, through the hash chain.)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER register_no_{verb.lower()} BEFORE {verb} ON register_entries "
                "BEGIN SELECT RAISE(ABORT, 'the review register is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION register_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the review register is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER register_append_only BEFORE UPDATE OR DELETE ON register_entries "
            "FOR EACH ROW EXECUTE FUNCTION register_append_only()"
        )
    op.execute(
        sa.text("INSERT INTO register_head (id, seq, hash) VALUES (1, 0, :genesis)").bindparams(
            genesis=GENESIS
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS register_no_update")
        op.execute("DROP TRIGGER IF EXISTS register_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS register_append_only ON register_entries")
        op.execute("DROP FUNCTION IF EXISTS register_append_only()")

    with op.batch_alter_table("task_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_frames_task_id"))
        batch_op.drop_index(batch_op.f("ix_task_frames_channel_id"))

    op.drop_table("task_frames")
    with op.batch_alter_table("spot_check_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_branch_status")
        batch_op.drop_index(batch_op.f("ix_spot_check_tasks_plan_id"))

    op.drop_table("spot_check_tasks")
    op.drop_table("spot_check_plans")
    op.drop_table("register_head")
    with op.batch_alter_table("register_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_register_channel_time")
        batch_op.drop_index("ix_register_branch_time")

    op.drop_table("register_entries")
    op.drop_table("evidence")
