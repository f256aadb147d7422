"""Migrations build the schema from empty on SQLite and PostgreSQL; stale schemas are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text

from vidaudit.db.engine import make_engine
from vidaudit.db.migrate import SchemaOutOfDate, require_current_schema, schema_state, upgrade
from vidaudit.settings import Settings


def test_upgrade_from_empty(db_url: str) -> None:
    engine = make_engine(Settings(), db_url)
    with pytest.raises(SchemaOutOfDate, match="no vidaudit schema yet; run `vidaudit db upgrade`"):
        require_current_schema(engine)
    state = upgrade(engine)
    assert state.up_to_date
    require_current_schema(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"branches", "devices", "channels", "inventory_syncs", "alembic_version"} <= tables
    # a second upgrade is a no-op
    assert upgrade(engine) == state


def test_older_schema_is_refused(db_url: str) -> None:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_old'"))
    with pytest.raises(SchemaOutOfDate, match="at revision 0000_old, this code needs"):
        require_current_schema(engine)
    assert not schema_state(engine).up_to_date


def test_sqlite_is_wal_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(Settings(), f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_sqlite_statement_timeout_aborts_runaway_query(tmp_path: object) -> None:
    engine = make_engine(Settings(db_statement_timeout_s=0.2), f"sqlite:///{tmp_path}/x.db")
    runaway = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    started = dt.datetime.now(dt.UTC)
    with engine.connect() as conn, pytest.raises(Exception, match="interrupted"):
        conn.execute(runaway)
    assert dt.datetime.now(dt.UTC) - started < dt.timedelta(seconds=5)
    with engine.connect() as conn:  # the connection is usable afterwards
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_aware_datetimes_round_trip(db_url: str) -> None:
    from vidaudit.db.engine import make_sessionmaker
    from vidaudit.db.models import BranchRow

    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    beijing = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 11, 20, 8, 30, tzinfo=beijing)
    with make_sessionmaker(engine).begin() as session:
        session.add(
            BranchRow(
                id="B",
                name="n",
                timezone="Asia/Shanghai",
                hours={},
                first_seen_at=at,
                updated_at=at,
                retired_at=None,
            )
        )
    with make_sessionmaker(engine)() as session:
        row = session.get(BranchRow, "B")
        assert row is not None
        assert row.first_seen_at == at and row.first_seen_at.utcoffset() == dt.timedelta(0)
    with make_sessionmaker(engine).begin() as session, pytest.raises(Exception, match="naive"):
        session.add(
            BranchRow(
                id="N",
                name="n",
                timezone="UTC",
                hours={},
                first_seen_at=dt.datetime(2026, 1, 1),
                updated_at=at,
                retired_at=None,
            )
        )
        session.flush()


def _procrastinate_object(obj: object) -> bool:
    table = getattr(obj, "table", obj)  # an Index names its table; a Table is one
    return str(getattr(table, "name", "")).startswith("procrastinate_")


def test_migrations_build_what_the_models_declare(db_url: str) -> None:
    """Alembic's own comparison of the migrated schema with the models finds nothing
    missing on either side: a column or index added to one is added to the other."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from vidaudit.db.models import Base

    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Only structural differences count (tables, columns, indexes); server defaults and
    # type spellings vary between backends and are not compared by default.
    # procrastinate's job tables live in the same PostgreSQL database (issue 18) and are
    # built and migrated by procrastinate's own schema, not by our models.
    structural = [
        d
        for d in diff
        if isinstance(d, tuple)
        and d[0]
        in {"add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index"}
        and not _procrastinate_object(d[1])
    ]
    assert structural == []


def test_daily_checks_migration_merges_duplicate_days(db_url: str) -> None:
    """0009: rows of one branch-day (the pen test made two on PostgreSQL) become one, and
    every old row's note and outcome survives as a confirmation."""
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(Settings(), db_url)
    upgrade(engine, "0008")
    now = dt.datetime(2026, 11, 19, 1, 0, tzinfo=dt.UTC)
    stamp = now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO branches (id, name, timezone, hours, first_seen_at, updated_at) "
                "VALUES ('B1', 'b', 'Asia/Shanghai', '{}', :t, :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO users (username, display_name, password_hash, role, branch_id, "
                "locale, created_at) VALUES ('admin', '管理员', 'x', 'administrator', 'B1', "
                "'zh', :t)"
            ),
            {"t": stamp},
        )
        for day, outcome, note in (
            ("2026-11-19", "ok", "画面均正常"),
            ("2026-11-19", "problems", "3号柜台偏暗"),
            ("2026-11-20", "ok", ""),
        ):
            conn.execute(
                text(
                    "INSERT INTO daily_checks (branch_id, day, user_id, confirmed_at, outcome, "
                    "note) VALUES ('B1', :day, 1, :t, :outcome, :note)"
                ),
                {"day": dt.date.fromisoformat(day), "t": stamp, "outcome": outcome, "note": note},
            )
    upgrade(engine)
    with engine.begin() as conn:
        checks = conn.execute(text("SELECT id, day, outcome FROM daily_checks ORDER BY day"))
        rows = [(str(day)[:10], outcome) for _id, day, outcome in checks]
        notes = conn.execute(
            text("SELECT c.note FROM daily_check_confirmations c ORDER BY c.id")
        ).scalars()
        assert list(notes) == ["画面均正常", "3号柜台偏暗", ""]
    assert rows == [("2026-11-19", "problems"), ("2026-11-20", "ok")]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO daily_checks (branch_id, day, user_id, confirmed_at, outcome) "
                "VALUES ('B1', :day, 1, :t, 'ok')"
            ),
            {"day": dt.date(2026, 11, 20), "t": stamp},
        )
