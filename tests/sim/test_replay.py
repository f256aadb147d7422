"""The fleet's RTSP replay server, driven by the independent test client: clean points,
gaps, ranges, auth, transports, vendor URL forms and the pictures themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tests.sim.conftest import lab_scenario
from tests.sim.rtsp_client import Frame, RtspClient
from vidaudit.sim import Fleet, running_fleet
from vidaudit.sim.rtsp import TIMECODE_VERSION

pytestmark = pytest.mark.timeout(60)

GOP_MS, FRAME_MS = 2000, 100


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with running_fleet(lab_scenario()) as running:
        yield running


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ms(t: dt.datetime) -> int:
    return round(t.timestamp() * 1000)


def clock(t: dt.datetime) -> str:
    return f"{t.astimezone(dt.UTC):%Y%m%dT%H%M%S}.{t.microsecond // 1000:03d}Z"


def client(fleet: Fleet, device: str, password: str | None = None) -> RtspClient:
    dev = fleet.device(device)
    return RtspClient(dev.host, dev.rtsp_port, dev.plan.username, password or dev.plan.password)


def in_footage(ch: dict[str, Any], t: dt.datetime, margin_s: float = 60) -> bool:
    pad = dt.timedelta(seconds=margin_s)
    return t - pad >= instant(ch["earliest"]) and not any(
        instant(g["start"]) - pad <= t <= instant(g["end"]) + pad for g in ch["gaps"]
    )


async def onvif_play(
    c: RtspClient, url: str, start: dt.datetime, end: dt.datetime | None = None, **extra: str
) -> Any:
    assert (await c.describe(url)).status == 200
    assert (await c.setup(url + "/trackID=1")).status == 200
    span = f"clock={clock(start)}-{clock(end) if end else ''}"
    headers = {"Require": "onvif-replay", "Range": span, "Rate_Control": "no"} | extra
    return await c.play(url, **headers)


def check_consistent(frames: list[Frame]) -> None:
    """Every frame's burnt-in time code is its NTP extension time, C exactly on keyframes."""
    for f in frames:
        assert f.timecode == f.unit.ntp_ms
        assert f.unit.c == any(n[0] & 0x1F == 5 for n in f.unit.nals)
        assert f.unit.ntp_ms % FRAME_MS == 0


