"""The job queue's connection pool (``collector.queue_pool``) on a real PostgreSQL:
autocommit connections, and the liveness check only for connections idle a while."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from procrastinate import exceptions as pexc
from sqlalchemy.engine import make_url

from vidaudit.collector import queue_pool
from vidaudit.collector.queue import make_app
from vidaudit.settings import Settings

PID = "SELECT pg_backend_pid() AS pid"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _end_session(url: str, pid: int) -> None:
    """End one server session from outside, and wait until the server says it is gone."""
    async with await psycopg.AsyncConnection.connect(_libpq(url), autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        async with asyncio.timeout(10):
            while True:
                gone = await admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
                if await gone.fetchone() is None:
                    return
                await asyncio.sleep(0.02)  # the server's own bookkeeping: nothing to await


async def test_queue_connections_run_each_query_outside_a_transaction(pg_url: str) -> None:
    app = make_app(Settings(database_url=pg_url))
    async with app.open_async():
        pool = app.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            assert conn.autocommit
            await conn.execute("SELECT 1")
            # with psycopg's default, the statement would have opened a transaction
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


async def test_a_connection_idle_past_the_threshold_is_checked_and_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_pool, "CHECK_AFTER_IDLE_S", 0.0)  # every hand-out is checked
    app = make_app(Settings(database_url=pg_url))
    async with app.open_async():
        first = (await app.connector.execute_query_one_async(PID))["pid"]
        await _end_session(pg_url, first)
        # the check finds the closed session and the pool hands out a new one
        second = (await app.connector.execute_query_one_async(PID))["pid"]
        assert second != first


async def test_a_connection_just_used_is_not_checked_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trade-off, stated: a session that ends between two quick uses fails the next
    # query (as one in flight would), and the pool discards it; nothing is checked in
    # between, which is the round trip this pool saves on every job.
    monkeypatch.setattr(queue_pool, "CHECK_AFTER_IDLE_S", 3600.0)
    app = make_app(Settings(database_url=pg_url))
    async with app.open_async():
        first = (await app.connector.execute_query_one_async(PID))["pid"]
        await _end_session(pg_url, first)
        with pytest.raises(pexc.ConnectorException):
            await app.connector.execute_query_one_async(PID)
        again = (await app.connector.execute_query_one_async(PID))["pid"]
        assert again != first


def test_the_factory_refuses_a_configure_it_would_replace() -> None:
    with pytest.raises(TypeError, match="configure"):
        queue_pool.queue_pool(conninfo="", configure=lambda conn: None)
