"""register signatures, checkpoints, and triggers that also refuse REPLACE and rewinds

Revision ID: 0008
Revises: 0007

Entries get an Ed25519 signature (and the signing key's id); signed checkpoints of the
head get their own append-only table.  Triggers, on SQLite and PostgreSQL:

- an entry may only be inserted as the chain's next one (seq = last + 1, prev_hash = the
  last hash, a new hash): this also refuses SQLite's ``INSERT OR REPLACE``, which deletes
  the row it replaces without firing delete triggers (unless ``recursive_triggers``);
- the head may only move forward one entry at a time, as an append moves it; it cannot be
  moved back, zeroed, deleted or replaced;
- checkpoints can be neither changed, deleted nor replaced;
- PostgreSQL's TRUNCATE (which fires no row triggers) is refused on all three.

Self-contained (no imports from the package) so it can be rechained.  The SQL is built
from this file's constants only (ruff's S608 does not know that).
"""

# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
_LAST_HASH = f"COALESCE((SELECT hash FROM register_entries ORDER BY seq DESC LIMIT 1), '{GENESIS}')"
_NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM register_entries)"


def _entry_out_of_chain(new: str) -> str:
    return (
        f"{new}.seq <> {_NEXT_SEQ} OR {new}.prev_hash <> {_LAST_HASH} "
        f"OR EXISTS (SELECT 1 FROM register_entries WHERE hash = {new}.hash)"
    )


def _head_step_allowed(new: str, old: str) -> str:
    """The two updates ``append`` makes: advance (seq + 1, hash kept, the old head sealed)
    and seal (hash = the new entry's, which follows the old hash)."""
    entry = "(SELECT {col} FROM register_entries WHERE seq = {seq})"
    return (
        f"{new}.id = {old}.id AND ("
        f"({new}.seq = {old}.seq + 1 AND {new}.hash = {old}.hash"
        f" AND {old}.hash = COALESCE({entry.format(col='hash', seq=f'{old}.seq')}, '{GENESIS}')"
        f" AND NOT EXISTS (SELECT 1 FROM register_entries WHERE seq = {new}.seq))"
        f" OR ({new}.seq = {old}.seq"
        f" AND {new}.hash = COALESCE({entry.format(col='hash', seq=f'{new}.seq')}, '')"
        f" AND {old}.hash = COALESCE({entry.format(col='prev_hash', seq=f'{new}.seq')}, '')))"
    )


def upgrade() -> None:
    with op.batch_alter_table("register_entries", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.String(length=128), nullable=True))
    op.create_table(
        "register_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def _sqlite_triggers() -> None:
    def refuse(name: str, when: str, table: str, message: str) -> None:
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {when} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )

    op.execute(
        "CREATE TRIGGER register_insert_continues BEFORE INSERT ON register_entries "
        f"WHEN {_entry_out_of_chain('NEW')} "
        "BEGIN SELECT RAISE(ABORT, 'the review register is append-only: "
        "an entry must continue the chain'); END"
    )
    op.execute(
        "CREATE TRIGGER register_head_forward_only BEFORE UPDATE ON register_head "
        f"WHEN NOT ({_head_step_allowed('NEW', 'OLD')}) "
        "BEGIN SELECT RAISE(ABORT, 'the review register is append-only: "
        "its head only moves forward'); END"
    )
    refuse(
        "register_head_no_delete",
        "DELETE",
        "register_head",
        "the review register is append-only: its head cannot be deleted",
    )
    op.execute(
        "CREATE TRIGGER register_head_no_insert BEFORE INSERT ON register_head "
        "WHEN EXISTS (SELECT 1 FROM register_head) "
        "BEGIN SELECT RAISE(ABORT, 'the review register is append-only: "
        "its head cannot be replaced'); END"
    )
    for verb in ("UPDATE", "DELETE"):
        refuse(
            f"register_checkpoints_no_{verb.lower()}",
            verb,
            "register_checkpoints",
            "the review register is append-only: checkpoints are kept",
        )
    op.execute(
        "CREATE TRIGGER register_checkpoints_no_replace BEFORE INSERT ON register_checkpoints "
        "WHEN EXISTS (SELECT 1 FROM register_checkpoints WHERE id = NEW.id) "
        "BEGIN SELECT RAISE(ABORT, 'the review register is append-only: "
        "checkpoints are kept'); END"
    )


def _postgresql_triggers() -> None:
    op.execute(
        "CREATE FUNCTION register_insert_continues() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF {_entry_out_of_chain('NEW')} THEN "
        "RAISE EXCEPTION 'the review register is append-only: an entry must continue the "
        "chain'; END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER register_insert_continues BEFORE INSERT ON register_entries "
        "FOR EACH ROW EXECUTE FUNCTION register_insert_continues()"
    )
    op.execute(
        "CREATE FUNCTION register_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'UPDATE' THEN "
        f"IF {_head_step_allowed('NEW', 'OLD')} THEN RETURN NEW; END IF; "
        "ELSIF TG_OP = 'INSERT' THEN "
        "IF NOT EXISTS (SELECT 1 FROM register_head) THEN RETURN NEW; END IF; "
        "END IF; "
        "RAISE EXCEPTION 'the review register is append-only: its head only moves forward'; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER register_head_guard BEFORE INSERT OR UPDATE OR DELETE ON register_head "
        "FOR EACH ROW EXECUTE FUNCTION register_head_guard()"
    )
    # register_append_only() (0003) raises unconditionally.
    op.execute(
        "CREATE TRIGGER register_checkpoints_append_only BEFORE UPDATE OR DELETE "
        "ON register_checkpoints FOR EACH ROW EXECUTE FUNCTION register_append_only()"
    )
    for table in ("register_entries", "register_head", "register_checkpoints"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION register_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "register_insert_continues",
            "register_head_forward_only",
            "register_head_no_delete",
            "register_head_no_insert",
            "register_checkpoints_no_update",
            "register_checkpoints_no_delete",
            "register_checkpoints_no_replace",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for table in ("register_entries", "register_head", "register_checkpoints"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS register_insert_continues ON register_entries")
        op.execute("DROP TRIGGER IF EXISTS register_head_guard ON register_head")
        op.execute("DROP FUNCTION IF EXISTS register_insert_continues()")
        op.execute("DROP FUNCTION IF EXISTS register_head_guard()")
    op.drop_table("register_checkpoints")
    # SQLite rebuilds the table to drop columns; its update/delete triggers (0003) would
    # refuse the copy, so they are dropped and made again around it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS register_no_update")
        op.execute("DROP TRIGGER IF EXISTS register_no_delete")
    with op.batch_alter_table("register_entries") as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("key_id")
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER register_no_{verb.lower()} BEFORE {verb} ON register_entries "
                "BEGIN SELECT RAISE(ABORT, 'the review register is append-only'); END"
            )
