"""Clips cut from exported files (MP4, MKV, MPEG-TS, B-frames, NVR-style timestamps) and
muxed from access units, without re-encoding: the packets in the clip are the source's
packets, and the first and last frames show the instants reported."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import av
import pytest

from tests.media.clips import Clip
from tests.media.timecode import read_timecode
from vidaudit.media.clip import RecordedUnits, _decode_times, clip_from_file, mux_units
from vidaudit.media.errors import MediaError

T0 = dt.datetime(2026, 11, 19, 1, 0, tzinfo=dt.UTC)  # the instant each file's first frame shows


def frames_of(data: bytes) -> list[tuple[int, bool]]:
    """(time code in ms from the source's first frame, keyframe) of each decoded frame."""
    with av.open(io.BytesIO(data)) as container:
        return [
            (read_timecode(frame.to_ndarray(format="bgr24")), frame.key_frame)
            for frame in container.decode(video=0)
        ]


def packet_digests(data: bytes) -> list[str]:
    with av.open(io.BytesIO(data)) as container:
        return [hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(video=0) if p.size]


def test_a_clip_from_each_kind_of_export(clip: Clip) -> None:
    start, end = T0 + dt.timedelta(seconds=2.3), T0 + dt.timedelta(seconds=4.5)
    cut = clip_from_file(clip.path, start, end, file_start=T0)
    frames = frames_of(cut.mp4)
    codes = [code for code, _key in frames]
    assert frames[0][1], "the clip starts at a keyframe"
    # the keyframe at or before 2.3 s is the one at 2.0 s (GOPs of 2 s)
    assert codes[0] == 2000 and cut.first == T0 + dt.timedelta(seconds=2)
    assert codes[-1] == round(cut.frames * clip.frame_ms) + 2000 - round(clip.frame_ms)
    assert abs((cut.last - T0).total_seconds() * 1000 - codes[-1]) <= 1
    assert end - dt.timedelta(milliseconds=clip.frame_ms) <= cut.last <= end
    assert sorted(codes) == codes and len(codes) == cut.frames
    assert cut.codec == "h264" and (cut.width, cut.height) == (640, 360)


def test_the_clip_holds_the_source_packets_unchanged(clips: dict[str, Clip]) -> None:
    source = clips["mp4"]
    cut = clip_from_file(
        source.path, T0 + dt.timedelta(seconds=2), T0 + dt.timedelta(seconds=3.96), file_start=T0
    )
    with av.open(str(source.path)) as container:
        everything = [
            hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(video=0) if p.size
        ]
    copied = packet_digests(cut.mp4)
    # the clip's packets are a run of the source's own packets, byte for byte
    first = everything.index(copied[0])
    assert everything[first : first + len(copied)] == copied


def test_a_range_outside_the_file_is_not_found(clips: dict[str, Clip]) -> None:
    with pytest.raises(MediaError, match=r"no footage|nothing"):
        clip_from_file(
            clips["mp4"].path,
            T0 + dt.timedelta(minutes=5),
            T0 + dt.timedelta(minutes=5, seconds=10),
            file_start=T0,
        )


def test_units_are_muxed_as_they_are(clips: dict[str, Clip]) -> None:
    """Access units (Annex B) with their instants, as RTP delivers them, become an MP4 whose
    packets carry the same bytes (length-prefixed) and whose frames decode in order."""
    source = clips["mp4"]
    with av.open(str(source.path)) as container:
        stream = container.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        units = []
        for packet in container.demux(stream):
            for annexb in bsf.filter(packet) if packet.size else []:
                assert annexb.pts is not None and annexb.time_base is not None
                at = T0 + dt.timedelta(seconds=float(annexb.pts * annexb.time_base))
                units.append((bytes(annexb), at, annexb.is_keyframe))
    recorded = RecordedUnits("h264", (), units[:50], losses=0, source="test")
    clip = mux_units(recorded)
    frames = frames_of(clip.mp4)
    assert [code for code, _key in frames] == [round(i * source.frame_ms) for i in range(50)]
    assert clip.first == T0 and clip.last == units[49][1] and clip.frames == 50
    with av.open(io.BytesIO(clip.mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert container.metadata.get("creation_time", "").startswith("2026-11-19T01:00:00")
        assert stream.duration is not None and stream.time_base is not None
        assert float(stream.duration * stream.time_base) == pytest.approx(50 / source.fps)


def test_decode_times_never_follow_presentation() -> None:
    assert _decode_times([0, 10, 20]) == [0, 10, 20]
    # B-frames: I P B B in decoding order
    pts = [0, 30, 10, 20]
    dts = _decode_times(pts)
    assert dts == sorted(dts) and all(d <= p for d, p in zip(dts, pts, strict=True))
