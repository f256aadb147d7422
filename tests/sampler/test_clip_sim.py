"""Clips of recorded video from the simulated fleet, by every playback route: the MP4 holds
the footage as recorded (H.264, no re-encoding), its first and last frames show (by their
burnt-in time codes) the instants the pull reports, the range asked for is covered, the
pull is registered first, and ``evidence verify`` checks the clip like any evidence."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import av
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.media.clips import write_clip
from tests.media.timecode import read_timecode as read_file_timecode
from tests.sampler.test_pull_sim import SCENARIO
from tests.sim.timecode import read_timecode
from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import EvidenceRow, RegisterEntryRow, TaskClipRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.clips import ClipOutcome, ClipRequest, pull_clip
from vidaudit.sampler.pull import PullError
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

FRAME_MS = 100  # the simulator's 10 fps
GOP_MS = 2000  # and its 2 s GOPs


def decoded_times(path: Path) -> tuple[str, list[int], list[bool]]:
    """The codec, each frame's burnt-in time code (device ms) and keyframe flag."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        codes, keys = [], []
        for frame in container.decode(stream):
            code = read_timecode(frame.to_ndarray(format="gray"))
            assert code is not None, "a frame without a readable time code"
            codes.append(code)
            keys.append(frame.key_frame)
    return codec, codes, keys


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("channel_id", "seconds"),
    # HIKAPI/DAHAPI: recorders read through their own APIs, no ONVIF in the inventory
    [("UNV-C1", 20), ("HIK-C1", 5), ("DAH-C1", 5), ("HIKAPI-C1", 5), ("DAHAPI-C1", 5)],
)
async def test_clip_by_each_playback_route(tmp_path: Path, channel_id: str, seconds: int) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    store = EvidenceStore(settings.evidence_dir)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        now = dt.datetime.now(dt.UTC)
        with sessions.begin() as s:
            sync_inventory(s, inventory, source="t", now=now)
        branch, device, channel = next(
            (b, d, c) for b, d, c in inventory.channels() if c.id == channel_id
        )
        at = now - dt.timedelta(hours=3, seconds=0.37)
        outcome = await pull_clip(
            ClipRequest.around(
                branch,
                device,
                channel,
                at,
                seconds,
                reason="抽查任务 #1 随机抽查",
                actor="insp",
                actor_role="inspector",
                task_id=None,
            ),
            sessions=sessions,
            store=store,
            resolver=SecretResolver(inventory, path),
            onvif_settings=settings.onvif(),
            now=now,
        )
        true_drift = fleet.truth["devices"][device.id]["clock_drift_s"]
    if channel_id.endswith("API-C1"):
        assert device.onvif is None and device.api.value in ("isapi", "dahua")
    start, end = at - dt.timedelta(seconds=seconds / 2), at + dt.timedelta(seconds=seconds / 2)
    assert outcome.source_kind == device.playback.value
    assert_clip_is_the_footage(outcome, true_drift, start, end, channel_id, sessions, store)
    assert_evidence_verify_checks(outcome.path, settings)


def assert_clip_is_the_footage(
    outcome: ClipOutcome,
    true_drift: float,
    start: dt.datetime,
    end: dt.datetime,
    channel_id: str,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
) -> None:
    """The MP4 holds every frame of [start, end] (true time) as recorded, its first and
    last frames are the instants reported, and the pull was registered first."""
    assert outcome.codec == "h264" and outcome.losses == 0

    codec, codes, keys = decoded_times(outcome.path)
    assert codec == "h264"
    assert keys[0], "a clip starts at a keyframe"
    assert len(codes) == outcome.frames
    # frames are in order, one every 100 ms, none missing
    assert all(b - a == FRAME_MS for a, b in itertools.pairwise(codes))
    # what the first and last frames show (device clock) is what the pull reports, moved
    # by the drift it measured
    drift_ms = outcome.device_drift_s * 1000
    assert abs(codes[0] - (outcome.first.timestamp() * 1000 + drift_ms)) <= 1
    assert abs(codes[-1] - (outcome.last.timestamp() * 1000 + drift_ms)) <= 1
    # and the clip covers the range asked for, in true time: it starts at the keyframe at
    # or before the start (at most one GOP early) and ends within a frame of the end
    first_true = codes[0] - true_drift * 1000
    last_true = codes[-1] - true_drift * 1000
    assert start.timestamp() * 1000 - GOP_MS - 50 <= first_true <= start.timestamp() * 1000 + 50
    assert end.timestamp() * 1000 - FRAME_MS - 50 <= last_true <= end.timestamp() * 1000 + 50

    with sessions() as s:
        (entry,) = s.scalars(select(RegisterEntryRow)).all()
        assert entry.action == "clip_pull" and entry.channel_id == channel_id
        assert entry.range_start == start and entry.range_end == end
        (row,) = s.scalars(select(TaskClipRow)).all()
        assert row.register_seq == entry.seq and row.evidence_sha256 == outcome.sha256
        evidence = s.get(EvidenceRow, outcome.sha256)
        assert evidence is not None and evidence.media_type == "video/mp4"
        assert evidence.origin["remuxed"] is True
        assert verify(s).ok
        assert store.verify(s).ok
    # the MP4 is playable from its start: its index (moov) comes before the media (mdat)
    head = outcome.path.read_bytes()[:4096]
    assert head[4:8] == b"ftyp" and b"moov" in head


