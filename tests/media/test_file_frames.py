"""Exact frames from exported files: the frame whose time code is nearest each instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import pytest

from tests.media.clips import Clip
from tests.media.timecode import read_timecode
from vidaudit.media.errors import MediaError
from vidaudit.media.file_frames import _FileReader, frames_at


def ms(value: float) -> timedelta:
    return timedelta(milliseconds=value)


def test_keyframe_instants_give_the_keyframes(clip: Clip) -> None:
    pulled = frames_at(clip.path, [ms(0), ms(2000), ms(4000)])
    assert [read_timecode(p.image) for p in pulled] == [0, 2000, 4000]
    for p in pulled:
        assert p.actual == p.requested
        assert p.delta_ms == 0
        assert p.keyframe_distance == 0
        assert p.image.shape == (360, 640, 3)


@pytest.mark.parametrize(
    ("requested_ms", "expected_ms"),
    [
        (1230, 1240),  # nearer the next frame
        (1210, 1200),  # nearer the previous frame
        (1220, 1200),  # a tie goes to the earlier frame
        (3999, 4000),  # just before a keyframe: the keyframe is nearest
        (5960, 5960),  # the last frame
        (5990, 5960),  # within one frame period of the last frame
    ],
)
def test_mid_gop_instants_give_the_nearest_frame(
    clip: Clip, requested_ms: int, expected_ms: int
) -> None:
    (pulled,) = frames_at(clip.path, [ms(requested_ms)])
    assert read_timecode(pulled.image) == expected_ms
    assert pulled.actual == ms(expected_ms) == pulled.offset
    assert pulled.delta_ms == pytest.approx(expected_ms - requested_ms)
    assert pulled.keyframe_distance == (expected_ms % 2000) // 40


def test_many_instants_in_one_call_come_back_in_request_order(clip: Clip) -> None:
    requested = [5100, 130, 2730, 2750, 2741, 10, 4000, 1999]
    pulled = frames_at(clip.path, [ms(v) for v in requested])
    assert [p.requested for p in pulled] == [ms(v) for v in requested]
    for p in pulled:
        code = read_timecode(p.image)
        assert p.offset == ms(code)
        assert abs(p.delta_ms) <= clip.frame_ms / 2


def test_instants_in_one_gop_are_decoded_with_one_seek(clips: dict[str, Clip]) -> None:
    with av.open(str(clips["mp4"].path)) as container:
        reader = _FileReader(container, container.streams.video[0], "test", 5.0)
        found = [reader.nearest(ms(v)).offset for v in (4100, 4500, 5000, 5900)]
        assert found == [ms(4080), ms(4480), ms(5000), ms(5880)]
        assert reader.seeks == 1
        reader.nearest(ms(300))  # behind: must seek again
        assert reader.seeks == 2


@pytest.mark.parametrize("requested_s", [6.1, 60, 3600 * 5])
def test_past_the_end_is_a_clear_not_found(clip: Clip, requested_s: float) -> None:
    with pytest.raises(MediaError) as caught:
        frames_at(clip.path, [ms(1000), timedelta(seconds=requested_s)])
    assert caught.value.kind == "not_found"
    assert "past the end" in caught.value.message
    assert "last frame at +5.960 s" in caught.value.message


def test_before_the_start_is_not_found(clips: dict[str, Clip]) -> None:
    with pytest.raises(MediaError, match="before the start") as caught:
        frames_at(clips["mp4"].path, [ms(-500)])
    assert caught.value.kind == "not_found"


def test_absolute_instants_need_the_file_start(clips: dict[str, Clip]) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 11, 20, 10, 32, 0, tzinfo=shanghai)
    wanted = [start + ms(2730), datetime(2026, 11, 20, 2, 32, 1, 500_000, tzinfo=UTC)]
    pulled = frames_at(clips["mkv"].path, wanted, file_start=start)
    assert [read_timecode(p.image) for p in pulled] == [2720, 1480]
    assert pulled[0].actual == start + ms(2720)
    assert pulled[0].delta_ms == pytest.approx(-10)
    assert pulled[1].actual == start + ms(1480)
    assert pulled[1].delta_ms == pytest.approx(-20)


def test_naive_or_unplaceable_instants_are_refused(clips: dict[str, Clip]) -> None:
    path = clips["mp4"].path
    aware = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        frames_at(path, [datetime(2026, 11, 20, 2, 0, 1)], file_start=aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        frames_at(path, [ms(0)], file_start=datetime(2026, 11, 20, 2, 0))
    with pytest.raises(ValueError, match="start instant is unknown"):
        frames_at(path, [aware])


def test_source_names_the_file_and_stream(clips: dict[str, Clip]) -> None:
    (pulled,) = frames_at(clips["ts"].path, [ms(0)])
    assert pulled.source == f"{clips['ts'].path}#v0"
    assert frames_at(clips["ts"].path, []) == []


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as missing:
        frames_at(tmp_path / "nope.mp4", [ms(0)])
    assert missing.value.kind == "not_found"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video\x00" * 500)
    with pytest.raises(MediaError) as bad:
        frames_at(garbage, [ms(0)])
    assert bad.value.kind == "malformed"
