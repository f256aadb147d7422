"""Short clips of recorded video as MP4, as recorded: the access units are copied into the
container (a remux), never decoded and encoded again, so the clip is the footage itself.

Two sources: access units pulled over RTSP (``replay.pull_replay_units``: ONVIF replay or
a vendor playback URL) and an exported file (``clip_from_file``: MP4, MKV, MPEG-TS …).

A clip starts at the clean point (IDR/IRAP) at or before the requested start, because
nothing before it can be decoded; it says which instants its first and last frames show,
and those are what is reported and registered.  Each sample keeps its presentation time
(the RTP or container clock, in 1/90,000 s), the MP4 is written with its index at the
front (``faststart``) so a browser plays it before it has it all, and its
``creation_time`` is the first frame's instant.

Hand-written only where PyAV has no call for it: PyAV muxes packets, but packets built
from RTP need a stream to belong to; the stream's parameters (size, SPS/PPS) come from
FFmpeg's own raw H.264/H.265 demuxer run over the clip's first unit.
"""

from __future__ import annotations

import io
import itertools
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.error
import av.video.stream

from vidaudit.media.containers import describe_source, open_container
from vidaudit.media.depacketize import START_CODE, VideoCodec
from vidaudit.media.errors import MediaError, media_error
from vidaudit.media.pulled import require_aware

#: the MP4's clock: RTP's video clock, so RTP instants are kept to the tick
TIME_BASE = Fraction(1, 90_000)
#: codec names as FFmpeg and our depacketiser name them -> the raw demuxer's format
_RAW_FORMAT: dict[str, str] = {"h264": "h264", "hevc": "hevc"}


@dataclass(frozen=True)
class RecordedUnits:
    """Access units as recorded, each with the instant it shows (the source's clock)."""

    codec: VideoCodec
    #: out-of-band parameter sets (SDP sprop-*), without start codes
    parameter_sets: tuple[bytes, ...]
    #: (Annex B data, instant, random access) in decoding order
    units: list[tuple[bytes, datetime, bool]]
    #: packets lost while receiving (the clip skips to the next clean point after each)
    losses: int
    source: str


@dataclass(frozen=True)
class Clip:
    mp4: bytes
    codec: str
    #: the instants the first and last frames show (the source's clock)
    first: datetime
    last: datetime
    frames: int
    width: int
    height: int
    losses: int
    source: str

    @property
    def duration(self) -> timedelta:
        return self.last - self.first


def _ticks(delta: timedelta) -> int:
    return round(delta / timedelta(microseconds=1) * 90_000 / 1_000_000)


def _decode_times(pts: list[int]) -> list[int]:
    """Decoding times for presentation times given in decoding order: the sorted
    presentation times, moved back just enough that none is after its own presentation
    (no B-frames, as in most surveillance streams: dts = pts)."""
    ordered = sorted(pts)
    delay = max((o - p for o, p in zip(ordered, pts, strict=True)), default=0)
    return [o - max(delay, 0) for o in ordered]


def mux_units(recorded: RecordedUnits) -> Clip:
    """The units as an MP4 (no re-encoding); CPU and file work: run it in a thread."""
    units = recorded.units
    if not units:
        raise MediaError("not_found", f"{recorded.source}: nothing to put in a clip")
    if recorded.codec not in _RAW_FORMAT:
        raise MediaError("unsupported", f"{recorded.source}: cannot mux {recorded.codec}")
    prefix = b"".join(START_CODE + ps for ps in recorded.parameter_sets)
    first_data = prefix + units[0][0]
    origin = units[0][1]
    pts = [_ticks(instant - origin) for _data, instant, _key in units]
    dts = _decode_times(pts)
    step = _typical_step(sorted(pts))
    fd, name = tempfile.mkstemp(suffix=".mp4", prefix="vidaudit-clip-")
    os.close(fd)
    path = Path(name)
    try:
        try:
            template = av.open(io.BytesIO(first_data), format=_RAW_FORMAT[recorded.codec])
        except (av.error.FFmpegError, OSError) as exc:
            raise media_error(exc, f"{recorded.source}: reading the first unit") from exc
        with template:
            source_stream = template.streams.video[0]
            width = source_stream.codec_context.width
            height = source_stream.codec_context.height
            with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                out.metadata["creation_time"] = origin.isoformat()
                stream = out.add_stream_from_template(source_stream)
                stream.time_base = TIME_BASE
                ordered = sorted(set(pts))
                following = dict(itertools.pairwise(ordered))
                for index, (data, _instant, key) in enumerate(units):
                    packet = av.Packet(first_data if index == 0 else data)
                    packet.stream = stream
                    packet.time_base = TIME_BASE
                    packet.pts, packet.dts = pts[index], dts[index]
                    packet.duration = following.get(pts[index], pts[index] + step) - pts[index]
                    packet.is_keyframe = key
                    out.mux(packet)
        data = path.read_bytes()
    except av.error.FFmpegError as exc:
        raise media_error(exc, f"{recorded.source}: writing the clip") from exc
    finally:
        path.unlink(missing_ok=True)
    shown = sorted(instant for _data, instant, _key in units)
    return Clip(
        mp4=data,
        codec=recorded.codec,
        first=shown[0],
        last=shown[-1],
        frames=len(units),
        width=width,
        height=height,
        losses=recorded.losses,
        source=recorded.source,
    )


