"""Fixtures shared by the whole suite: the shared data folder and database URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
IN_CI = bool(os.environ.get("CI"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skip when it is absent, except in CI where it must exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; CI checks out shared/ beside the repository")
        pytest.skip(f"{path} is absent on this machine (shared/ beside the repository)")
    return path


def _pg_admin_url() -> str:
    url = os.environ.get("VIDAUDIT_TEST_PG")
    if not url:
        if IN_CI:
            pytest.fail("VIDAUDIT_TEST_PG is not set in CI; scripts/test.sh starts PostgreSQL")
        pytest.skip("VIDAUDIT_TEST_PG not set: PostgreSQL tests skipped (make test sets it)")
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = make_url(_pg_admin_url())
    name = f"vidaudit_t_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vidaudit.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
