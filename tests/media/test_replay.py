"""ONVIF replay pulls (clock ranges, 0xABAC) against a loopback fake server; RTP parsing."""

from __future__ import annotations

import socket
import struct
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tests.media.clips import Clip
from tests.media.fake_replay import FakeReplay, Frame, fake_replay, load_frames
from tests.media.rtsp_stub import rtsp_stub
from tests.media.timecode import read_timecode
from vidaudit.media.depacketize import Depacketizer
from vidaudit.media.errors import MediaError
from vidaudit.media.ranges import format_clock
from vidaudit.media.replay import pull_replay_frames
from vidaudit.media.rtp import parse_rtp
from vidaudit.media.stretches import plan_stretches

ORIGIN = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
PASSWORD = SecretStr("s3cr3t-pw")


def ms(value: int) -> datetime:
    return ORIGIN + timedelta(milliseconds=value)


@pytest.fixture(scope="module")
def frames(clips: dict[str, Clip]) -> list[Frame]:
    return load_frames(clips["ts"].path)


@pytest.mark.parametrize("mode", ["ok", "no-ext"])
async def test_clock_range_pull_gives_the_frame_the_time_code_shows(
    frames: list[Frame], mode: str
) -> None:
    server = FakeReplay(frames, ORIGIN, mode=mode)
    wanted = [ms(4310), ms(1230), ms(1250), ms(5960)]
    async with fake_replay(server) as port:
        started = time.monotonic()
        pulled = await pull_replay_frames(
            f"rtsp://admin:{PASSWORD.get_secret_value()}@127.0.0.1:{port}/replay",
            "admin",
            PASSWORD,
            wanted,
            timeout_s=3,
            reuse_within=timedelta(seconds=2),
        )
        elapsed = time.monotonic() - started
    assert [read_timecode(p.image) for p in pulled] == [4320, 1240, 1240, 5960]
    for p in pulled:
        assert p.actual == ms(read_timecode(p.image))
    assert pulled[0].delta_ms == pytest.approx(10)
    assert pulled[1].keyframe_distance == 31  # decoded forward from the keyframe at 0 s
    assert "s3cr3t" not in pulled[0].source
    plays = [r for r in server.requests if r.startswith("PLAY")]
    assert len(plays) == 2  # 1230/1250 share a PLAY; 4310 and 5960 share another
    assert "Require: onvif-replay" in plays[0]
    assert "Rate-Control: no" in plays[0]
    assert "Range: clock=20261120T020001.230Z-" in plays[0]
    assert any(r.startswith("PAUSE") for r in server.requests)
    assert server.requests[-1].startswith("TEARDOWN")
    assert elapsed < 2


async def test_outside_the_recording_is_no_footage(frames: list[Frame]) -> None:
    server = FakeReplay(frames, ORIGIN)
    async with fake_replay(server) as port:
        with pytest.raises(MediaError, match="no footage at 2026-11-20T02:01:00") as caught:
            await pull_replay_frames(
                f"rtsp://127.0.0.1:{port}/replay", "u", PASSWORD, [ms(60_000)], timeout_s=3
            )
    assert caught.value.kind == "not_found"
    assert server.requests[-1].startswith("TEARDOWN")


@pytest.mark.parametrize(
    ("mode", "kind"), [("garbage", "malformed"), ("require-551", "unsupported")]
)
async def test_misbehaving_servers(frames: list[Frame], mode: str, kind: str) -> None:
    async with fake_replay(FakeReplay(frames, ORIGIN, mode=mode)) as port:
        with pytest.raises(MediaError) as caught:
            await pull_replay_frames(
                f"rtsp://127.0.0.1:{port}/replay", "u", PASSWORD, [ms(0)], timeout_s=2
            )
    assert caught.value.kind == kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "auth"),
        (403, "auth"),
        (404, "not_found"),
        (454, "not_found"),
        (551, "unsupported"),
        (503, "unreachable"),
    ],
)
async def test_status_codes_become_error_kinds(status: int, kind: str) -> None:
    with rtsp_stub(status) as port, pytest.raises(MediaError) as caught:
        await pull_replay_frames(
            f"rtsp://admin:{PASSWORD.get_secret_value()}@127.0.0.1:{port}/r",
            "admin",
            PASSWORD,
            [ms(0)],
            timeout_s=2,
        )
    assert caught.value.kind == kind
    assert "s3cr3t" not in str(caught.value)


