"""Replay server figures: ms to synthesize + encode one GOP (per picture scenario), and the
time to first frame of a PLAY over loopback (DESCRIBE, SETUP, PLAY with a clock range,
first access unit decoded), cold (GOP not cached) and warm.

    .venv/bin/python bench/replay.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sim.conftest import lab_scenario
from tests.sim.rtsp_client import RtspClient
from vidaudit.sim import running_fleet
from vidaudit.sim.plan import Picture
from vidaudit.sim.rtsp.video import FPS, GOP_MS, ChannelLook, encode_gop, parameter_sets

FRAMES = GOP_MS * FPS // 1000
BASE_MS = 1_795_000_000_000


def gop_figures() -> None:
    parameter_sets()  # first-use costs (encoder library load) out of the way
    print(f"GOP = {FRAMES} frames, 640x360, libx264 ultrafast/zerolatency baseline, 1 thread")
    for picture in Picture:
        look = ChannelLook(f"BENCH-{picture.value}", picture, 8 * 3_600_000)
        encode_gop(look, BASE_MS, FRAMES)  # warm the per-channel background cache
        times = []
        for i in range(1, 6):
            t0 = time.perf_counter()
            units = encode_gop(look, BASE_MS + i * GOP_MS, FRAMES)
            times.append((time.perf_counter() - t0) * 1000)
        size = sum(len(n) for u in units for n in u.nals)
        print(
            f"  {picture.value:12s} {statistics.median(times):6.1f} ms/GOP "
            f"({statistics.median(times) / FRAMES:4.2f} ms/frame, {size / 1024:5.1f} KiB)"
        )


async def first_frame() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        ch = fleet.truth["channels"]["UNV-C1"]
        dev = fleet.device("UNV")
        url = ch["replay_uri"]
        base = dt.datetime.fromisoformat(ch["earliest"].replace("Z", "+00:00"))
        for label, offset in (("cold", 1), ("warm", 1), ("cold", 2)):
            start = base + dt.timedelta(days=offset, seconds=5)
            t0 = time.perf_counter()
            async with RtspClient(
                dev.host, dev.rtsp_port, dev.plan.username, dev.plan.password
            ) as c:
                await c.describe(url)
                await c.setup(url + "/trackID=1")
                await c.play(
                    url,
                    Require="onvif-replay",
                    Range=f"clock={start:%Y%m%dT%H%M%S}.000Z-",
                    Rate_Control="no",
                )
                frames = c.decode(await c.units(1))
                ttff = (time.perf_counter() - t0) * 1000
                more = time.perf_counter()
                await c.units(FRAMES * 5)
                rate = FRAMES * 5 / (time.perf_counter() - more)
            assert frames[0].timecode == frames[0].unit.ntp_ms
            print(
                f"time to first frame ({label}): {ttff:6.1f} ms; then {rate:5.0f} frames/s "
                "(Rate-Control: no, TCP interleaved, decode included)"
            )


if __name__ == "__main__":
    gop_figures()
    asyncio.run(first_frame())
