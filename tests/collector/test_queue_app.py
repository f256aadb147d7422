"""The job queue app a process makes, as often as it makes one (a worker makes a new one
each time it reconnects to the database; ``schedule --every`` one per round)."""

from __future__ import annotations

import asyncio
import datetime as dt

import psycopg
import pytest
from sqlalchemy.engine import make_url

from vidaudit.collector.queue import TASK_NAME, defer_round, device_job, make_app
from vidaudit.collector.rounds import OpenedRound
from vidaudit.db.engine import make_engine
from vidaudit.db.migrate import upgrade
from vidaudit.settings import Settings


def test_every_app_of_a_process_knows_the_task_its_jobs_name() -> None:
    # make_app connects to nothing: the URL only has to be PostgreSQL's
    settings = Settings(database_url="postgresql+psycopg://vidaudit@127.0.0.1:9/vidaudit")
    job = device_job(1, "FY001-NVR1", "branch.FY001")
    for _ in range(3):
        app = make_app(settings)
        assert job.task_name == TASK_NAME
        assert set(app.tasks) >= {TASK_NAME}, sorted(app.tasks)
        assert app.tasks[TASK_NAME].name == TASK_NAME


def _status_stats(conninfo: str) -> dict[str, float]:
    """The planner's view of ``procrastinate_jobs.status``: each value's share."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats "
            "WHERE tablename = 'procrastinate_jobs' AND attname = 'status'"
        ).fetchone()
    if row is None:
        return {}
    values, shares = row
    return dict(zip(values, shares, strict=True))


def test_a_deferred_round_leaves_the_planner_seeing_its_jobs(pg_url: str) -> None:
    """Workers fetch each job through one SQL function whose plan follows the job table's
    statistics.  After a finished round autovacuum's statistics say no job waits; the
    next round's 1,000s of jobs then got a plan that took 1.4 s per fetch (measured with
    3,125 jobs; 0.8 ms with fresh statistics).  Deferring a round refreshes them."""
    upgrade(make_engine(Settings(database_url=pg_url)))
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    devices = [(f"FY{n:03d}-NVR1", f"branch.FY{n:03d}") for n in range(1, 401)]
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)

    async def rounds() -> list[dict[str, float]]:
        app = make_app(Settings(database_url=pg_url))
        seen = []
        async with app.open_async():
            for run_id in (1, 2):
                ids, blocked = await defer_round(app, OpenedRound(run_id, deadline, devices))
                assert len(ids) == len(devices) and not blocked
                seen.append(_status_stats(conninfo))
                # the round ends; autovacuum analyses the table as it stands
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded'")
                    conn.execute("ANALYZE procrastinate_jobs")
                assert _status_stats(conninfo) == {"succeeded": 1.0}
        return seen

    first, second = asyncio.run(rounds())
    assert first == {"todo": 1.0}
    # 400 of 800 rows wait: the planner knows it
    assert second.keys() == {"todo", "succeeded"}
    assert second["todo"] == pytest.approx(0.5, abs=0.01)


def test_a_job_an_ended_round_left_waiting_gives_way_to_the_next_rounds(pg_url: str) -> None:
    """Rounds never overlap, so a device's job of an earlier round still waiting when the
    next round is queued (a retry's back-off nobody cancelled) could only find its device
    no longer pending: it is cancelled and the device queued in the new round, instead of
    the device being late there as well.  A job of the new round itself is never touched."""
    upgrade(make_engine(Settings(database_url=pg_url)))
    devices = [(f"FY{n:03d}-NVR1", f"branch.FY{n:03d}") for n in range(1, 6)]
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def statuses(ids: dict[str, int]) -> dict[str, str]:
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute(
                "SELECT id, status::text FROM procrastinate_jobs WHERE id = ANY(%s)",
                [list(ids.values())],
            ).fetchall()
        by_id = dict(rows)
        return {device: by_id[job] for device, job in ids.items()}

    async def rounds() -> tuple[dict[str, int], dict[str, int], list[str], list[str]]:
        app = make_app(Settings(database_url=pg_url))
        async with app.open_async():
            first, _ = await defer_round(app, OpenedRound(1, deadline, devices))
            # round 1's jobs ended but two, still waiting (no worker here)
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(
                    "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id <> ALL(%s)",
                    [[first["FY002-NVR1"], first["FY004-NVR1"]]],
                )
            second, blocked = await defer_round(app, OpenedRound(2, deadline, devices))
            # round 2 queued again (as a second scheduler would): its own waiting jobs stay
            _, again = await defer_round(app, OpenedRound(2, deadline, devices[:2]))
        return first, second, blocked, again

    first, second, blocked, again = asyncio.run(rounds())
    assert blocked == []
    assert second.keys() == {device for device, _ in devices}
    assert statuses(second) == dict.fromkeys(second, "todo")
    assert {d: s for d, s in statuses(first).items() if s != "succeeded"} == {
        "FY002-NVR1": "cancelled",
        "FY004-NVR1": "cancelled",
    }
    assert again == ["FY001-NVR1", "FY002-NVR1"]
    assert statuses(second) == dict.fromkeys(second, "todo")
