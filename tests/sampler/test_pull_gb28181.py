"""Frames pulled over GB/T 28181 playback (INVITE through the SIP service, RTP carrying
MPEG-PS over UDP or to our TCP port, PyAV demuxing and decoding) show the requested
instant: each frame's burnt-in time code -- drawn by the simulator's video source, read
here -- must be the one the pull reports, within one frame of what was asked; a clip's
frames are the footage of the range asked for."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.gb28181.conftest import wait_for
from tests.sampler.test_clip_sim import assert_clip_is_the_footage, assert_evidence_verify_checks
from tests.sim.timecode import read_timecode
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import RegisterEntryRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.gbservice.service import GbService, running_service
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.clips import ClipRequest, pull_clip
from vidaudit.sampler.gb_settings import GbPullSettings, gb_pull_settings
from vidaudit.sampler.pull import PullError, PullOutcome, PullRequest, pull_frames
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet
from vidaudit.sim.fleet import Fleet

FRAME_MS = 100  # the simulator's 10 fps
ALL_DAYS = {d: "00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SCENARIO: dict[str, Any] = {
    "seed": 5,
    "branches": [
        {
            "id": "LAB",
            "name": "实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "GB-HIK",
                    "vendor": "hikvision",
                    "api": "gb28181",
                    "clock_drift_s": 37,
                    "channels": [
                        {"id": "GB-HIK-C1", "role": "counter"},
                        {
                            "id": "GB-HIK-C2",
                            "role": "vault",
                            "gaps": [{"days_ago": 1, "at": "03:00", "minutes": 30}],
                        },
                    ],
                },
                {
                    "id": "GB-DAH",
                    "vendor": "dahua",
                    "api": "gb28181",
                    "gb_transport": "tcp",
                    "clock_drift_s": -75,
                    "channels": [{"id": "GB-DAH-C1", "role": "counter"}],
                },
            ],
        }
    ],
}


@dataclass
class Lab:
    """The fleet, the service (every recorder registered) and a database, for one test."""

    fleet: Fleet
    service: GbService
    inventory: Inventory
    path: Path
    settings: Settings
    sessions: sessionmaker[Session]
    gb: GbPullSettings
    now: dt.datetime

    async def pull(
        self, channel_id: str, instants: Sequence[dt.datetime], *, media: str = "udp"
    ) -> PullOutcome:
        branch, device, channel = next(
            (b, d, c) for b, d, c in self.inventory.channels() if c.id == channel_id
        )
        return await pull_frames(
            PullRequest(branch, device, channel, instants, "抽查", "inspector", "inspector"),
            sessions=self.sessions,
            store=EvidenceStore(self.settings.data_dir / "ev"),
            resolver=SecretResolver(self.inventory, self.path),
            onvif_settings=self.settings.onvif(),
            now=self.now,
            gb=dataclasses.replace(self.gb, transport=media),  # type: ignore[arg-type]
        )


@asynccontextmanager
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
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
        gb = gb_pull_settings(settings, inventory)
        assert gb is not None
        async with running_service(
            settings, inventory, path, sessions, sip_sockets=fleet.gb_sip_sockets
        ) as service:
            ids = [r.ident.device_id for r in fleet.gb_recorders.values()]
            await wait_for(lambda: all(service.platform.registration(i) for i in ids))
            yield Lab(fleet, service, inventory, path, settings, sessions, gb, now)
    engine.dispose()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("channel_id", "media"), [("GB-HIK-C1", "udp"), ("GB-DAH-C1", "tcp"), ("GB-HIK-C1", "tcp")]
)
async def test_frames_over_gb28181_playback_show_the_requested_instant(
    tmp_path: Path, channel_id: str, media: str
) -> None:
    async with lab(tmp_path) as it:
        # two instants 3 s apart and one 9 minutes later: two playbacks
        instants = [it.now - dt.timedelta(hours=5, seconds=s + 0.37) for s in (0, 3, 540)]
        outcome = await it.pull(channel_id, instants, media=media)
        assert not it.service.platform.calls, "every playback ended with BYE"
        device_id = it.fleet.truth["channels"][channel_id]["device"]
        true_drift = it.fleet.truth["devices"][device_id]["clock_drift_s"]
        played = it.fleet.gb_recorders[device_id].counters.playbacks
        sessions = it.sessions
    assert outcome.source_kind == "gb28181"
    assert played == 2
    # DeviceTime is whole seconds; read at its roll-over it gives the drift to milliseconds
    assert abs(outcome.device_drift_s - true_drift) <= 0.05
    assert len(outcome.frames) == 3
    for frame in outcome.frames:
        luma = cv2.cvtColor(cv2.imread(str(frame.path)), cv2.COLOR_BGR2GRAY)
        shown = read_timecode(luma)
        assert shown is not None
        # what the frame shows (device clock) is what we report, moved by the drift we used
        reported = (frame.actual.timestamp() + outcome.device_drift_s) * 1000
        assert abs(shown - reported) <= 1
        assert abs(frame.delta_ms) <= FRAME_MS / 2
        # and it is the requested instant (true time + true drift), within one frame
        truly = (frame.requested.timestamp() + true_drift) * 1000
        assert abs(shown - truly) <= FRAME_MS
        assert frame.diagnosis.verdict == "pass"
    with sessions() as s:
        assert verify(s).entries == 1


async def test_an_instant_in_a_gap_is_refused_not_answered_from_elsewhere(tmp_path: Path) -> None:
    async with lab(tmp_path) as it:
        gap = it.fleet.truth["channels"]["GB-HIK-C2"]["gaps"][0]
        drift = it.fleet.truth["devices"]["GB-HIK"]["clock_drift_s"]
        start = dt.datetime.fromisoformat(gap["start"].replace("Z", "+00:00"))
        inside = start - dt.timedelta(seconds=drift) + dt.timedelta(minutes=10)
        with pytest.raises(PullError) as refused:
            await it.pull("GB-HIK-C2", [inside])
        assert it.fleet.gb_recorders["GB-HIK"].counters.playbacks == 0
        sessions = it.sessions
    assert refused.value.kind == "not_found"
    with sessions() as s:
        assert verify(s).entries == 1  # the attempt is on the register all the same


@pytest.mark.timeout(180)
async def test_a_clip_over_gb28181_playback_is_the_footage(tmp_path: Path) -> None:
    """The same checks as the other playback routes' clips (``test_clip_sim``): the
    program stream's units remuxed to MP4 as recorded, first and last frames as reported,
    registered first, checked by ``evidence verify``."""
    async with lab(tmp_path) as it:
        branch, device, channel = next(
            (b, d, c) for b, d, c in it.inventory.channels() if c.id == "GB-HIK-C1"
        )
        at = it.now - dt.timedelta(hours=3, seconds=0.37)
        store = EvidenceStore(it.settings.evidence_dir)
        outcome = await pull_clip(
            ClipRequest.around(
                branch, device, channel, at, 10, reason="抽查", actor="i", actor_role="inspector"
            ),
            sessions=it.sessions,
            store=store,
            resolver=SecretResolver(it.inventory, it.path),
            onvif_settings=it.settings.onvif(),
            now=it.now,
            gb=it.gb,
        )
        assert not it.service.platform.calls, "the playback ended with BYE"
        true_drift = it.fleet.truth["devices"]["GB-HIK"]["clock_drift_s"]
        played = it.fleet.gb_recorders["GB-HIK"].counters.playbacks
        sessions, settings = it.sessions, it.settings
    assert outcome.source_kind == "gb28181" and played == 1
    assert abs(outcome.device_drift_s - true_drift) <= 0.05
    start, end = at - dt.timedelta(seconds=5), at + dt.timedelta(seconds=5)
    assert_clip_is_the_footage(outcome, true_drift, start, end, "GB-HIK-C1", sessions, store)
    with sessions() as s:
        (entry,) = s.scalars(select(RegisterEntryRow)).all()
        assert entry.details["source"] == "gb28181"
    assert_evidence_verify_checks(outcome.path, settings)
