"""Benchmark the distributed collector: one round over a large simulated fleet shared by
1, 2 and 4 ``vidaudit worker`` processes on PostgreSQL, against the one-process collector
in the same run.

    python bench/scale.py [--nvrs 3125] [--channels 16] [--workers 1,2,4] [--concurrency 32[,64]]
                          [--repeat 1] [--rounds 1]

1. Starts the simulated fleet (``python -m vidaudit.sim``) as its own process.
2. Needs a PostgreSQL server: ``VIDAUDIT_TEST_PG`` (an admin URL, as the tests use), else
   ``scripts/postgres.sh start`` (the throw-away loopback server of ``make test``).  Each
   measurement gets a database of its own, dropped afterwards.
3. Baseline: ``vidaudit.collector.run.collect`` in this process alone
   (``collector_processes=1``), storing into PostgreSQL: wall time, CPU per channel.
4. For each worker count: that many ``vidaudit worker --concurrency N`` processes (the
   real command, default JSON logging at INFO), registered before the round opens; then
   one round (``schedule.start_round``, as ``vidaudit schedule --once`` opens it), timed
   until the database says it is completed.  Prints round wall time, worker CPU per channel
   (user + system of the workers during the round, from /proc, and the kernel's share of
   it), jobs/s, database rows/s (observations written), peak RSS per worker (VmHWM),
   PostgreSQL size growth per round
   (pg_database_size; procrastinate's job rows included, as they stay an hour), and the
   ratio of worker CPU per channel to the baseline's.
5. ``--rounds N``: N consecutive rounds per measurement, the same workers and database;
   each round is printed.  A deployment's rounds but the first meet the job table and its
   statistics as the rounds before left them (a fresh database hid a 1.4 s job fetch in
   every second round: ``bench/queue_fetch.py``).
6. ``--repeat N`` does 3-5 N times, interleaved, and prints the median ratio per worker
   count: on this shared 2-core host, two consecutive one-process baselines with the same
   settings differed by up to 13 % (2.07 and 2.36 ms per channel), so one pair cannot
   tell 1.05x from 1.15x.

Targets (2-core machine, simulator and PostgreSQL included): a 50,000-channel round
<= 300 s with 2 workers; <= 2 ms worker CPU per channel; <= 300 MB RSS per worker; worker
CPU per channel within 10 % of the one-process collector's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from collector import REPO, start_fleet  # noqa: E402

from vidaudit import aio  # noqa: E402
from vidaudit.collector.run import collect  # noqa: E402
from vidaudit.collector.schedule import start_round  # noqa: E402
from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.inventory import load_inventory  # noqa: E402
from vidaudit.inventory.sync import sync_inventory  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402

#: The vidaudit command of this interpreter.
VIDAUDIT = (sys.executable, "-c", "from vidaudit.cli import main; main()")
TICKS = os.sysconf("SC_CLK_TCK")


def admin_url() -> str:
    url = os.environ.get("VIDAUDIT_TEST_PG")
    if url:
        return url
    out = subprocess.run(
        [str(REPO / "scripts" / "postgres.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def database(admin: str) -> Iterator[str]:
    """A fresh database for one measurement, dropped afterwards."""
    url = make_url(admin)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"vidaudit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def machine_ticks() -> tuple[int, int]:
    """(all, steal) clock ticks of the whole machine so far (``/proc/stat``).  Steal is
    time a virtual machine's host gave to other guests while this one wanted to run;
    it says the host was busy, when CPU figures read inside the guest vary from run to
    run (here 3-4 % in an hour of these runs, 1 % since boot; a neighbour's load also
    shows as slower caches, which nothing inside the guest counts).  Each measurement
    prints its share: compare runs at similar shares, and ratios within one run."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]), fields[7]  # user .. steal (guest time is counted in user)


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[0] - before[0]
    return 100 * (after[1] - before[1]) / total if total else 0.0


def proc_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Figures:
    devices: int
    channels: int
    wall_s: float
    cpu_ms_per_channel: float
    rows: int = 0
    db_growth_mb: float = 0.0
    peak_mb: list[float] | None = None
    steal_pct: float = 0.0
    #: the kernel's share of that CPU (sockets to the devices and to PostgreSQL)
    system_pct: float = 0.0


