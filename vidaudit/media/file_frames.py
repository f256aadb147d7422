"""Exact frames from an exported file (MP4, MKV, MPEG-TS …) by seeking with PyAV.

Per instant: seek to the keyframe at or before it, decode forward, take the frame nearest
the instant. Instants are handled in time order in one open container; when the next
instant lies in the GOP already being decoded, decoding just continues (a seek would land on
the same keyframe and decode the same frames again).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import av
import av.container
import av.error
import av.video.stream

from vidaudit.media.containers import describe_source, open_container
from vidaudit.media.decode_walk import (
    DEFAULT_GOP,
    DecodedFrame,
    FrameWalk,
    NearestWindow,
    frame_period,
    offset_to_pts,
    to_bgr,
)
from vidaudit.media.errors import MediaError, media_error
from vidaudit.media.pulled import Instant, PulledFrame, format_offset, make_pulled, to_offsets

#: Seeks that land after the instant (a demuxer indexing keyframes by dts, or MPEG-TS's
#: timestamp bisection) are retried this many times, each reaching twice as far back.
_MAX_SEEK_RETRIES = 6


class _FileReader:
    """Seeks and decodes one video stream of an open container."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        what: str,
        timeout_s: float,
    ) -> None:
        self.container = container
        self.stream = stream
        self.what = what
        self.timeout_s = timeout_s
        if stream.time_base is None:
            raise MediaError("malformed", f"{what}: the video stream has no time base")
        self.time_base = stream.time_base
        # Offsets count from the stream's first presentation time (MPEG-TS starts at ~1.4 s).
        self.start_pts = stream.start_time if stream.start_time is not None else 0
        self.walk: FrameWalk | None = None
        self.window: NearestWindow | None = None
        self.gop: timedelta | None = None
        self.seeks = 0

    def nearest(self, offset: timedelta) -> DecodedFrame:
        if not self._can_continue(offset):
            self._seek_before(offset)
        assert self.window is not None
        chosen = self.window.nearest(offset)
        if chosen is None:
            raise MediaError("malformed", f"{self.what}: no frame could be decoded")
        return chosen

    def _can_continue(self, offset: timedelta) -> bool:
        """Whether decoding on from here reaches ``offset`` without passing a new keyframe."""
        if self.walk is None or self.window is None or not self.window.reaches(offset):
            return False
        keyframes = self.walk.keyframe_offsets
        if not keyframes:
            return False
        return offset < keyframes[-1] + (self.gop or DEFAULT_GOP)

    def _seek_before(self, offset: timedelta) -> None:
        # Past the end, seek from the end: MPEG-TS finds nothing to decode beyond it.
        duration = self.container.duration
        end = offset if duration is None else min(offset, timedelta(microseconds=duration))
        back = timedelta(0)
        for _ in range(_MAX_SEEK_RETRIES + 1):
            target = end - back
            first = self._seek(target)
            if first is not None and first.offset <= offset:
                return
            # Nothing decoded (MPEG-TS seeks inside the last GOP, or past the end, find no
            # keyframe) or landed after the instant: reach further back, unless at the start.
            if target <= timedelta(0):
                return
            back = back * 2 if back else (self.gop or DEFAULT_GOP)
        raise MediaError(
            "malformed", f"{self.what}: seeking never landed before {format_offset(offset)}"
        )

    def _seek(self, target: timedelta) -> DecodedFrame | None:
        if self.walk is not None:
            self.gop = self.walk.gop() or self.gop
        pts = offset_to_pts(max(target, timedelta(0)), self.start_pts, self.time_base)
        try:
            self.container.seek(pts, backward=True, any_frame=False, stream=self.stream)
        except (av.error.FFmpegError, OSError) as exc:
            raise media_error(exc, f"{self.what}: seeking", timeout_s=self.timeout_s) from exc
        self.seeks += 1
        self.walk = FrameWalk(
            self.container, self.stream, self.start_pts, self.what, self.timeout_s
        )
        self.window = NearestWindow(self.walk.frames())
        return self.window.first()


def frames_at(
    path: str | Path,
    instants: Sequence[Instant],
    *,
    file_start: datetime | None = None,
    timeout_s: float = 30.0,
    stream_index: int = 0,
) -> list[PulledFrame]:
    """The frame nearest each instant of a file, in the order the instants were given.

    ``instants`` are offsets from the file's first frame, or aware datetimes when
    ``file_start`` (the instant the first frame shows) is given. An instant more than one
    frame period past the last frame, or before the first, raises ``MediaError("not_found")``.
    """
    offsets = to_offsets(instants, file_start)
    if not offsets:
        return []
    described = describe_source(path)
    with open_container(path, timeout_s=timeout_s) as container:
        try:
            stream = container.streams.video[stream_index]
        except IndexError:
            raise MediaError(
                "not_found", f"{described} has no video stream #{stream_index}"
            ) from None
        source = f"{described}#v{stream_index}"
        reader = _FileReader(container, stream, f"reading {source}", timeout_s)
        period = frame_period(stream)
        results: list[PulledFrame | None] = [None] * len(offsets)
        for index in sorted(range(len(offsets)), key=offsets.__getitem__):
            offset = offsets[index]
            if offset < -period / 2:
                raise MediaError(
                    "not_found", f"{format_offset(offset)} is before the start of {source}"
                )
            chosen = reader.nearest(offset)
            if offset - chosen.offset > period:
                raise MediaError(
                    "not_found",
                    f"{format_offset(offset)} is past the end of {source} "
                    f"(last frame at {format_offset(chosen.offset)})",
                )
            results[index] = make_pulled(
                instants[index],
                file_start,
                chosen.offset,
                offset,
                to_bgr(chosen.frame),
                chosen.keyframe_distance,
                source,
            )
    return [pulled for pulled in results if pulled is not None]
