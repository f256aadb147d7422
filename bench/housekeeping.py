"""Benchmark the database size of vidaudit's own data, without and with housekeeping.

    python bench/housekeeping.py [--branches 100] [--nvrs 500] [--channels 16]
                                 [--days 30] [--every-min 5] [--keep-days 7] [--vacuum]

1. Syncs an inventory of ``--nvrs`` NVRs x ``--channels`` channels (8,000 by default) into
   a fresh SQLite database (the product's migrations and engine) in a temporary folder.
2. Writes ``--days`` days of collector runs every ``--every-min`` minutes, as
   ``collector/store.py`` stores them: a run row, one observation per device and per
   channel, one result per branch; ~5 % of channels break a rule in a run.  Rows are
   written with sqlite3's executemany (the content is the store's; the speed is the
   benchmark's own, not the collector's).
3. Prints the database size ("before"), then runs the housekeeping pass
   (``collector.housekeeping.roll_up_observations``: observations older than
   ``--keep-days`` rolled up to one per channel per day) and prints the space in use
   ("after"; SQLite reuses the freed pages for new rows, ``--vacuum`` also returns them to
   the operating system and prints the file size then) and how long the pass took.

``--keep-days`` is 7 here, not the default 90, so that 30 simulated days have something to
roll up; the steady state for any setting is printed as a projection from the measured
bytes per observation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from vidaudit.collector.housekeeping import roll_up_observations  # noqa: E402
from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.inventory import parse_inventory  # noqa: E402
from vidaudit.inventory.sync import sync_inventory  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402
from web import inventory  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
BROKEN = json.dumps(
    [{"rule": "R2.business_hours", "severity": "major", "detail": "gap", "evidence": {}}]
)
MISSED = json.dumps([{"date": "2026-11-02", "covered": False, "missing_min": 42}])


def stamp(at: dt.datetime) -> str:
    # how SQLAlchemy stores an aware UTC datetime in SQLite (utils.UTCDateTime)
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def in_use(db: Path) -> tuple[int, int]:
    """(bytes in use, file bytes) of the database: pages minus the free list."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page, db.stat().st_size


