"""Frames from a stream opened by URL, and how opening a URL fails."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.media.clips import Clip
from tests.media.rtsp_stub import rtsp_stub
from tests.media.timecode import read_timecode
from vidaudit.media.containers import open_container
from vidaudit.media.errors import MediaError
from vidaudit.media.stream_frames import frames_from_stream

START = datetime(2026, 11, 20, 2, 32, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["ts", "ts-offset", "mp4-bframes"])
def test_frames_nearest_each_instant_from_the_stream_start(
    clips: dict[str, Clip], kind: str
) -> None:
    # A file read as a stream: no seeking, the first frame is the start instant.
    wanted = [START + timedelta(milliseconds=v) for v in (4310, 0, 1230, 1250)]
    pulled = frames_from_stream(str(clips[kind].path), START, wanted, 5.0)
    assert [read_timecode(p.image) for p in pulled] == [4320, 0, 1240, 1240]
    assert [p.requested for p in pulled] == wanted
    assert pulled[0].actual == START + timedelta(milliseconds=4320)
    assert pulled[0].delta_ms == pytest.approx(10)
    assert pulled[3].delta_ms == pytest.approx(-10)


def test_offsets_work_too(clips: dict[str, Clip]) -> None:
    (pulled,) = frames_from_stream(str(clips["mkv"].path), START, [timedelta(seconds=2.5)], 5.0)
    assert read_timecode(pulled.image) == 2480
    assert pulled.actual == timedelta(seconds=2.48)


def test_stream_ending_before_an_instant_is_not_found(clips: dict[str, Clip]) -> None:
    with pytest.raises(MediaError, match="the stream ended at") as caught:
        frames_from_stream(str(clips["ts"].path), START, [START + timedelta(seconds=7)], 5.0)
    assert caught.value.kind == "not_found"


def test_instant_before_the_stream_is_not_found(clips: dict[str, Clip]) -> None:
    with pytest.raises(MediaError, match="before the stream") as caught:
        frames_from_stream(str(clips["ts"].path), START, [START - timedelta(seconds=1)], 5.0)
    assert caught.value.kind == "not_found"


def test_whole_pull_deadline(clips: dict[str, Clip]) -> None:
    with pytest.raises(MediaError) as caught:
        frames_from_stream(
            str(clips["ts"].path), START, [START + timedelta(seconds=5)], 5.0, max_wall_s=0.0
        )
    assert caught.value.kind == "timeout"


def test_naive_start_is_refused(clips: dict[str, Clip]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        frames_from_stream(str(clips["ts"].path), datetime(2026, 11, 20), [], 5.0)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (404, "not_found"), (457, "unsupported"), (503, "unreachable")],
)
def test_rtsp_status_becomes_an_error_kind(status: int, kind: str) -> None:
    with rtsp_stub(status) as port:
        url = f"rtsp://admin:s3cr%40t@127.0.0.1:{port}/Streaming/tracks/101"
        with pytest.raises(MediaError) as caught:
            frames_from_stream(url, START, [START], 2.0)
    assert caught.value.kind == kind
    assert "s3cr" not in str(caught.value)
    assert f"rtsp://127.0.0.1:{port}/Streaming/tracks/101" in caught.value.message


def test_silent_rtsp_server_times_out() -> None:
    with rtsp_stub(None) as port:
        started = time.monotonic()
        with pytest.raises(MediaError) as caught:
            open_container(f"rtsp://127.0.0.1:{port}/x", timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert elapsed < 3


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(MediaError) as caught:
            open_container(f"rtsp://127.0.0.1:{port}/x", timeout_s=1.0)
    assert caught.value.kind == "unreachable"


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        open_container("x.mp4", timeout_s=0)