async def test_play_starts_at_the_clean_point_at_or_before_start(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["UNV-C1"]
    assert ch["replay_uri"].endswith("/onvif/replay/RecordingToken1")
    start = instant(ch["earliest"]) + dt.timedelta(days=1, seconds=3, milliseconds=700)
    assert in_footage(ch, start)
    async with client(fleet, "UNV") as c:
        reply = await onvif_play(c, ch["replay_uri"], start)
        assert reply.status == 200, reply
        first_key = ms(start) - ms(start) % GOP_MS
        assert reply.headers["range"].startswith("clock=")
        # RTP-Info names the stream, the URL SETUP named (RFC 2326 §12.33): GStreamer's
        # rtspsrc ignores seq and rtptime given for any other URL.
        info = dict(f.split("=", 1) for f in reply.headers["rtp-info"].split(";"))
        assert info["url"] == ch["replay_uri"] + "/trackID=1"
        frames = c.decode(await c.units(25))
    check_consistent(frames)
    assert len(frames) == 25
    assert int(info["rtptime"]) == frames[0].unit.rtp_ts
    assert frames[0].unit.ntp_ms == first_key
    assert frames[0].unit.c and not frames[0].unit.d
    assert [f.unit.ntp_ms - first_key for f in frames] == list(range(0, 2500, 100))
    assert [f.unit.c for f in frames] == [i % 20 == 0 for i in range(25)]
    # 90 kHz, continuous; the PLAY's CSeq low byte in every extension.
    assert {b.unit.rtp_ts - a.unit.rtp_ts for a, b in itertools.pairwise(frames)} == {9000}
    assert {f.unit.cseq for f in frames} == {c.cseq & 0xFF}
    assert c.depack.seq_errors == 0


async def test_gap_edges_carry_e_and_d_and_a_play_inside_a_gap_starts_after_it(
    fleet: Fleet,
) -> None:
    ch = fleet.truth["channels"]["HIK-C1"]
    gap = next(
        g for g in ch["gaps"] if instant(g["end"]) - instant(g["start"]) < dt.timedelta(hours=2)
    )
    g0, g1 = instant(gap["start"]), instant(gap["end"])
    url = ch["replay_uri"]  # Hikvision's tracks URL: ONVIF clients PLAY it with a clock range
    async with client(fleet, "HIK") as c:
        assert (await onvif_play(c, url, g0 + dt.timedelta(minutes=10))).status == 200
        frames = c.decode(await c.units(3))
    check_consistent(frames)
    assert frames[0].unit.ntp_ms == ms(g1) and frames[0].unit.d and frames[0].unit.c
    assert not frames[1].unit.d

    async with client(fleet, "HIK") as c:
        assert (await onvif_play(c, url, g0 - dt.timedelta(seconds=1.5))).status == 200
        frames = c.decode(await c.units(24))
    check_consistent(frames)
    before = [f for f in frames if f.unit.ntp_ms < ms(g0)]
    after = [f for f in frames if f.unit.ntp_ms >= ms(g1)]
    assert before[-1].unit.ntp_ms == ms(g0) - FRAME_MS and before[-1].unit.e
    assert not any(f.unit.e for f in before[:-1]) and not any(f.unit.d for f in before)
    assert after[0].unit.ntp_ms == ms(g1) and after[0].unit.d and after[0].unit.c
    assert len(before) + len(after) == len(frames)


async def test_ranges_outside_the_footage_are_457_and_before_earliest_starts_at_earliest(
    fleet: Fleet,
) -> None:
    ch = fleet.truth["channels"]["UNV-C1"]
    earliest = instant(ch["earliest"])
    url = ch["replay_uri"]
    async with client(fleet, "UNV") as c:
        future = fleet.device("UNV").now() + dt.timedelta(days=1)
        assert (await onvif_play(c, url, future)).status == 457
        days = dt.timedelta(days=1)
        span = f"clock={clock(earliest - 3 * days)}-{clock(earliest - 2 * days)}"
        reply = await c.play(url, Require="onvif-replay", Range=span)
        assert reply.status == 457
        reply = await c.play(
            url,
            Require="onvif-replay",
            Range=f"clock={clock(earliest - dt.timedelta(days=3))}-",
            Rate_Control="no",
        )
        assert reply.status == 200
        frames = c.decode(await c.units(2))
    assert frames[0].unit.ntp_ms == ms(earliest) and frames[0].timecode == ms(earliest)


async def test_wrong_password_is_401_with_a_digest_challenge(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["UNV-C1"]
    async with client(fleet, "UNV", password="not-the-password") as c:
        reply = await c.describe(ch["replay_uri"])
        assert reply.status == 401
        challenge = reply.headers["www-authenticate"]
        assert challenge.startswith("Digest ") and "realm=" in challenge and "nonce=" in challenge
        assert (await c.request("OPTIONS", ch["replay_uri"])).status == 200  # no auth needed


async def test_require_onvif_replay_on_a_live_url_and_unknown_options_are_551(
    fleet: Fleet,
) -> None:
    dev = fleet.device("HIK")
    live = f"rtsp://{dev.host}:{dev.rtsp_port}/Streaming/Channels/101"
    async with client(fleet, "HIK") as c:
        reply = await c.request("DESCRIBE", live, {"Require": "onvif-replay"})
        assert reply.status == 551 and reply.headers["unsupported"] == "onvif-replay"
        url = fleet.truth["channels"]["HIK-C1"]["replay_uri"]
        reply = await c.request("DESCRIBE", url, {"Require": "onvif-replay, com.example.x"})
        assert reply.status == 551 and reply.headers["unsupported"] == "com.example.x"
        assert (await c.request("DESCRIBE", url, {"Require": "onvif-replay"})).status == 200


async def test_udp_transport(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["UNV-C2"]
    start = instant(ch["earliest"]) + dt.timedelta(days=2, seconds=11)
    async with client(fleet, "UNV") as c:
        url = ch["replay_uri"]
        assert (await c.describe(url)).status == 200
        reply = await c.setup(url + "/trackID=1", udp=True)
        assert reply.status == 200 and "server_port=" in reply.headers["transport"]
        reply = await c.play(
            url, Require="onvif-replay", Range=f"clock={clock(start)}-", Rate_Control="no"
        )
        assert reply.status == 200
        frames = c.decode(await c.units(22))
        assert (await c.request("TEARDOWN", url)).status == 200
    check_consistent(frames)
    assert frames[0].unit.ntp_ms == ms(start) - ms(start) % GOP_MS
    assert len(frames) == 22 and c.depack.seq_errors == 0


async def test_hikvision_url_starts_at_its_utc_start_and_ends_at_endtime(fleet: Fleet) -> None:
    dev = fleet.device("HIK")
    ch = fleet.truth["channels"]["HIK-C2"]  # business hours: pick an instant inside one
    start = next(
        s
        for day in ch["business_days"].values()
        if day["covered"]
        for s in [instant(day["required"]["start"]) + dt.timedelta(hours=2, seconds=7)]
    )
    end = start + dt.timedelta(seconds=3)
    url = (
        f"rtsp://{dev.host}:{dev.rtsp_port}/Streaming/tracks/201"
        f"?starttime={start:%Y%m%dT%H%M%SZ}&endtime={end:%Y%m%dT%H%M%SZ}"
    )
    async with client(fleet, "HIK") as c:
        assert (await c.describe(url)).status == 200
        assert (await c.setup(url + "/trackID=1")).status == 200
        assert (await c.play(url, Range="npt=0-", Rate_Control="no")).status == 200
        frames = c.decode(await c.units(100, idle_s=1.0))
    check_consistent(frames)
    assert frames[0].unit.ntp_ms == ms(start) - ms(start) % GOP_MS
    assert frames[-1].unit.ntp_ms == ms(end) - FRAME_MS  # and nothing after endtime


async def test_dahua_url_is_in_device_local_time(fleet: Fleet) -> None:
    dev = fleet.device("DAH")
    ch = fleet.truth["channels"]["DAH-C1"]
    assert fleet.truth["devices"]["DAH"]["posix_tz"] == "CST-8"
    start = instant(ch["earliest"]) + dt.timedelta(days=3, seconds=5)
    while not in_footage(ch, start):
        start += dt.timedelta(hours=3)
    local = start + dt.timedelta(hours=8)
    url = (
        f"rtsp://{dev.host}:{dev.rtsp_port}/cam/playback?channel=1&subtype=0"
        f"&starttime={local:%Y_%m_%d_%H_%M_%S}"
        f"&endtime={local + dt.timedelta(minutes=5):%Y_%m_%d_%H_%M_%S}"
    )
    async with client(fleet, "DAH") as c:
        assert (await c.describe(url)).status == 200
        assert (await c.setup(url + "/trackID=1")).status == 200
        assert (await c.play(url, Range="npt=0-", Rate_Control="no")).status == 200
        frames = c.decode(await c.units(2))
    check_consistent(frames)
    assert frames[0].unit.ntp_ms == ms(start) - ms(start) % GOP_MS


async def test_black_channel_is_black_apart_from_the_time_code_and_ends_with_e_and_t(
    fleet: Fleet,
) -> None:
    ch = fleet.truth["channels"]["HIK-C4"]
    assert ch["picture"] == "black" and ch["stopped_since"]
    end = instant(ch["stopped_since"])
    async with client(fleet, "HIK") as c:
        reply = await onvif_play(c, ch["replay_uri"], end - dt.timedelta(seconds=2.5))
        assert reply.status == 200
        frames = c.decode(await c.units(100, idle_s=1.0))
    check_consistent(frames)
    assert frames[-1].unit.ntp_ms == ms(end) - FRAME_MS
    assert frames[-1].unit.e and frames[-1].unit.t
    assert not any(f.unit.e for f in frames[:-1])
    for f in frames:
        assert float(f.bgr[12:].mean()) < 3.0


async def test_normal_scene_moves_and_frozen_differ(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["UNV-C1"]
    assert ch["picture"] == "normal"
    start = instant(ch["earliest"]) + dt.timedelta(days=1, hours=1)
    async with client(fleet, "UNV") as c:
        assert (await onvif_play(c, ch["replay_uri"], start, Frames="intra")).status == 200
        frames = c.decode(await c.units(6))
    check_consistent(frames)
    assert all(f.unit.c for f in frames)
    steps = {b.unit.ntp_ms - a.unit.ntp_ms for a, b in itertools.pairwise(frames)}
    assert steps == {GOP_MS}
    # People walk: pictures 10 s apart differ well beyond codec noise (time code excluded).
    diff = np.abs(frames[0].bgr[12:].astype(int) - frames[5].bgr[12:].astype(int)).mean()
    assert diff > 1.0
    assert 60 < float(frames[0].bgr[12:].mean()) < 200


async def test_rate_control_yes_paces_in_real_time(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["UNV-C1"]
    start = instant(ch["earliest"]) + dt.timedelta(days=4)
    async with client(fleet, "UNV") as c:
        url = ch["replay_uri"]
        assert (await c.describe(url)).status == 200
        assert (await c.setup(url)).status == 200
        t0 = time.perf_counter()
        reply = await c.play(url, Require="onvif-replay", Range=f"clock={clock(start)}-")
        assert reply.status == 200
        await c.units(9)
        elapsed = time.perf_counter() - t0
    assert 0.7 < elapsed < 3.0


async def test_servers_exist_where_replay_does_and_truth_says_so(fleet: Fleet) -> None:
    truth = fleet.truth["devices"]
    for device, info in truth.items():
        served = device in fleet.replay_servers
        assert info["replay"]["served"] is served
        assert info["replay"]["timecode_version"] == TIMECODE_VERSION
        assert served == (info["online"] and info["search_supported"])
    dev = fleet.device("OFF")
    with pytest.raises(OSError):
        async with asyncio.timeout(5):
            await asyncio.open_connection(dev.host, dev.rtsp_port)


async def test_axis_url_keepalive_pause_resume_and_teardown(fleet: Fleet) -> None:
    ch = fleet.truth["channels"]["AXIS-C1"]
    url = ch["replay_uri"]
    assert "/onvif-media/record/play.amp?onvifreplayid=" in url
    start = instant(ch["earliest"]) + dt.timedelta(days=1, seconds=1)
    async with client(fleet, "AXIS") as c:
        assert (await onvif_play(c, url, start)).status == 200
        first = c.decode(await c.units(5))
        assert (await c.request("PAUSE", url)).status == 200
        assert (await c.request("GET_PARAMETER", url)).status == 200
        # PLAY without Range resumes at the clean point of the GOP it paused in.
        resumed = await c.play(url, Require="onvif-replay", Rate_Control="no")
        assert resumed.status == 200
        position = int(resumed.headers["range"].split("=")[1].split("-")[0][9:15])
        assert position % 2 == 0
        assert (await c.request("TEARDOWN", url)).status == 200
        assert (await c.request("GET_PARAMETER", url)).status == 454
    check_consistent(first)
    assert first[0].unit.ntp_ms == ms(start) - ms(start) % GOP_MS
