"""Benchmark the compliance dashboard's server-side render time on a county-sized fleet.

    python bench/web.py [--branches 100] [--nvrs 500] [--channels 16] [--runs 4]
                        [--requests 50] [--database-url URL]

1. Writes an inventory of ``--branches`` branches with ``--nvrs`` NVRs of ``--channels``
   channels between them (8,000 channels by default) and syncs it into a fresh database
   (a temporary SQLite file unless ``--database-url`` names another, e.g. PostgreSQL).
2. Inserts ``--runs`` collector runs in bulk, the way ``collector/store.py`` does, with
   realistic faults: ~3 % of NVRs down (each error kind), ~5 % with clock drift over the
   limit, ~8 % of channels short of retention, ~5 % with business-hours gaps, some with
   unverifiable retention; fault tickets, findings (some overdue), this week's reviews and
   daily checks.
3. Requests ``/`` as the security department (all branches) through the real app
   (TestClient: routing, dependencies, session check, queries, template) and prints
   p50 / p95 / max in ms, plus the query part alone and a branch and a channel page.

Target: dashboard p95 <= 300 ms server-side on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from vidaudit.accounts.users import create_user  # noqa: E402
from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.db.models import (  # noqa: E402
    BranchResultRow,
    ChannelObservationRow,
    CollectionRunRow,
    DailyCheckRow,
    DeviceObservationRow,
    FaultTicketRow,
    FindingRow,
    ReviewRow,
    UserRow,
)
from vidaudit.inventory import parse_inventory  # noqa: E402
from vidaudit.inventory.sync import sync_inventory  # noqa: E402
from vidaudit.review.register import Entry, append  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402
from vidaudit.web.app import create_app  # noqa: E402
from vidaudit.web.auth import start_session  # noqa: E402
from vidaudit.web.deps import SESSION_COOKIE  # noqa: E402
from vidaudit.web.views.dashboard_data import dashboard_rows  # noqa: E402

ROLES = ["counter", "counter", "counter", "counter", "cash_area", "vault", "atm", "entrance"]
KINDS = ["unreachable", "timeout", "auth", "unsupported", "malformed", "device_fault"]
RUN_EVERY = dt.timedelta(minutes=15)


def inventory(branches: int, nvrs: int, channels: int) -> dict[str, Any]:
    per_branch = [nvrs // branches + (1 if i < nvrs % branches else 0) for i in range(branches)]
    out = []
    for b, count in enumerate(per_branch):
        bid = f"FY{b + 1:03d}"
        out.append(
            {
                "id": bid,
                "name": f"第{b + 1}营业网点",
                "hours": {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
                | {"sat": "09:00-16:00", "sun": "closed"},
                "devices": [
                    {
                        "id": f"{bid}-NVR{n + 1}",
                        "kind": "nvr",
                        "vendor": "hikvision",
                        "onvif": f"http://10.{b // 250}.{b % 250}.{n + 1}/onvif/device_service",
                        "username": "audit",
                        "password": "${VIDAUDIT_PW_BENCH}",
                        "channels": [
                            {
                                "id": f"{bid}-N{n + 1}-C{c + 1:02d}",
                                "name": f"{n + 1}号录像机{c + 1}通道",
                                "role": ROLES[c % len(ROLES)],
                                "ref": {"channel": c + 1},
                            }
                            for c in range(channels)
                        ],
                    }
                    for n in range(count)
                ],
            }
        )
    return {
        "timezone": "Asia/Shanghai",
        "policy": {"retention_days": 30, "retention_days_by_role": {"vault": 90, "atm": 90}},
        "branches": out,
    }


def violation(rule: str, severity: str, **evidence: Any) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "detail": rule, "evidence": evidence}


def fill(sessions: Any, inv: Any, runs: int, now: dt.datetime, rng: random.Random) -> None:
    devices = [(b, d) for b in inv.branches for d in b.devices]
    down = {d.id: rng.choice(KINDS) for _b, d in devices if rng.random() < 0.03}
    drift = {d.id: rng.gauss(0, 20) + (120 if rng.random() < 0.05 else 0) for _b, d in devices}
    with sessions.begin() as db:
        first_run = None
        for r in range(runs):
            at = now - RUN_EVERY * (runs - 1 - r)
            run = CollectionRunRow(
                started_at=at - dt.timedelta(seconds=40),
                finished_at=at,
                status="completed",
                policy=inv.policy.model_dump(mode="json"),
            )
            db.add(run)
            db.flush()
            first_run = first_run or run.id
            dev_rows, chan_rows = [], []
            tally: dict[str, list[int]] = {b.id: [0, 0, 0, 0] for b in inv.branches}
            for branch, device in devices:
                offline = device.id in down and r >= runs // 2
                d_viol = []
                if offline:
                    d_viol.append(violation("R6.offline", "critical", error_kind=down[device.id]))
                elif abs(drift[device.id]) > 60:
                    d_viol.append(violation("R3.clock", "major", drift_s=drift[device.id]))
                dev_rows.append(
                    {
                        "run_id": run.id,
                        "device_id": device.id,
                        "branch_id": branch.id,
                        "observed_at": at,
                        "online": not offline,
                        "error_kind": down[device.id] if offline else None,
                        "error_message": None,
                        "clock_drift_s": None if offline else drift[device.id],
                        "manufacturer": "Hikvision",
                        "model": "DS-7616NI-K2",
                        "firmware": "V4.30.085",
                        "services": ["device", "media", "recording", "search"],
                        "violations": d_viol,
                    }
                )
                t = tally[branch.id]
                t[0] += offline
                t[3] += len(d_viol)
                for channel in device.channels:
                    required = inv.required_days(channel)
                    seed = hash((channel.id, "fixed")) % 1000 / 1000
                    c_viol: list[dict[str, Any]] = []
                    held: float | None = required + 3 + seed * 10
                    gaps: list[list[str]] = []
                    days: list[dict[str, Any]] = []
                    if offline:
                        held = None
                        c_viol.append(
                            violation("R6.offline", "critical", error_kind=down[device.id])
                        )
                    elif seed < 0.02:
                        held = None
                        c_viol.append(violation("R1.unverifiable", "major", required_days=required))
                    elif seed < 0.10:
                        held = round(required * (0.2 + seed * 5), 2)
                        c_viol.append(
                            violation(
                                "R1.retention", "critical", held_days=held, required_days=required
                            )
                        )
                    if not offline and 0.5 < seed < 0.55:
                        start = at - dt.timedelta(days=2 + seed * 10, hours=seed * 24)
                        gaps = [[start.isoformat(), (start + dt.timedelta(hours=2)).isoformat()]]
                        day = start.date().isoformat()
                        days = [{"date": day, "covered": False, "missing_min": 120.0}]
                        c_viol.append(
                            violation("R2.business_hours", "major", days=[day], missing_min=120.0)
                        )
                    chan_rows.append(
                        {
                            "run_id": run.id,
                            "channel_id": channel.id,
                            "device_id": device.id,
                            "branch_id": branch.id,
                            "observed_at": at,
                            "recording_state": "unknown" if offline else "recording",
                            "earliest": None if held is None else at - dt.timedelta(days=held),
                            "latest": None if offline else at,
                            "retention_days": held,
                            "required_days": required,
                            "verified": seed > 0.7,
                            "occupancy": None if offline else 0.99,
                            "gaps": None if offline else gaps,
                            "business_days": days,
                            "business_hours_covered": None if offline else not days,
                            "audio": None,
                            "compliant": not c_viol,
                            "violations": c_viol,
                        }
                    )
                    t[1] += 1
                    t[2] += not c_viol
                    t[3] += len(c_viol)
            db.execute(insert(DeviceObservationRow), dev_rows)
            db.execute(insert(ChannelObservationRow), chan_rows)
            db.execute(
                insert(BranchResultRow),
                [
                    {
                        "run_id": run.id,
                        "branch_id": bid,
                        "observed_at": at,
                        "compliant": v[3] == 0,
                        "devices_down": v[0],
                        "channels": v[1],
                        "channels_compliant": v[2],
                        "violations": v[3],
                    }
                    for bid, v in tally.items()
                ],
            )
        assert first_run is not None
        tickets = [
            {
                "branch_id": row["branch_id"],
                "subject_kind": "channel",
                "subject_id": row["channel_id"],
                "rule": row["violations"][0]["rule"],
                "severity": "critical",
                "detail": "",
                "evidence": {},
                "owner_role": "administrator",
                "notify_roles": ["branch_head", "security"],
                "opened_at": now - dt.timedelta(hours=1),
                "last_seen_at": now,
                "closed_at": None,
                "opened_run_id": first_run,
                "closed_run_id": None,
                "occurrences": runs,
            }
            for row in chan_rows
            if row["violations"]
        ]
        db.execute(insert(FaultTicketRow), tickets)


def fill_people(sessions: Any, inv: Any, now: dt.datetime, rng: random.Random) -> int:
    with sessions.begin() as db:
        sec = create_user(
            db,
            username="bench-sec",
            password="bench password 1234",
            role="security",
            branch_id=None,
            display_name="保卫部",
            now=now,
        )
        # One account: argon2 at production cost is slow on purpose, and the rows below
        # only need a user id to point at.
        heads = {b.id: sec for b in inv.branches}
        today = now.date()
        for branch in inv.branches:
            channel = branch.devices[0].channels[0]
            for k in range(rng.randint(0, 3)):
                at = now - dt.timedelta(hours=6 + 20 * k)
                entry = append(
                    db,
                    Entry(
                        actor=f"head-{branch.id}",
                        actor_role="branch_head",
                        action="review",
                        reason="weekly review",
                        branch_id=branch.id,
                        channel_id=channel.id,
                    ),
                    at,
                )
                review = ReviewRow(
                    branch_id=branch.id,
                    channel_id=channel.id,
                    reviewer_id=heads[branch.id].id,
                    reviewer_role=rng.choice(["branch_head", "administrator"]),
                    window_start=at - dt.timedelta(hours=2),
                    window_end=at - dt.timedelta(hours=1),
                    submitted_at=at,
                    items={},
                    summary="",
                    register_seq=entry.seq,
                )
                db.add(review)
                db.flush()
                if rng.random() < 0.5:
                    db.add(
                        FindingRow(
                            review_id=review.id,
                            branch_id=branch.id,
                            channel_id=channel.id,
                            item_code="counter.two_staff",
                            note="",
                            frames=[],
                            owner_id=heads[branch.id].id,
                            deadline=today + dt.timedelta(days=rng.randint(-5, 10)),
                            status=rng.choice(["open", "fixed", "reopened", "closed"]),
                            created_at=at,
                            updated_at=at,
                            version=1,
                        )
                    )
            for back in range(rng.randint(0, 5)):
                db.add(
                    DailyCheckRow(
                        branch_id=branch.id,
                        day=today - dt.timedelta(days=back),
                        user_id=heads[branch.id].id,
                        confirmed_at=now,
                        run_id=None,
                        outcome="ok",
                        note="",
                    )
                )
        return sec.id


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   "
        f"max {ordered[-1]:7.1f} ms   (n={len(ordered)})"
    )


def timed(call: Callable[[], Any], count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--nvrs", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-web-") as tmp:
        folder = Path(tmp)
        inv_path = folder / "cameras.yaml"
        inv_path.write_text(
            yaml.safe_dump(inventory(args.branches, args.nvrs, args.channels), allow_unicode=True),
            encoding="utf-8",
        )
        settings = Settings(
            data_dir=folder / "data",
            database_url=args.database_url or f"sqlite:///{folder / 'bench.db'}",
            inventory=inv_path,
        )
        (folder / "data").mkdir()
        engine = make_engine(settings)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        now = dt.datetime.now(dt.UTC)
        text = inv_path.read_text(encoding="utf-8")
        inv = parse_inventory(text, inv_path)

        t0 = time.perf_counter()
        with sessions.begin() as db:
            sync_inventory(db, inv, source=str(inv_path), now=now)
        fill(sessions, inv, args.runs, now, rng)
        user_id = fill_people(sessions, inv, now, rng)
        built = time.perf_counter() - t0
        with sessions() as db:
            observations = db.scalar(select(func.count()).select_from(ChannelObservationRow))
            tickets = db.scalar(select(func.count()).select_from(FaultTicketRow))
        with sessions.begin() as db:
            user = db.get(UserRow, user_id)
            assert user is not None
            token = start_session(db, user, now, 12).token
        channels = sum(len(d.channels) for b in inv.branches for d in b.devices)
        print(
            f"database: {engine.dialect.name}, {len(inv.branches)} branches, "
            f"{args.nvrs} NVRs, {channels} channels, {args.runs} runs "
            f"({observations} channel observations), {tickets} open tickets; "
            f"built in {built:.1f} s"
        )

        app = create_app(settings, engine)
        with TestClient(app) as client:
            client.cookies.set(SESSION_COOKIE, token)
            first = client.get("/")
            assert first.status_code == 200, first.status_code
            assert first.text.count('<tr id="row-') == len(inv.branches)
            for _ in range(5):  # warm-up: template compile, statement caches
                client.get("/")
            page = timed(lambda: client.get("/"), args.requests)
            with sessions() as db:
                query = timed(lambda: dashboard_rows(db, None, inv, now), args.requests)
            sample = inv.branches[len(inv.branches) // 2]
            channel = sample.devices[0].channels[0]
            branch = timed(lambda: client.get(f"/branches/{sample.id}"), 20)
            chan = timed(lambda: client.get(f"/channels/{channel.id}"), 20)
            filtered = timed(lambda: client.get("/?problem=any&sort=retention"), 20)
            export = timed(lambda: client.get("/dashboard.xlsx"), 5)
        print(f"GET /  (all branches, security)      {percentiles(page)}")
        print(f"  of which queries (dashboard_rows)  {percentiles(query)}")
        print(f"GET /?problem=any&sort=retention     {percentiles(filtered)}")
        print(f"GET /branches/{sample.id:<22} {percentiles(branch)}")
        print(f"GET /channels/{{id}}                   {percentiles(chan)}")
        print(f"GET /dashboard.xlsx                  {percentiles(export)}")
        p95 = sorted(page)[max(0, round(0.95 * len(page)) - 1)]
        print(f"target: dashboard p95 <= 300 ms -> {'met' if p95 <= 300 else 'NOT met'}")
        engine.dispose()


if __name__ == "__main__":
    main()