def assert_evidence_verify_checks(path: Path, settings: Settings) -> None:
    """`vidaudit evidence verify` checks the clip, and notices when it was changed."""
    runner = CliRunner()
    environ = {"VIDAUDIT_DATA_DIR": str(settings.data_dir)}
    intact = runner.invoke(app, ["evidence", "verify"], env=environ)
    assert intact.exit_code == 0
    assert "evidence INTACT: 1 files and 0 references checked" in intact.output
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    broken = runner.invoke(app, ["evidence", "verify"], env=environ)
    assert broken.exit_code == 1 and "was altered" in broken.output


async def test_clip_limits_and_a_range_without_footage(tmp_path: Path) -> None:
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
            (b, d, c) for b, d, c in inventory.channels() if c.id == "UNV-C1"
        )
        common = {
            "sessions": sessions,
            "store": EvidenceStore(tmp_path / "ev"),
            "resolver": SecretResolver(inventory, path),
            "onvif_settings": settings.onvif(),
            "now": now,
        }

        def request(at: dt.datetime, seconds: int) -> ClipRequest:
            return ClipRequest.around(
                branch, device, channel, at, seconds,
                reason="核实", actor="admin", actor_role="administrator",
            )  # fmt: skip

        for seconds in (4, 61):
            with pytest.raises(ValueError, match="5-60 s"):
                await pull_clip(request(now - dt.timedelta(hours=1), seconds), **common)  # type: ignore[arg-type]
        with pytest.raises(PullError, match="not_found"):
            await pull_clip(request(now - dt.timedelta(days=400), 10), **common)  # type: ignore[arg-type]
    with sessions() as s:
        # the refused lengths never reached the register; the attempt without footage did
        assert verify(s).entries == 1
        assert s.scalars(select(TaskClipRow)).all() == []


async def test_clip_from_an_exported_file(tmp_path: Path) -> None:
    """The third road: an NVR export.  The clip's first frame is the keyframe at or before
    the start, its last the last frame before the end, and the times the pull reports are
    the ones burnt into those frames."""
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    inventory = load_inventory(REPO / "cameras.yaml")
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as s:
        sync_inventory(s, inventory, source="t", now=now)
    branch, device, channel = next(f for f in inventory.channels() if f[2].id == "FY001-C01")
    export = write_clip(tmp_path / "export.mp4", seconds=12, fps=25, gop_seconds=2)
    t0 = now.replace(microsecond=0) - dt.timedelta(days=2)  # the export's first frame
    store = EvidenceStore(settings.evidence_dir)
    common = {
        "sessions": sessions,
        "store": store,
        "resolver": SecretResolver(inventory),
        "onvif_settings": settings.onvif(),
        "now": now,
    }

    def request(start_s: float, end_s: float, file_start: dt.datetime | None) -> ClipRequest:
        return ClipRequest(
            branch, device, channel,
            t0 + dt.timedelta(seconds=start_s), t0 + dt.timedelta(seconds=end_s),
            "抽查任务 #7 定向抽查", "insp", "inspector",
            file=export.path, file_start=file_start,
        )  # fmt: skip

    with pytest.raises(ValueError, match="first frame"):
        await pull_clip(request(2.3, 9.1, None), **common)  # type: ignore[arg-type]
    outcome = await pull_clip(request(2.3, 9.1, t0), **common)  # type: ignore[arg-type]
    assert outcome.source_kind == "file" and outcome.codec == "h264"

    with av.open(str(outcome.path)) as container:
        stream = container.streams.video[0]
        frames = [(read_file_timecode(f.to_ndarray(format="bgr24")), f.key_frame)
                  for f in container.decode(stream)]  # fmt: skip
    codes = [code for code, _key in frames]
    assert frames[0][1], "a clip starts at a keyframe"
    assert len(codes) == outcome.frames
    assert all(b - a == 40 for a, b in itertools.pairwise(codes))
    # first: the keyframe at or before 2.3 s (GOP 2 s) is 2.000 s; last: 9.080 s (25 fps)
    assert codes[0] == 2000 and codes[-1] == 9080
    assert outcome.first == t0 + dt.timedelta(milliseconds=codes[0])
    assert outcome.last == t0 + dt.timedelta(milliseconds=codes[-1])
    with sessions() as s:
        # the refused request (no start for the file) never reached the register
        (entry,) = s.scalars(select(RegisterEntryRow)).all()
        assert entry.action == "clip_pull" and entry.details["source"] == "file"
        (row,) = s.scalars(select(TaskClipRow)).all()
        assert (row.first_at, row.last_at) == (outcome.first, outcome.last)
        assert verify(s).ok and store.verify(s).ok
