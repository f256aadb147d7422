"""Retention proven by pulling a frame from the oldest required day (R1, verified)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from vidaudit.collector.run import collect
from vidaudit.collector.verified import verified_for
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.sync import sync_inventory
from vidaudit.sampler.retention import SLACK, verify_channels
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SCENARIO: dict[str, Any] = {
    "seed": 5,
    "branches": [
        {
            "id": "LAB",
            "name": "实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "UNV",
                    "vendor": "uniview",
                    "clock_drift_s": 20,
                    "channels": [
                        {"id": "KEEPS", "role": "counter", "retention_days": 40},
                        {"id": "SHORT", "role": "counter", "retention_days": 12},
                    ],
                },
                # Milesight reports a 1970 earliest recording: only footage can tell
                {
                    "id": "MS",
                    "kind": "camera",
                    "vendor": "milesight",
                    "channels": [{"id": "MS-C1", "role": "atm", "retention_days": 95}],
                },
            ],
        }
    ],
}


@pytest.mark.timeout(120)
async def test_retention_verified_by_footage(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        inventory = load_inventory(path)
        now = dt.datetime.now(dt.UTC)
        with sessions.begin() as s:
            sync_inventory(s, inventory, source="t", now=now)
        checks = await verify_channels(
            inventory.channels(),
            inventory,
            sessions=sessions,
            store=EvidenceStore(tmp_path / "ev"),
            resolver=SecretResolver(inventory, path),
            onvif_settings=settings.onvif(),
            now=now,
        )
        # the collector now reports those channels' retention as verified by footage,
        # including the camera whose search dates cannot be believed
        collected = await collect(settings, inventory, path, sessions)
    judged = {c.channel_id: c.result for c in collected.report.channels}
    assert judged["KEEPS"].verified and judged["MS-C1"].verified
    ms_days = judged["MS-C1"].retention_days
    # a proof at (90 days - 30 min) ago shows at least that much: inside the tolerance
    assert ms_days is not None and ms_days >= 90 - 1 / 24
    assert not judged["SHORT"].verified
    assert not {"R1.unverifiable", "R1.retention"} & {v.rule for v in judged["MS-C1"].violations}
    by_id = {c.channel_id: c for c in checks}
    assert by_id["KEEPS"].ok and by_id["MS-C1"].ok
    assert not by_id["SHORT"].ok and "not_found" in (by_id["SHORT"].error or "")
    keeps = by_id["KEEPS"]
    assert keeps.actual is not None
    assert abs(keeps.actual - (now - dt.timedelta(days=30) + SLACK)) < dt.timedelta(seconds=2)
    with sessions() as s:
        proven = verified_for(s, now + dt.timedelta(hours=6))
    assert set(proven) == {"KEEPS", "MS-C1"}
    # six hours later the same proof stands for footage six hours younger
    assert abs(proven["KEEPS"] - keeps.actual - dt.timedelta(hours=6)) < dt.timedelta(seconds=1)
    with sessions() as s:
        assert verified_for(s, now + dt.timedelta(days=3)) == {}  # too old to stand
