"""Where a replay starts and which GOPs follow, on a channel's footage timeline.

All values are integer milliseconds since the epoch on the device's clock.  Sections are
the timeline's intervals (whole seconds).  Frames lie on the ``FRAME_MS`` grid inside a
section; clean points (keyframes) at each section start and at every multiple of
``GOP_MS`` inside it (ONVIF Streaming, "Synchronization points"):

- START inside a section: the clean point at or before START;
- START inside a gap: the first clean point of the next section (the D bit is set);
- START before the earliest footage: the earliest footage;
- START at or after the end of footage recorded so far, or a range with no footage: 457.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vidaudit.sim.rtsp.protocol import RtspError
from vidaudit.sim.rtsp.video import FRAME_MS, GOP_MS
from vidaudit.sim.timeline import Timeline

Section = tuple[int, int]


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def sections(timeline: Timeline) -> list[Section]:
    """The channel's sections, including the ones the schedule has not reached yet."""
    return [(ms(s), ms(e)) for s, e in timeline.intervals]


@dataclass(frozen=True)
class StartPoint:
    section: int
    keyframe_ms: int
    #: START fell in a gap between sections: the first frame follows a discontinuity.
    after_gap: bool


def locate(secs: list[Section], start_ms: int, end_ms: int | None, now_ms: int) -> StartPoint:
    for i, (s, e) in enumerate(secs):
        if e <= start_ms:
            continue
        if s >= now_ms:
            break  # the next section has not been recorded yet
        if s <= start_ms:
            if start_ms >= now_ms:
                break
            point = StartPoint(i, max(s, start_ms - start_ms % GOP_MS), False)
        else:
            point = StartPoint(i, s, i > 0)
        if end_ms is not None and point.keyframe_ms >= end_ms and start_ms < point.keyframe_ms:
            break  # the whole requested range lies in a gap
        return point
    raise RtspError(457, "no recorded footage in the requested range")


def gop_end(section: Section, keyframe_ms: int) -> int:
    """End (exclusive) of the GOP starting at ``keyframe_ms``: the next GOP_MS multiple or
    the section end, whichever comes first."""
    return min(keyframe_ms - keyframe_ms % GOP_MS + GOP_MS, section[1])


def frame_count(start_ms: int, end_ms: int) -> int:
    return -(-(end_ms - start_ms) // FRAME_MS)


__all__ = ["Section", "StartPoint", "frame_count", "gop_end", "locate", "ms", "sections"]