def _typical_step(ordered: Sequence[int]) -> int:
    """The commonest distance between frames (the last sample's duration)."""
    steps = sorted(b - a for a, b in itertools.pairwise(ordered) if b > a)
    return steps[len(steps) // 2] if steps else 9000  # one unit: 1/10 s


#: seeks that land after the start (MPEG-TS bisects timestamps) are retried this often,
#: each reaching twice as far back
_MAX_SEEK_RETRIES = 6


def _seek_keyframe_before(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: int,
    zero: int,
    described: str,
    timeout_s: float,
) -> None:
    """Leave ``container`` positioned so that demuxing meets a keyframe at or before
    ``wanted`` (pts) first, or the file's first keyframe when none is before it."""
    assert stream.time_base is not None
    back = 0
    step = max(1, int(2 / stream.time_base))  # two seconds, a usual GOP
    for _ in range(_MAX_SEEK_RETRIES + 1):
        target = max(wanted - back, zero)
        try:
            container.seek(target, backward=True, any_frame=False, stream=stream)
            first = next(
                (p.pts for p in container.demux(stream) if p.pts is not None and p.is_keyframe),
                None,
            )
            if first is not None and (first <= wanted or target == zero):
                # the same seek lands in the same place: demuxing starts there again
                container.seek(target, backward=True, any_frame=False, stream=stream)
                return
        except (av.error.FFmpegError, OSError) as exc:
            raise media_error(exc, f"reading {described}: seeking", timeout_s=timeout_s) from exc
        back = back * 2 if back else step
    raise MediaError("malformed", f"{described}: seeking never landed before the clip's start")


def clip_from_file(
    path: str | Path,
    start: datetime,
    end: datetime,
    *,
    file_start: datetime,
    timeout_s: float = 30.0,
    stream_index: int = 0,
) -> Clip:
    """``[start, end]`` of an exported file as an MP4 clip, packets copied as they are.

    ``file_start`` is the instant the file's first frame shows.  The clip starts at the
    keyframe at or before ``start``; ``MediaError("not_found")`` when the file holds
    nothing of the range."""
    for value, name in ((start, "start"), (end, "end"), (file_start, "file_start")):
        require_aware(value, name)
    if end <= start:
        raise ValueError("end must be after start")
    described = describe_source(path)
    with open_container(path, timeout_s=timeout_s) as container:
        try:
            stream = container.streams.video[stream_index]
        except IndexError:
            raise MediaError(
                "not_found", f"{described} has no video stream #{stream_index}"
            ) from None
        time_base = stream.time_base
        if time_base is None:
            raise MediaError("malformed", f"{described}: the video stream has no time base")
        zero = stream.start_time or 0

        def instant(pts: int) -> datetime:
            return file_start + timedelta(seconds=float((pts - zero) * time_base))

        wanted = zero + int((start - file_start).total_seconds() / time_base)
        _seek_keyframe_before(container, stream, max(wanted, zero), zero, described, timeout_s)
        fd, name = tempfile.mkstemp(suffix=".mp4", prefix="vidaudit-clip-")
        os.close(fd)
        out_path = Path(name)
        shown: list[datetime] = []
        try:
            with av.open(
                str(out_path), "w", format="mp4", options={"movflags": "+faststart"}
            ) as out:
                target = out.add_stream_from_template(stream)
                started = False
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue
                    if not started:
                        if not packet.is_keyframe:
                            continue  # a seek may land before the keyframe's packet
                        if instant(packet.pts) > start + timedelta(seconds=5):
                            raise MediaError(
                                "not_found",
                                f"{described}: no footage at {start.isoformat()}",
                            )
                        started = True
                        out.metadata["creation_time"] = instant(packet.pts).isoformat()
                    if instant(packet.pts) > end:
                        break
                    shown.append(instant(packet.pts))
                    packet.stream = target
                    out.mux(packet)
            data = out_path.read_bytes()
        except av.error.FFmpegError as exc:
            raise media_error(exc, f"reading {described}", timeout_s=timeout_s) from exc
        finally:
            out_path.unlink(missing_ok=True)
        if not shown or max(shown) < start:
            raise MediaError(
                "not_found",
                f"{described}: nothing between {start.isoformat()} and {end.isoformat()}",
            )
        context = stream.codec_context
        return Clip(
            mp4=data,
            codec=context.name,
            first=min(shown),
            last=max(shown),
            frames=len(shown),
            width=context.width,
            height=context.height,
            losses=0,
            source=f"{described}#v{stream_index}",
        )