async def test_silence_times_out_and_closed_port_is_unreachable() -> None:
    with rtsp_stub(None) as port:
        started = time.monotonic()
        with pytest.raises(MediaError) as caught:
            await pull_replay_frames(
                f"rtsp://127.0.0.1:{port}/r", "", PASSWORD, [ms(0)], timeout_s=0.5
            )
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 3
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(MediaError) as caught:
            await pull_replay_frames(
                f"rtsp://127.0.0.1:{port}/r", "", PASSWORD, [ms(0)], timeout_s=1
            )
    assert caught.value.kind == "unreachable"


def test_arguments_are_checked() -> None:
    assert (
        format_clock(datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)) == "20261120T100000.123Z"
    )
    groups = plan_stretches([ms(5000), ms(0), ms(3000), ms(20000)], timedelta(seconds=4))
    assert [[i for i, _ in g] for g in groups] == [[1, 2, 0], [3]]


async def test_naive_instants_and_npt_without_origin_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await pull_replay_frames("rtsp://h/r", "", PASSWORD, [datetime(2026, 1, 1)], timeout_s=1)
    with pytest.raises(ValueError, match="origin"):
        await pull_replay_frames("rtsp://h/r", "", PASSWORD, [ms(0)], timeout_s=1, mode="npt")


def test_rtp_header_extension_and_padding() -> None:
    ext = struct.pack("!HHIIBBH", 0xABAC, 3, 3_972_672_000, 1 << 31, 0xE0, 7, 0)
    payload = b"\x65abc"
    data = struct.pack("!BBHII", 0xB0, 0x80 | 96, 1, 90000, 5) + ext + payload + b"\x00\x00\x03"
    packet = parse_rtp(data)
    assert packet.payload == payload and packet.marker and packet.payload_type == 96
    onvif = packet.onvif
    assert onvif is not None
    assert onvif.clean_point and onvif.end_of_section and onvif.discontinuity
    assert not onvif.terminal and onvif.cseq_low == 7
    assert onvif.instant == datetime(2025, 11, 21, 0, 0, 0, 500000, tzinfo=UTC)


def test_depacketizer_reassembles_fu_a_and_stap_a() -> None:
    def rtp(seq: int, payload: bytes, marker: bool, ts: int = 9000) -> bytes:
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq, ts, 1) + payload

    sps, pps, idr = b"\x67\x01\x02", b"\x68\x03", b"\x65" + bytes(range(200))
    stap = b"\x18" + struct.pack("!H", len(sps)) + sps + struct.pack("!H", len(pps)) + pps
    fu1 = bytes([0x7C, 0x85]) + idr[1:100]
    fu2 = bytes([0x7C, 0x45]) + idr[100:]
    depack = Depacketizer("h264", "test")
    units = []
    for seq, (payload, marker) in enumerate([(stap, False), (fu1, False), (fu2, True)]):
        units += depack.push(parse_rtp(rtp(seq, payload, marker)))
    (unit,) = units
    start = b"\x00\x00\x00\x01"
    assert unit.data == start + sps + start + pps + start + idr
    assert unit.random_access
    # A lost fragment drops the unit being built.
    depack.push(parse_rtp(rtp(3, fu1, False, ts=12000)))
    assert depack.push(parse_rtp(rtp(5, fu2, True, ts=12000))) == []
    assert depack.losses == 1
