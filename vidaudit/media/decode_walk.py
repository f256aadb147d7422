"""Decoding forward through a video stream and picking the frame nearest an instant.

Shared by file pulls (which seek first) and stream pulls (which decode from the start).
Frames that are passed over are never converted to BGR: only the chosen ones are.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction

import av
import av.container
import av.error
import av.video.stream
import numpy as np

from vidaudit.media.errors import MediaError, media_error
from vidaudit.media.pulled import BgrImage

#: Used to decide "same GOP" until two keyframes have been seen (a common NVR setting).
DEFAULT_GOP = timedelta(seconds=2)
#: Used when the stream declares no frame rate; only widens the end-of-source tolerance.
_FALLBACK_FRAME_PERIOD = timedelta(milliseconds=100)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A decoded frame, its offset from the source's start, and its distance from a keyframe."""

    frame: av.VideoFrame
    offset: timedelta
    keyframe_distance: int | None


def pts_to_offset(pts: int, base_pts: int, time_base: Fraction) -> timedelta:
    """``pts - base_pts`` in ``time_base`` units as a timedelta (microsecond resolution)."""
    seconds = Fraction(pts - base_pts) * time_base
    return timedelta(microseconds=round(seconds * 1_000_000))


def offset_to_pts(offset: timedelta, base_pts: int, time_base: Fraction) -> int:
    """The pts (in ``time_base`` units) of ``offset`` from ``base_pts``; rounds down."""
    micros = offset // timedelta(microseconds=1)
    return base_pts + int(Fraction(micros, 1_000_000) / time_base)


def to_bgr(frame: av.VideoFrame) -> BgrImage:
    """The frame as a BGR array (height × width × 3, uint8)."""
    image = frame.to_ndarray(format="bgr24")
    return np.asarray(image, dtype=np.uint8)


def frame_period(stream: av.video.stream.VideoStream) -> timedelta:
    """One frame's duration as the stream declares it."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        return _FALLBACK_FRAME_PERIOD
    return timedelta(microseconds=round(1_000_000 / Fraction(rate)))


#: Frames without a timestamp tolerated at the start of a stream.
_MAX_LEADING = 8


@dataclass
class FrameWalk:
    """Decodes ``stream`` forward from where the demuxer stands.

    ``base_pts`` is the pts of offset zero; None takes the first packet's pts (a live
    stream's first frame is the URL's start instant). Raises ``MediaError`` on decode errors,
    and on ``deadline`` (a ``time.monotonic()`` value) passing.
    """

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    base_pts: int | None
    what: str
    timeout_s: float
    deadline: float | None = None
    keyframe_offsets: list[timedelta] = field(default_factory=list)
    last_packet_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None

    def frames(self) -> Iterator[DecodedFrame]:
        time_base = self.stream.time_base
        if time_base is None:
            raise MediaError("malformed", f"{self.what}: the video stream has no time base")
        distance: int | None = None
        packets = self.container.demux(self.stream)
        # FFmpeg's RTSP demuxer gives the first access unit(s) no timestamp until it has an
        # RTP timestamp base; such leading frames are held back and placed one frame period
        # apart before the first timestamped frame.
        period_tb = max(1, round(frame_period(self.stream).total_seconds() / time_base))
        leading: list[av.VideoFrame] = []
        while True:
            try:
                packet = next(packets, None)
                if packet is None:
                    break
                self.last_packet_at = time.monotonic()
                if self.deadline is not None and self.last_packet_at > self.deadline:
                    raise MediaError("timeout", f"{self.what}: the time budget ran out")
                decoded = packet.decode()
            except (av.error.FFmpegError, OSError) as exc:
                raise media_error(
                    exc,
                    self.what,
                    elapsed_s=time.monotonic() - self.last_packet_at,
                    timeout_s=self.timeout_s,
                ) from exc
            for frame in decoded:
                if frame.pts is None:
                    if self.base_pts is not None or len(leading) >= _MAX_LEADING:
                        raise MediaError("malformed", f"{self.what}: a decoded frame has no pts")
                    leading.append(frame)
                    continue
                if self.base_pts is None:
                    self.base_pts = frame.pts - len(leading) * period_tb
                placed = [
                    (early, frame.pts - (len(leading) - i) * period_tb)
                    for i, early in enumerate(leading)
                ]
                leading = []
                for decoded_frame, pts in (*placed, (frame, frame.pts)):
                    offset = pts_to_offset(pts, self.base_pts, time_base)
                    if decoded_frame.key_frame:
                        distance = 0
                        self.keyframe_offsets.append(offset)
                    elif distance is not None:
                        distance += 1
                    yield DecodedFrame(decoded_frame, offset, distance)
        self.ended_at = time.monotonic()

    def stalled(self) -> bool:
        """Whether the stream ended because reads timed out rather than at its end.

        FFmpeg's RTSP demuxer can end a stream quietly when the server stops sending.
        """
        if self.ended_at is None:
            return False
        return self.ended_at - self.last_packet_at >= 0.9 * self.timeout_s

    def gop(self) -> timedelta | None:
        """The longest keyframe interval seen so far, if two keyframes were seen."""
        offsets = self.keyframe_offsets
        if len(offsets) < 2:
            return None
        return max(b - a for a, b in itertools.pairwise(offsets))


class NearestWindow:
    """The last two decoded frames of a walk, advanced to straddle each requested offset."""

    def __init__(self, frames: Iterator[DecodedFrame]) -> None:
        self._frames = frames
        self.prev: DecodedFrame | None = None
        self.cur: DecodedFrame | None = None
        self.exhausted = False

    def first(self) -> DecodedFrame | None:
        """Decode the walk's first frame (if not yet done) and return it."""
        if self.cur is None and not self.exhausted:
            self._advance()
        return self.prev or self.cur

    def reaches(self, offset: timedelta) -> bool:
        """Whether ``offset`` is not behind the frames this window still holds."""
        earliest = self.prev or self.cur
        return earliest is None or offset >= earliest.offset

    def nearest(self, offset: timedelta) -> DecodedFrame | None:
        """The decoded frame nearest ``offset`` (the earlier one on a tie); None: no frames.

        Past the end of the walk it is the last frame; the caller judges how far that is.
        """
        while not self.exhausted and (self.cur is None or self.cur.offset < offset):
            self._advance()
        if self.cur is None:
            return None
        if self.cur.offset < offset:  # exhausted before reaching the offset
            return self.cur
        if self.prev is None:
            return self.cur
        # A tie goes to the earlier frame: evidence should not show what came after.
        if offset - self.prev.offset <= self.cur.offset - offset:
            return self.prev
        return self.cur

    def _advance(self) -> None:
        following = next(self._frames, None)
        if following is None:
            self.exhausted = True
            return
        self.prev, self.cur = self.cur, following
