"""Frames at exact instants from the simulated fleet, by every playback route a bank uses:
ONVIF replay (clock ranges), Hikvision playback URLs (UTC) and Dahua ones (device local
time), with drifted device clocks; the vendor URLs also from recorders configured with
no ONVIF at all (clock and RTSP port read through ISAPI or the Dahua HTTP API).  Each
frame's burnt-in time code says which instant it really shows; it must be the one the
pull reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.sim.timecode import read_timecode
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.pull import PullError, PullRequest, pull_frames
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

ALL_DAYS = {d: "00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SCENARIO: dict[str, Any] = {
    "seed": 3,
    "branches": [
        {
            "id": "LAB",
            "name": "实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "HIK",
                    "vendor": "hikvision",
                    "clock_drift_s": 37,
                    "channels": [{"id": "HIK-C1", "role": "counter"}],
                },
                {
                    "id": "DAH",
                    "vendor": "dahua",
                    "clock_drift_s": -75,
                    "posix_tz": "CST-8",
                    "channels": [{"id": "DAH-C1", "role": "counter"}],
                },
                # read through their own APIs only: no ONVIF in the inventory at all
                {
                    "id": "HIKAPI",
                    "vendor": "hikvision",
                    "api": "isapi",
                    "clock_drift_s": -52,
                    "channels": [{"id": "HIKAPI-C1", "role": "counter"}],
                },
                {
                    "id": "DAHAPI",
                    "vendor": "dahua",
                    "api": "dahua",
                    "clock_drift_s": 64,
                    "channels": [{"id": "DAHAPI-C1", "role": "counter"}],
                },
                {
                    "id": "UNV",
                    "vendor": "uniview",
                    "clock_drift_s": 3,
                    "channels": [
                        {"id": "UNV-C1", "role": "counter"},
                        {"id": "UNV-C2", "role": "vault", "picture": "black"},
                    ],
                },
            ],
        }
    ],
}
FRAME_MS = 100  # the simulator's 10 fps


@pytest.mark.timeout(120)
@pytest.mark.parametrize("channel_id", ["UNV-C1", "HIK-C1", "DAH-C1", "HIKAPI-C1", "DAHAPI-C1"])
async def test_exact_frames_by_each_playback_route(tmp_path: Path, channel_id: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        now = dt.datetime.now(dt.UTC)
        with sessions.begin() as s:
            sync_inventory(s, inventory, source="t", now=now)
        branch, device, channel = next(
            (b, d, c) for b, d, c in inventory.channels() if c.id == channel_id
        )
        # two instants 3 s apart and one 9 minutes later: one or two playback requests
        instants = [now - dt.timedelta(hours=5, seconds=s + 0.37) for s in (0, 3, 540)]
        outcome = await pull_frames(
            PullRequest(branch, device, channel, instants, "抽查", "inspector", "inspector"),
            sessions=sessions,
            store=EvidenceStore(tmp_path / "ev"),
            resolver=SecretResolver(inventory, path),
            onvif_settings=settings.onvif(),
            now=now,
        )
        true_drift = fleet.truth["devices"][device.id]["clock_drift_s"]
    if channel_id.endswith("API-C1"):
        assert device.onvif is None and device.api.value in ("isapi", "dahua")
    assert outcome.source_kind == device.playback.value
    # the clock is read to milliseconds (second rollover), not GetSystemDateAndTime's second
    assert abs(outcome.device_drift_s - true_drift) <= 0.03
    for frame in outcome.frames:
        luma = cv2.cvtColor(cv2.imread(str(frame.path)), cv2.COLOR_BGR2GRAY)
        shown = read_timecode(luma)
        assert shown is not None
        # what the frame shows (device clock) is what we report, moved by the drift we used
        reported = (frame.actual.timestamp() + outcome.device_drift_s) * 1000
        assert abs(shown - reported) <= 1
        assert abs(frame.delta_ms) <= FRAME_MS / 2
        # and the frame really shows the requested instant (true time + the true drift)
        truly = (frame.requested.timestamp() + true_drift) * 1000
        assert abs(shown - truly) <= FRAME_MS / 2 + 30
        assert frame.diagnosis.verdict == "pass"
    with sessions() as s:
        assert verify(s).entries == 1


async def test_black_channel_is_diagnosed_and_gap_instant_refused(tmp_path: Path) -> None:
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
        branch, device, channel = next(
            (b, d, c) for b, d, c in inventory.channels() if c.id == "UNV-C2"
        )
        common: dict[str, Any] = {
            "sessions": sessions,
            "store": EvidenceStore(tmp_path / "ev"),
            "resolver": SecretResolver(inventory, path),
            "onvif_settings": settings.onvif(),
            "now": now,
        }
        outcome = await pull_frames(
            PullRequest(
                branch,
                device,
                channel,
                [now - dt.timedelta(hours=2)],
                "日常检查",
                "admin",
                "administrator",
            ),
            **common,
        )
        assert outcome.frames[0].diagnosis.primary == "no_signal"
        with pytest.raises(PullError, match="not_found"):
            await pull_frames(
                PullRequest(
                    branch,
                    device,
                    channel,
                    [now - dt.timedelta(days=400)],
                    "核实",
                    "admin",
                    "administrator",
                ),
                **common,
            )
    with sessions() as s:
        # both attempts are registered, the failed one too
        assert verify(s).entries == 2
