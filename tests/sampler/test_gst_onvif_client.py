"""A third-party ONVIF replay client against the simulated fleet: GStreamer's ``rtspsrc
onvif-mode=true`` (scripts/gst_pull_frame.py, system python) pulls a frame at an instant
from a channel's replay URI, and our client (vidaudit.media.replay) pulls the same instant.
Both must name the same frame, and the picture's own time code must be that frame's time:
a client that mistimes frames, or writes a picture decoded without its clean point (no
readable time code), fails here.  Without GStreamer this skips, except in CI.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import cv2
import pytest
from pydantic import SecretStr

from tests.sim.timecode import read_timecode
from vidaudit.media.replay import pull_replay_frames
from vidaudit.sim import parse_scenario, running_fleet

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gst_pull_frame.py"
#: What the script's pipeline plugs (rtponvifparse: plugins-bad, avdec_h264: libav).
ELEMENTS = (
    "rtspsrc",
    "rtponvifparse",
    "decodebin",
    "avdec_h264",
    "videoconvert",
    "appsink",
    "appsrc",
    "pngenc",
)
FRAME_MS = 100  # the simulator's 10 fps
GOP_MS = 2000  # and its clean points: every 2 s of the device clock
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SCENARIO: dict[str, Any] = {
    "seed": 5,
    "branches": [
        {
            "id": "LAB",
            "name": "实验网点",
            "hours": {d: "00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "devices": [
                {
                    "id": "UNV",
                    "vendor": "uniview",
                    "clock_drift_s": 3,
                    "channels": [{"id": "UNV-C1", "role": "counter"}],  # records 24/7
                }
            ],
        }
    ],
}


def _gstreamer_missing() -> str | None:
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3"
    probe = subprocess.run(
        [
            str(SYSTEM_PYTHON),
            "-c",
            "import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
            "Gst.init(None); "
            f"missing = [e for e in {ELEMENTS!r} if Gst.ElementFactory.find(e) is None]; "
            "sys.exit(', '.join(missing) or None)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        found = probe.stderr.strip().splitlines()
        return f"GStreamer is missing {found[-1] if found else '?'} (scripts/debian-packages.txt)"
    return None


@pytest.fixture(scope="module")
def gstreamer() -> None:
    missing = _gstreamer_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs GStreamer: {missing}")
        pytest.skip(missing)


def ms(instant: dt.datetime) -> int:
    return (instant - EPOCH) // dt.timedelta(milliseconds=1)


async def _gst_pull(uri: str, user: str, password: str, instant: dt.datetime, png: Path) -> Any:
    process = await asyncio.create_subprocess_exec(
        str(SYSTEM_PYTHON),
        str(SCRIPT),
        uri,
        user,
        password,
        instant.isoformat(),
        str(png),
        "--timeout",
        "15",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.timeout(60)
async def test_gstreamer_and_our_client_show_the_same_frame(
    tmp_path: Path, gstreamer: None
) -> None:
    async with running_fleet(parse_scenario(SCENARIO)) as fleet:
        device = fleet.device("UNV")
        uri = fleet.truth["channels"]["UNV-C1"]["replay_uri"]
        # Device-clock instants (replay ranges are on the device's clock), two hours back:
        # 5 ms before the 14th frame of a GOP (decoded through 13 P frames; the frame at or
        # after it, the script's rule, is also the nearest, ours), and a clean point itself
        # (the very first access unit the server sends for that PLAY).
        back = ms(device.now() - dt.timedelta(hours=2))
        clean = EPOCH + dt.timedelta(milliseconds=back - back % GOP_MS)
        mid_gop = clean + dt.timedelta(milliseconds=1300 - 5)
        instants = [mid_gop, clean + dt.timedelta(milliseconds=GOP_MS)]
        expected = [ms(mid_gop) + 5, ms(instants[1])]

        pulled = [
            await _gst_pull(
                uri, device.plan.username, device.plan.password, t, tmp_path / f"gst{i}.png"
            )
            for i, t in enumerate(instants)
        ]
        ours = await pull_replay_frames(
            uri, device.plan.username, SecretStr(device.plan.password), instants, timeout_s=10
        )

    for instant, want, gst, own in zip(instants, expected, pulled, ours, strict=True):
        shown = read_timecode(cv2.cvtColor(cv2.imread(gst["png"]), cv2.COLOR_BGR2GRAY))
        reported = ms(dt.datetime.fromisoformat(gst["ntp"]))
        # (a) GStreamer's time for the frame is the time the picture shows; a grey picture
        # decoded without its clean point has no readable time code.
        assert shown is not None, gst
        assert shown == reported, gst
        # (b) it is the first frame at or after the instant
        assert reported == want, gst
        assert 0 <= gst["delta_ms"] < FRAME_MS
        assert gst["requested"] == instant.isoformat()
        # (c) our client, asked for the same instant, names and shows the same frame
        assert ms(own.actual) == reported
        assert read_timecode(cv2.cvtColor(own.image, cv2.COLOR_BGR2GRAY)) == reported
