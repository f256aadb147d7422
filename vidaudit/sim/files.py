"""A channel's footage as the recorded *files* a vendor API lists.

Recorders store footage in files: Dahua packs a file every "pack duration" (60 min by
default) and starts a new folder each day; Hikvision cuts by size.  Searches through
ISAPI and Dahua's ``mediaFileFind`` list these files, so the simulator cuts each
recorded interval at ``file_minutes`` from its start and at every device-local midnight.
A file still being written ends at the device's "now".
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator

from vidaudit.sim.plan import Interval
from vidaudit.sim.timeline import Timeline


def _next_midnight(t: dt.datetime, offset: dt.timedelta) -> dt.datetime:
    local = t + offset
    day = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return day - offset


def files(
    timeline: Timeline,
    lo: dt.datetime,
    hi: dt.datetime,
    now: dt.datetime,
    file_minutes: int,
    local_offset: dt.timedelta,
) -> Iterator[Interval]:
    """Files overlapping ``[lo, hi)`` that exist at device time ``now``, oldest first."""
    length = dt.timedelta(minutes=file_minutes)
    intervals = timeline.intervals
    ends = timeline.ends
    for index in range(bisect.bisect_right(ends, lo), len(intervals)):
        start, end = intervals[index]
        end = min(end, now)
        if start >= hi or start >= now:
            return
        if start >= end:
            continue
        # Files restart at each local midnight, so the file holding ``lo`` starts at
        # max(interval start, that day's midnight) + k * length.
        t = start
        if lo > start:
            day_start = _next_midnight(lo, local_offset) - dt.timedelta(days=1)
            t = max(start, day_start)
            t += length * int((lo - t) / length)
        while t < end and t < hi:
            cut = min(t + length, end, _next_midnight(t, local_offset))
            if cut > lo:
                yield (t, cut)
            t = cut
