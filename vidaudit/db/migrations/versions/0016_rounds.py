"""collection rounds for the distributed collector; observations unique per run

Revision ID: 0016
Revises: 0015

- ``collection_runs`` gains what a distributed round needs: its kind (``collect`` for the
  one-process run, ``round`` for one deferred to workers), its deadline, how many devices
  it expected and how many were late, and the ticket changes it made (so finishing a run
  twice can answer the same thing without changing anything).
- ``round_devices``: one row per device a round expects: pending, reported or late.
- Observations become unique per run and subject: a job retried after its worker died
  can never store a device or channel twice (these indexes replace the plain ``run_id``
  indexes, whose column they lead with).
- ``channel_observations.verified_earliest``: the footage a pulled frame proved, and
  ``unknown`` on both observation tables (the facts a failed optional call left unknown),
  so the run's JSON document can be rebuilt from storage alone.
- At most one round is open at a time (a partial unique index): an overlapping round is
  refused by the database itself, never silently doubled.
- On PostgreSQL, procrastinate's own schema (its jobs, events, workers tables and
  functions), at the version the lock pins, plus an index on its jobs' locks that its
  job fetching needs at a round's size.  Upgrading procrastinate past a release that
  ships SQL migrations (``procrastinate/sql/migrations``) needs a later revision that
  runs them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_OPEN_ROUND = "status = 'running' AND kind = 'round'"


def upgrade() -> None:
    with op.batch_alter_table("collection_runs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="collect")
        )
        batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("devices_expected", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("devices_late", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("tickets_opened", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tickets_updated", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tickets_closed", sa.Integer(), nullable=True))
    op.create_index(
        "ux_collection_runs_one_open_round",
        "collection_runs",
        ["kind"],
        unique=True,
        postgresql_where=sa.text(_OPEN_ROUND),
        sqlite_where=sa.text(_OPEN_ROUND),
    )

    with op.batch_alter_table("channel_observations") as batch:
        batch.add_column(sa.Column("verified_earliest", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("unknown", sa.JSON(), nullable=True))
        batch.drop_index("ix_channel_observations_run_id")
        batch.create_index("ux_channel_obs_run_channel", ["run_id", "channel_id"], unique=True)
    with op.batch_alter_table("device_observations") as batch:
        batch.add_column(sa.Column("unknown", sa.JSON(), nullable=True))
        batch.drop_index("ix_device_observations_run_id")
        batch.create_index("ux_device_obs_run_device", ["run_id", "device_id"], unique=True)

    op.create_table(
        "round_devices",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["collection_runs.id"]),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("run_id", "device_id"),
    )
    op.create_index("ix_round_devices_run_state", "round_devices", ["run_id", "state"])

    if op.get_bind().dialect.name == "postgresql":
        # Imported here: only PostgreSQL databases carry the job queue.
        from procrastinate.schema import SchemaManager

        op.execute(SchemaManager.get_schema())
        # procrastinate_fetch_job_v2 skips a job while another job of its lock is doing,
        # or waiting ahead of it; with no index leading with ``lock`` PostgreSQL answers
        # that for every waiting job at each fetch: 0.87 s per job with a 50,000-channel
        # round's 3,000 jobs waiting (bench/scale.py), 17 ms with this index.  Known
        # upstream (procrastinate issues 393, 1242); drop it once procrastinate ships one.
        op.execute(
            "CREATE INDEX vidaudit_procrastinate_jobs_lock_todo_doing "
            "ON procrastinate_jobs (lock, priority, id) WHERE status IN ('todo', 'doing')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            DO $$
            DECLARE r record;
            BEGIN
              FOR r IN SELECT tablename FROM pg_tables
                       WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%'
              LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename); END LOOP;
              FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                       JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
              LOOP EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig); END LOOP;
              FOR r IN SELECT t.typname FROM pg_type t
                       JOIN pg_namespace n ON n.oid = t.typnamespace
                       WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                         AND t.typtype IN ('e', 'c')
              LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname); END LOOP;
            END $$;
            """
        )
    op.drop_index("ix_round_devices_run_state", table_name="round_devices")
    op.drop_table("round_devices")
    with op.batch_alter_table("device_observations") as batch:
        batch.drop_index("ux_device_obs_run_device")
        batch.create_index("ix_device_observations_run_id", ["run_id"])
        batch.drop_column("unknown")
    with op.batch_alter_table("channel_observations") as batch:
        batch.drop_index("ux_channel_obs_run_channel")
        batch.create_index("ix_channel_observations_run_id", ["run_id"])
        batch.drop_column("verified_earliest")
        batch.drop_column("unknown")
    op.drop_index("ux_collection_runs_one_open_round", table_name="collection_runs")
    with op.batch_alter_table("collection_runs") as batch:
        for column in (
            "tickets_closed",
            "tickets_updated",
            "tickets_opened",
            "devices_late",
            "devices_expected",
            "deadline_at",
            "kind",
        ):
            batch.drop_column(column)