def baseline(admin: str, tmp: Path, inventory_path: Path) -> Figures:
    """The one-process collector (no helper), storing into PostgreSQL."""
    with database(admin) as url:
        settings = Settings(database_url=url, data_dir=tmp / "data", collector_processes=1)
        engine = make_engine(settings)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        inventory = load_inventory(inventory_path)
        usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        ticks0 = machine_ticks()
        result = aio.run(collect(settings, inventory, inventory_path, sessions, keep_report=False))
        wall = time.perf_counter() - wall0
        stolen = steal_pct(ticks0, machine_ticks())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        system = usage.ru_stime - usage0.ru_stime
        cpu = usage.ru_utime - usage0.ru_utime + system
        with engine.connect() as conn:
            channels = conn.execute(
                text("SELECT count(*) FROM channel_observations WHERE run_id = :r"),
                {"r": result.run_id},
            ).scalar_one()
        engine.dispose()
    devices = sum(1 for _ in inventory.devices())
    return Figures(
        devices,
        channels,
        wall,
        cpu * 1000 / channels,
        steal_pct=stolen,
        system_pct=100 * system / cpu,
    )


def distributed(
    admin: str,
    tmp: Path,
    inventory_path: Path,
    workers: int,
    concurrency: int,
    logs: Path,
    rounds: int = 1,
) -> list[Figures]:
    """``rounds`` consecutive rounds served by the same workers in one database: the
    figures of each (a later round meets the job table and statistics an earlier one
    left, as every round but a deployment's first does)."""
    with database(admin) as url:
        settings = Settings(database_url=url, data_dir=tmp / "data")
        engine = make_engine(settings)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        inventory = load_inventory(inventory_path)
        with sessions.begin() as session:
            sync_inventory(
                session,
                inventory,
                source=str(inventory_path.resolve()),
                now=dt.datetime.now(dt.UTC),
            )

        def scalar(sql: str, **params: object) -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(sql), params).scalar_one() or 0)

        env = {
            **os.environ,
            "VIDAUDIT_DATABASE_URL": url,
            "VIDAUDIT_DATA_DIR": str(tmp / "data"),
            "VIDAUDIT_INVENTORY": str(inventory_path),
            # the round must not end by its deadline here: its wall time is the figure
            "VIDAUDIT_COLLECTOR_ROUND_DEADLINE_S": "3600",
        }
        processes = []
        log_files = []
        try:
            for index in range(workers):
                log = (logs / f"workers{workers}-{index}.log").open("wb")
                log_files.append(log)
                processes.append(
                    subprocess.Popen(
                        [*VIDAUDIT, "worker", "--concurrency", str(concurrency)],
                        cwd=REPO,
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
            wait_for(
                lambda: scalar("SELECT count(*) FROM procrastinate_workers") >= workers,
                300,
                f"{workers} workers to register",
            )
            measured: list[Figures] = []
            for _round in range(rounds):
                size0 = scalar("SELECT pg_database_size(current_database())")
                cpu0 = [proc_cpu_s(p.pid) for p in processes]
                wall0 = time.perf_counter()
                ticks0 = machine_ticks()
                opened = aio.run(
                    start_round(settings, inventory, inventory_path, sessions, deadline_s=3600)
                )
                wait_for(
                    lambda run_id=opened.run_id: scalar(
                        "SELECT count(*) FROM collection_runs "
                        "WHERE id = :r AND status = 'completed'",
                        r=run_id,
                    ),
                    3600,
                    "the round to complete",
                )
                wall = time.perf_counter() - wall0
                stolen = steal_pct(ticks0, machine_ticks())
                spent = [
                    (user - user0, system - system0)
                    for (user, system), (user0, system0) in zip(
                        (proc_cpu_s(p.pid) for p in processes), cpu0, strict=True
                    )
                ]
                cpu = sum(user + system for user, system in spent)
                system = sum(system for _user, system in spent)
                peaks = [proc_peak_mb(p.pid) for p in processes]
                size1 = scalar("SELECT pg_database_size(current_database())")
                channels = scalar(
                    "SELECT count(*) FROM channel_observations WHERE run_id = :r", r=opened.run_id
                )
                devices = scalar(
                    "SELECT count(*) FROM device_observations WHERE run_id = :r", r=opened.run_id
                )
                late = scalar(
                    "SELECT devices_late FROM collection_runs WHERE id = :r", r=opened.run_id
                )
                if late:
                    raise SystemExit(f"{late} devices late: the figures would not be a full round")
                measured.append(
                    Figures(
                        devices,
                        channels,
                        wall,
                        cpu * 1000 / channels,
                        rows=devices + channels,
                        db_growth_mb=(size1 - size0) / 2**20,
                        peak_mb=peaks,
                        steal_pct=stolen,
                        system_pct=100 * system / cpu,
                    )
                )
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=120)
            for log in log_files:
                log.close()
            engine.dispose()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvrs", type=int, default=3125)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument(
        "--concurrency",
        default="32",
        help="devices each worker reads at once, comma-separated to compare several",
    )
    parser.add_argument("--logs", type=Path, help="keep the workers' logs in this folder")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="consecutive rounds per measurement, same workers and database (each printed; "
        "every ratio counts towards the median)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure baseline and workers this many times, interleaved; prints each "
        "pair's ratio and the median (one pair is within this host's noise of another)",
    )
    args = parser.parse_args()
    counts = [
        (int(workers), int(reading))
        for workers in args.workers.split(",")
        for reading in args.concurrency.split(",")
    ]
    admin = admin_url()
    with tempfile.TemporaryDirectory(prefix="vidaudit-scale-") as name:
        tmp = Path(name)
        started = time.perf_counter()
        fleet, inventory = start_fleet(tmp, args.nvrs, args.channels, "onvif")
        print(
            f"fleet: {args.nvrs} NVRs x {args.channels} channels ready in "
            f"{time.perf_counter() - started:.1f} s (simulator in its own process)",
            flush=True,
        )
        ratios: dict[tuple[int, int], list[float]] = {count: [] for count in counts}
        try:
            for repetition in range(1, args.repeat + 1):
                tag = f" [{repetition}/{args.repeat}]" if args.repeat > 1 else ""
                base = baseline(admin, tmp, inventory)
                print(
                    f"baseline.one_process_collect{tag}: {base.wall_s:.1f} s wall, "
                    f"{base.cpu_ms_per_channel:.2f} ms CPU per channel "
                    f"({base.system_pct:.0f} % in the kernel; "
                    f"{base.devices} devices, {base.channels} channels, PostgreSQL); host "
                    f"steal {base.steal_pct:.1f} %",
                    flush=True,
                )
                for workers, reading in counts:
                    logs = args.logs or tmp
                    logs.mkdir(parents=True, exist_ok=True)
                    measured = distributed(
                        admin, tmp, inventory, workers, reading, logs, args.rounds
                    )
                    for number, got in enumerate(measured, 1):
                        label = f" round {number}/{args.rounds}" if args.rounds > 1 else ""
                        ratio = got.cpu_ms_per_channel / base.cpu_ms_per_channel
                        ratios[workers, reading].append(ratio)
                        peaks = ", ".join(f"{p:.0f}" for p in got.peak_mb or [])
                        print(
                            f"scale.workers={workers}.concurrency={reading}{tag}{label}: round "
                            f"{got.wall_s:.1f} s wall; worker "
                            f"CPU {got.cpu_ms_per_channel:.2f} ms per channel ({ratio:.2f}x the "
                            f"one-process collector's; {got.system_pct:.0f} % in the kernel); "
                            f"{got.devices / got.wall_s:.0f} jobs/s; "
                            f"{got.rows / got.wall_s:.0f} observation rows/s; peak RSS per worker "
                            f"{peaks} MB; PostgreSQL +{got.db_growth_mb:.1f} MB this round "
                            f"({got.devices} devices, {got.channels} channels); host steal "
                            f"{got.steal_pct:.1f} %",
                            flush=True,
                        )
            if args.repeat > 1 or args.rounds > 1:
                for (workers, reading), seen in ratios.items():
                    print(
                        f"scale.workers={workers}.concurrency={reading}: median ratio "
                        f"{statistics.median(seen):.2f}x "
                        f"over {len(seen)} rounds ({', '.join(f'{r:.2f}' for r in seen)})",
                        flush=True,
                    )
        finally:
            fleet.terminate()
            fleet.wait(timeout=60)


if __name__ == "__main__":
    main()
