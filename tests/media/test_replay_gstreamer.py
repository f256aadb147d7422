"""Our replay client against a third-party RTSP server: GStreamer's gst-rtsp-server.

The server (scripts/gst_rtsp_server.py, system python) serves a clip whose every frame
carries its offset from the clip start as a block time code; the client pulls with
``mode="npt"`` (a plain server has no clock ranges) and the time code of each frame must be
what the client reports as its instant. Without GStreamer these tests skip, except in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.media.clips import Clip, write_clip
from tests.media.timecode import read_timecode
from vidaudit.media.errors import MediaError
from vidaudit.media.replay import pull_replay_frames

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER = Path(__file__).resolve().parents[2] / "scripts" / "gst_rtsp_server.py"
ORIGIN = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _gstreamer_missing() -> str | None:
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3"
    probe = subprocess.run(
        [
            str(SYSTEM_PYTHON),
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return "GStreamer's RTSP server bindings are missing (scripts/debian-packages.txt)"
    return None


@pytest.fixture(scope="module")
def gst_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    missing = _gstreamer_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs GStreamer: {missing}")
        pytest.skip(missing)
    return write_clip(tmp_path_factory.mktemp("gst") / "clip.mp4", seconds=20)


def _start(clip: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [str(SYSTEM_PYTHON), str(SERVER), str(clip), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 15
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY"):
            return process, int(line.split()[1])
        if not line and process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate(timeout=5)
    raise AssertionError(f"gst_rtsp_server.py did not start: {line!r} {err[-2000:]}")


@pytest.fixture
def gst_server(gst_clip: Clip) -> Iterator[int]:
    process, port = _start(gst_clip.path)
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def ms(value: int) -> datetime:
    return ORIGIN + timedelta(milliseconds=value)


async def test_frames_carry_the_time_code_we_report(gst_server: int) -> None:
    url = f"rtsp://127.0.0.1:{gst_server}/clip"
    wanted = [ms(13_000), ms(7_310), ms(7_330), ms(16_790)]
    started = time.monotonic()
    pulled = await pull_replay_frames(
        url, "", SecretStr(""), wanted, timeout_s=5, mode="npt", origin=ORIGIN
    )
    elapsed = time.monotonic() - started
    assert [p.requested for p in pulled] == wanted
    for p in pulled:
        code = read_timecode(p.image)
        assert isinstance(p.actual, datetime)
        # What the frame shows is what we say it shows, to the millisecond.
        assert p.actual == ms(code), (p.requested, p.actual, code)
        assert abs(p.delta_ms) <= 20  # 25 fps: the nearest frame is within half a period
    assert [read_timecode(p.image) for p in pulled] == [13_000, 7_320, 7_320, 16_800]
    assert pulled[0].keyframe_distance == 25  # decoded forward from the keyframe at 12 s
    # A plain server paces in real time: ~1.3 s from the keyframe at 6 s, 1 s from 12 s…
    assert elapsed < 15


async def test_instant_past_the_end_of_the_clip(gst_server: int) -> None:
    url = f"rtsp://127.0.0.1:{gst_server}/clip"
    with pytest.raises(MediaError) as caught:
        await pull_replay_frames(
            url, "", SecretStr(""), [ms(60_000)], timeout_s=3, mode="npt", origin=ORIGIN
        )
    assert caught.value.kind in ("not_found", "timeout")


@pytest.mark.parametrize("digest", [False, True])
async def test_auth_against_gstreamer(gst_clip: Clip, digest: bool) -> None:
    extra = ["--user", "auditor", "--password", "s3cr@t"] + (["--digest"] if digest else [])
    process, port = _start(gst_clip.path, *extra)
    try:
        url = f"rtsp://127.0.0.1:{port}/clip"
        (frame,) = await pull_replay_frames(
            url,
            "auditor",
            SecretStr("s3cr@t"),
            [ms(2_000)],
            timeout_s=5,
            mode="npt",
            origin=ORIGIN,
        )
        assert read_timecode(frame.image) == 2_000
        with pytest.raises(MediaError) as caught:
            await pull_replay_frames(
                url,
                "auditor",
                SecretStr("wrong-pw"),
                [ms(2_000)],
                timeout_s=5,
                mode="npt",
                origin=ORIGIN,
            )
        assert caught.value.kind == "auth"
        assert "wrong-pw" not in str(caught.value)
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_gstreamer_tools_are_listed() -> None:
    listed = (SERVER.parent / "debian-packages.txt").read_text().split()
    assert {"gstreamer1.0-rtsp", "gir1.2-gst-rtsp-server-1.0", "python3-gi"} <= set(listed)
    assert shutil.which("true")  # keeps this test independent of GStreamer being there