def observations(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM channel_observations").fetchone()[0])


def fill(
    db: Path,
    inv_devices: list[tuple[str, str, list[str]]],
    args: argparse.Namespace,
    start: dt.datetime,
    rng: random.Random,
) -> int:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")  # 1 GB: the indexes outgrow the default
    runs = args.days * 24 * 60 // args.every_min
    branches = sorted({b for b, _d, _c in inv_devices})
    channels = sum(len(c) for _b, _d, c in inv_devices)
    earliest = stamp(start - dt.timedelta(days=40))
    for n in range(runs):
        at = stamp(start + dt.timedelta(minutes=args.every_min * n))
        cur = conn.execute(
            "INSERT INTO collection_runs (started_at, finished_at, status, devices, "
            "devices_down, channels, channels_compliant, violations, policy) "
            "VALUES (?, ?, 'completed', ?, 0, ?, ?, 0, '{}')",
            (at, at, len(inv_devices), channels, channels),
        )
        run_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO device_observations (run_id, device_id, branch_id, observed_at, "
            "online, error_kind, error_message, clock_drift_s, manufacturer, model, firmware, "
            "services, violations) VALUES (?, ?, ?, ?, 1, NULL, NULL, ?, 'HIKVISION', "
            "'DS-7616NI-K2', 'V4.61.005', "
            '\'["device", "media", "recording", "search", "replay"]\', \'[]\')',
            [(run_id, d, b, at, round(rng.uniform(-3, 3), 1)) for b, d, _c in inv_devices],
        )
        rows = []
        for b, d, chans in inv_devices:
            for c in chans:
                ok = rng.random() > 0.05
                rows.append((
                    run_id, c, d, b, at, earliest, at,
                    40.0, 30, 1.0 if ok else 0.97, "[]" if ok else "[[\"a\", \"b\"]]",
                    "[]" if ok else MISSED, ok, ok, "[]" if ok else BROKEN,
                ))  # fmt: skip
        conn.executemany(
            "INSERT INTO channel_observations (run_id, channel_id, device_id, branch_id, "
            "observed_at, recording_state, earliest, latest, retention_days, required_days, "
            "verified, occupancy, gaps, business_days, business_hours_covered, audio, "
            "compliant, violations) VALUES (?, ?, ?, ?, ?, 'recording', ?, ?, ?, ?, 0, ?, ?, "
            "?, ?, NULL, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO branch_results (run_id, branch_id, observed_at, compliant, "
            "devices_down, channels, channels_compliant, violations) "
            "VALUES (?, ?, ?, 1, 0, 80, 80, 0)",
            [(run_id, b, at) for b in branches],
        )
        if n % 288 == 287:
            conn.commit()
            print(f"  day {(n + 1) // 288}: {observations(db):,} observations", flush=True)
    conn.commit()
    conn.close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--nvrs", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--every-min", type=int, default=5)
    parser.add_argument("--keep-days", type=int, default=7)
    parser.add_argument("--vacuum", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vidaudit-bench-hk-", dir=args.dir))
    try:
        run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    settings = Settings(data_dir=work)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    text = yaml.safe_dump(inventory(args.branches, args.nvrs, args.channels), allow_unicode=True)
    inv = parse_inventory(text, "bench.yaml")
    now = dt.datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(days=args.days)
    with sessions.begin() as session:
        sync_inventory(session, inv, source="bench.yaml", now=start)
    engine.dispose()
    devices = [(b.id, d.id, [c.id for c in d.channels]) for b, d in inv.devices()]
    channels = sum(len(c) for _b, _d, c in devices)
    db = work / "vidaudit.db"
    print(f"{channels:,} channels, {args.days} days of runs every {args.every_min} min -> {db}")
    t0 = time.perf_counter()
    runs = fill(db, devices, args, start, random.Random(13))
    filled_s = time.perf_counter() - t0
    rows_before = observations(db)
    used_before, file_before = in_use(db)
    print(f"written: {runs:,} runs, {rows_before:,} channel observations in {filled_s:.0f} s")
    print(f"before housekeeping: {mib(file_before)} file, {mib(used_before)} in use")

    engine = make_engine(settings)
    t0 = time.perf_counter()
    rolled = roll_up_observations(
        make_sessionmaker(engine), now=now, keep_days=args.keep_days, tz=TZ
    )
    pass_s = time.perf_counter() - t0
    engine.dispose()
    rows_after = observations(db)
    used_after, file_after = in_use(db)
    print(
        f"housekeeping (keep {args.keep_days} days): {rolled.summary()} in {pass_s:.0f} s "
        f"({pass_s / max(rolled.days, 1):.1f} s per day rolled up)"
    )
    print(
        f"after housekeeping: {rows_after:,} channel observations, {mib(used_after)} in use "
        f"({used_after / used_before:.0%} of before); file {mib(file_after)} until VACUUM"
    )
    if args.vacuum:
        t0 = time.perf_counter()
        with sqlite3.connect(db) as conn:
            conn.execute("VACUUM")
        used_after = db.stat().st_size
        print(f"after VACUUM: {mib(used_after)} file ({time.perf_counter() - t0:.0f} s)")
    # Bytes per day of the tables never pruned (X) and per channel observation (Y), from
    # the two measurements: before = D*X + D*R*Y, after = D*X + (k*R + (D-k)*C)*Y.
    d, k, r, c = args.days, min(args.keep_days, args.days), rows_before / args.days, channels
    y = (used_before - used_after) / max((d - k) * (r - c), 1)
    x = (used_before - d * r * y) / d
    print(
        f"per day: {x / 2**20:,.0f} MiB in tables never pruned (runs, device observations, "
        f"branch results), {r * y / 2**20:,.0f} MiB of channel observations "
        f"({y:.0f} bytes each)"
    )
    for keep in sorted({args.keep_days, 90}):
        for days in (30, 365, 3 * 365):
            size = days * x + (min(keep, days) * r + max(days - keep, 0) * c) * y
            print(
                f"projection, {days} days of runs, keep {keep} days: {size / 2**30:,.1f} "
                f"GiB (no housekeeping: {days * (x + r * y) / 2**30:,.1f} GiB)"
            )


if __name__ == "__main__":
    main()
