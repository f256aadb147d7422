"""Benchmark what the job queue itself costs a worker per job, apart from reading devices.

    python bench/queue_overhead.py [--jobs 3000] [--concurrency 32] [--channels 16] [--repeat 3]

``bench/scale.py`` compares a worker's whole CPU per channel with the one-process
collector's; on this shared 2-core host that ratio moves ±15 % between runs, more than
the queue's own share.  This measures that share on its own: ``--jobs`` jobs shaped as
``vidaudit schedule`` queues them (one per recorder, its device's lock and queueing lock,
its branch's queue), run by procrastinate's worker loop as ``vidaudit worker`` runs it
(twice ``--concurrency`` slots, jobs kept, JSON log lines at INFO written to /dev/null)
through the real task, whose device read is replaced by nothing: what is left is
fetching each job, recording its outcome, and the loop and log lines around them.

Two ways, each in a fresh database (``VIDAUDIT_TEST_PG`` or ``scripts/postgres.sh``),
interleaved ``--repeat`` times:

- the baseline: procrastinate's connector as it comes (its pool checks a connection
  before every use and wraps each query in a transaction);
- vidaudit's (``queue.make_app``: ``collector/queue_pool.py``).

Prints CPU per job (user + system of this process while the worker ran), per channel at
``--channels`` channels a recorder, and the ratio of vidaudit's to the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import statistics
import sys
from pathlib import Path

from procrastinate import App, PsycopgConnector
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from scale import admin_url, database  # noqa: E402

from vidaudit.cli.distributed import json_logging  # noqa: E402
from vidaudit.collector.queue import (  # noqa: E402
    TASK_NAME,
    DeviceRetry,
    device_job,
    make_app,
    poll_device_job,
)
from vidaudit.db.engine import make_engine  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402


class NoDevices:
    """The worker's runtime with nothing to read: each job's device is 'stored'."""

    def __init__(self) -> None:
        self.jobs = 0

    async def poll(self, run_id: int, device_id: str, attempts: int) -> str:
        self.jobs += 1
        return "stored"


def baseline_app(url: str) -> App:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    app = App(connector=PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4))
    app.task(name=TASK_NAME, pass_context=True, retry=DeviceRetry())(poll_device_job)
    return app


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def cpu_ms_per_job(app: App, jobs: int, concurrency: int) -> float:
    runtime = NoDevices()
    built = [device_job(1, f"B{n:05d}-NVR1", f"branch.B{n:05d}") for n in range(jobs)]
    async with app.open_async():
        for start in range(0, len(built), 500):
            await app.job_manager.batch_defer_jobs_async(built[start : start + 500])
        before = cpu_s()
        await app.run_worker_async(
            concurrency=2 * concurrency,
            wait=False,  # ends once no job is left
            install_signal_handlers=False,
            listen_notify=False,
            additional_context={"runtime": runtime},
            delete_jobs="never",
        )
        spent = cpu_s() - before
    if runtime.jobs != jobs:
        raise SystemExit(f"{runtime.jobs} of {jobs} jobs ran: the figure would not be per job")
    return spent * 1000 / jobs


def measure(admin: str, way: str, jobs: int, concurrency: int) -> float:
    with database(admin) as url:
        engine = make_engine(Settings(database_url=url))
        upgrade(engine)
        engine.dispose()
        app = baseline_app(url) if way == "baseline" else make_app(Settings(database_url=url))
        return asyncio.run(cpu_ms_per_job(app, jobs, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32, help="as `vidaudit worker -n`")
    parser.add_argument("--channels", type=int, default=16, help="channels per recorder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # the worker's log lines, formatted as `vidaudit worker` formats them, then dropped
    json_logging(logging.INFO)
    sink = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process
    for handler in logging.getLogger().handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(sink)
    admin = admin_url()
    seen: dict[str, list[float]] = {"baseline": [], "vidaudit": []}
    for repetition in range(1, args.repeat + 1):
        for way in seen:
            ms = measure(admin, way, args.jobs, args.concurrency)
            seen[way].append(ms)
            print(
                f"{way} [{repetition}/{args.repeat}]: {ms:.3f} ms CPU per job, "
                f"{ms / args.channels:.4f} ms per channel at {args.channels} a recorder "
                f"({args.jobs} jobs, {2 * args.concurrency} slots)",
                flush=True,
            )
    base, ours = (statistics.median(seen[way]) for way in ("baseline", "vidaudit"))
    print(
        f"queue_overhead: median {ours:.3f} ms CPU per job ({ours / args.channels:.4f} ms per "
        f"channel), {ours / base:.2f}x procrastinate's own connector ({base:.3f} ms)",
        flush=True,
    )


if __name__ == "__main__":
    main()
