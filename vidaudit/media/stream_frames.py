"""Frames nearest given instants from a stream opened by URL (vendor playback over RTSP).

A vendor playback URL carries its start time in the query (``vendor_urls``); the server
starts the stream there, so the stream's first frame shows ``start_instant`` and each later
frame shows ``start_instant`` + its pts distance from the first packet. The stream cannot be
seeked by absolute time (FFmpeg only sends ``Range: npt=``), so it is decoded from the start:
build the URL to start shortly before the first instant you want.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import av.container

from vidaudit.media.containers import RtspTransport, describe_source, open_container
from vidaudit.media.decode_walk import FrameWalk, NearestWindow, frame_period, to_bgr
from vidaudit.media.errors import MediaError
from vidaudit.media.pulled import (
    Instant,
    PulledFrame,
    format_offset,
    make_pulled,
    require_aware,
    to_offsets,
)


def frames_from_stream(
    url: str | Path,
    start_instant: datetime,
    instants: Sequence[Instant],
    timeout_s: float,
    *,
    rtsp_transport: RtspTransport = "tcp",
    max_wall_s: float | None = None,
) -> list[PulledFrame]:
    """The frame nearest each instant, decoding ``url`` from its start; in request order.

    ``instants`` are aware datetimes or offsets from ``start_instant``. ``timeout_s`` bounds
    the open and every read; ``max_wall_s`` (default: none) bounds the whole pull, since a
    playback stream usually arrives at real-time speed.
    Raises ``MediaError``: ``not_found`` when the stream ends before an instant or starts
    after it, ``timeout`` when reads or the whole pull run out of time, and the open's kinds.
    """
    require_aware(start_instant, "start_instant")
    if not instants:
        return []
    deadline = None if max_wall_s is None else time.monotonic() + max_wall_s
    described = describe_source(url)
    with open_container(url, timeout_s=timeout_s, rtsp_transport=rtsp_transport) as container:
        return frames_from_container(
            container, f"{described}#v0", start_instant, instants, timeout_s, deadline
        )


def frames_from_container(
    container: av.container.InputContainer,
    source: str,
    start_instant: datetime,
    instants: Sequence[Instant],
    timeout_s: float,
    deadline: float | None = None,
) -> list[PulledFrame]:
    """The frame nearest each instant, decoding an opened container from its first frame,
    which shows ``start_instant``; in request order (see ``frames_from_stream``)."""
    offsets = to_offsets(instants, start_instant)
    if not offsets:
        return []
    stream = container.streams.video[0]
    what = f"reading {source}"
    walk = FrameWalk(container, stream, None, what, timeout_s, deadline)
    window = NearestWindow(walk.frames())
    period = frame_period(stream)
    results: list[PulledFrame | None] = [None] * len(offsets)
    for index in sorted(range(len(offsets)), key=offsets.__getitem__):
        offset = offsets[index]
        chosen = window.nearest(offset)
        if chosen is None:
            if walk.stalled():
                raise MediaError("timeout", f"{what}: no data within {timeout_s:g} s")
            raise MediaError("not_found", f"{what}: the stream carried no frame")
        if offset - chosen.offset > period:
            if walk.stalled():
                last = format_offset(chosen.offset)
                raise MediaError("timeout", f"{what}: no data within {timeout_s:g} s after {last}")
            raise MediaError(
                "not_found",
                f"{what}: the stream ended at {format_offset(chosen.offset)}, "
                f"before {format_offset(offset)}",
            )
        if chosen.offset - offset > period:
            raise MediaError(
                "not_found",
                f"{what}: {format_offset(offset)} is before the stream's first frame",
            )
        results[index] = make_pulled(
            instants[index],
            start_instant,
            chosen.offset,
            offset,
            to_bgr(chosen.frame),
            chosen.keyframe_distance,
            source,
        )
    return [pulled for pulled in results if pulled is not None]
