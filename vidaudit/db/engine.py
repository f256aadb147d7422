"""Engines for SQLite (default, one file in WAL mode) and PostgreSQL (by URL).

Every statement runs under a time limit: PostgreSQL's ``statement_timeout``, and for SQLite
(which has none) a progress handler that aborts a statement past its deadline, the way
datasette time-limits queries.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from vidaudit.private_files import private_dir, touch_private
from vidaudit.settings import Settings

#: SQLite calls the progress handler every this many virtual-machine instructions.
_PROGRESS_STEPS = 10_000
_DEADLINE_KEY = "vidaudit_statement_deadline"


class DatabaseMissing(Exception):
    """The settings point at a SQLite file that does not exist (and may not be created)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def make_engine(settings: Settings, url: str | None = None, *, create: bool = True) -> Engine:
    """Build the engine for ``url`` (default: the settings' database).

    A new SQLite file is created 0600 in a 0700 directory (surveillance records are not
    for every account on the machine); with ``create=False`` a missing one raises
    ``DatabaseMissing`` instead, so a command run in the wrong folder says where it
    looked rather than quietly starting an empty database there."""
    target = make_url(url or settings.effective_database_url)
    timeout_s = settings.db_statement_timeout_s
    backend = target.get_backend_name()
    if backend == "sqlite":
        if target.database and target.database != ":memory:":
            path = Path(target.database)
            if not path.exists():
                if not create:
                    raise DatabaseMissing(path.resolve())
                private_dir(path.parent)
                touch_private(path)
        engine = create_engine(target, connect_args={"timeout": timeout_s})
        _install_sqlite_limits(engine, timeout_s)
        return engine
    if backend == "postgresql":
        ms = int(timeout_s * 1000)
        return create_engine(
            target,
            pool_pre_ping=True,
            connect_args={"options": f"-c statement_timeout={ms}", "connect_timeout": 10},
        )
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _install_sqlite_limits(engine: Engine, timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets the web view read while the collector writes; foreign keys are off by
        # default in SQLite and the inventory's history depends on them.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        deadline = [0.0]
        record.info[_DEADLINE_KEY] = deadline

        def progress() -> int:
            return 1 if deadline[0] and time.monotonic() > deadline[0] else 0

        dbapi_conn.set_progress_handler(progress, _PROGRESS_STEPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Connection, *_args: Any) -> None:
        conn.connection.info[_DEADLINE_KEY][0] = time.monotonic() + timeout_s

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn: Connection, *_args: Any) -> None:
        conn.connection.info[_DEADLINE_KEY][0] = 0.0


def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``info`` is given to every session (the register's signer,
    see review/register.py ``register_info``)."""
    return sessionmaker(engine, expire_on_commit=False, info=info or {})
