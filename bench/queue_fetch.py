"""Benchmark what one job fetch costs a worker, round after round, on PostgreSQL.

    python bench/queue_fetch.py [--jobs 3125] [--rounds 4] [--fetches 300]

A worker takes each job through ``procrastinate_fetch_job_v2``, one call per job, whose
plan follows the job table's statistics.  Each round here: defer ``--jobs`` jobs (one per
recorder, as ``vidaudit schedule`` does), time ``--fetches`` fetches, then end the round
as a finished one leaves the table (every job succeeded) and analyse it as autovacuum
would once the round's changes pass its threshold.

Two ways, each in a fresh database (``VIDAUDIT_TEST_PG`` or ``scripts/postgres.sh``):

- ``defer_round`` as the scheduler runs it (it analyses the table once the round's jobs
  are queued);
- the baseline: the same jobs deferred through procrastinate alone, the statistics left
  to autovacuum.

Prints milliseconds per fetch (wall, client and server on this host) per round and way.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from scale import admin_url, database  # noqa: E402

from vidaudit.collector.queue import defer_round, device_job, make_app  # noqa: E402
from vidaudit.collector.rounds import OpenedRound  # noqa: E402
from vidaudit.db.engine import make_engine  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402


async def rounds(url: str, jobs: int, count: int, fetches: int, analyse: bool) -> list[float]:
    """Milliseconds per fetch in each of ``count`` rounds."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    app = make_app(Settings(database_url=url))
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    devices = [(f"B{n:05d}-NVR1", f"branch.B{n:05d}") for n in range(jobs)]
    per_fetch = []
    async with app.open_async():
        worker = await app.job_manager.register_worker()
        for run_id in range(1, count + 1):
            if analyse:
                await defer_round(app, OpenedRound(run_id, deadline, devices))
            else:
                built = [device_job(run_id, device, queue) for device, queue in devices]
                for start in range(0, len(built), 500):
                    await app.job_manager.batch_defer_jobs_async(built[start : start + 500])
            started = time.perf_counter()
            for _ in range(fetches):
                assert await app.job_manager.fetch_job(queues=None, worker_id=worker)
            per_fetch.append((time.perf_counter() - started) * 1000 / fetches)
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded'")
                conn.execute("VACUUM ANALYZE procrastinate_jobs")
    return per_fetch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3125, help="jobs per round (recorders)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fetches", type=int, default=300, help="fetches timed per round")
    args = parser.parse_args()
    admin = admin_url()
    for name, analyse in (("baseline.procrastinate_defer", False), ("defer_round", True)):
        with database(admin) as url:
            engine = make_engine(Settings(database_url=url))
            upgrade(engine)
            engine.dispose()
            got = asyncio.run(rounds(url, args.jobs, args.rounds, args.fetches, analyse))
        figures = ", ".join(f"round {n}: {ms:.2f}" for n, ms in enumerate(got, 1))
        print(f"{name}: ms per fetch with {args.jobs} jobs queued: {figures}", flush=True)


if __name__ == "__main__":
    main()
