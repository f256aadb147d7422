"""Benchmark ``/overview``'s numbers over twelve weeks: counted from the observations, then
read back from the kept day counts (``indicator_days``).

    python bench/overview.py [--branches 20] [--nvrs 40] [--channels 16] [--days 84]
                             [--every-min 60]

1. Syncs an inventory of ``--nvrs`` NVRs x ``--channels`` channels into a fresh SQLite
   database and writes ``--days`` days of runs every ``--every-min`` minutes, exactly as
   bench/housekeeping.py does (its ``fill``).
2. Builds the overview three times, as the page does for the whole bank
   (``overview.report.build_overview``): first with nothing kept, so every ended day is
   counted from the observations and kept (the baseline: what every request would cost
   without ``indicator_days``); then twice more, reading the kept days and counting only
   today.  Prints each time and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from housekeeping import TZ, fill, observations  # noqa: E402

from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.db.models import BranchRow, IndicatorDayRow  # noqa: E402
from vidaudit.inventory import parse_inventory  # noqa: E402
from vidaudit.inventory.sync import sync_inventory  # noqa: E402
from vidaudit.overview.model import Indicator  # noqa: E402
from vidaudit.overview.report import build_overview  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402
from web import inventory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--nvrs", type=int, default=40)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--every-min", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vidaudit-bench-ov-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    settings = Settings(data_dir=work)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    text = yaml.safe_dump(inventory(args.branches, args.nvrs, args.channels), allow_unicode=True)
    inv = parse_inventory(text, "bench.yaml")
    now = dt.datetime.now(TZ).replace(hour=15, minute=0, second=0, microsecond=0)
    start = now.replace(hour=0) - dt.timedelta(days=args.days)
    with sessions.begin() as session:
        sync_inventory(session, inv, source="bench.yaml", now=start)
    engine.dispose()  # the fill writes with sqlite3 directly
    devices = [(b.id, d.id, [c.id for c in d.channels]) for b, d in inv.devices()]
    channels = sum(len(c) for _b, _d, c in devices)
    db = work / "vidaudit.db"
    fill_args = argparse.Namespace(days=args.days, every_min=args.every_min)
    print(f"{channels:,} channels, {args.days} days of runs every {args.every_min} min")
    t0 = time.perf_counter()
    fill(db, devices, fill_args, start, random.Random(13))
    print(f"written: {observations(db):,} channel observations in {time.perf_counter() - t0:.0f} s")

    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    timings = []
    for attempt in range(3):
        with sessions() as session:
            rows = list(session.scalars(select(BranchRow).order_by(BranchRow.id)))
            t0 = time.perf_counter()
            result = build_overview(session, rows, now, inv.policy, inv)
            timings.append(time.perf_counter() - t0)
            kept = session.scalar(select(func.count()).select_from(IndicatorDayRow))
        online = result.bank.rate(Indicator.ONLINE)
        label = "counted and kept" if attempt == 0 else "from kept days"
        print(
            f"build {attempt + 1} ({label}): {timings[-1] * 1000:,.0f} ms; "
            f"{kept:,} branch-days kept; bank online this week {online:.3f}"
        )
    print(f"ratio first / kept: {timings[0] / min(timings[1:]):.1f}x")
    engine.dispose()


if __name__ == "__main__":
    main()
