"""A channel's recorded footage as sorted, disjoint intervals on the device's own clock.

Every time here is an aware UTC datetime *as the device stamps it* (true UTC plus the
device's clock drift): an NVR records by its own clock, so its schedule, its index and
its search answers all live on that clock.  Intervals are whole seconds.  The last
interval may end in the future (the device is still recording); queries clip at the
device's "now", so a fleet left running keeps growing its footage like a real NVR.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from vidaudit.sim.plan import BranchPlan, ChannelPlan, Interval, Pattern

#: How far past generation the schedule is laid out, so a long demo keeps recording.
HORIZON = dt.timedelta(days=30)


def whole_seconds(t: dt.datetime) -> dt.datetime:
    return t.replace(microsecond=0)


def subtract(intervals: Iterable[Interval], gap: Interval) -> list[Interval]:
    """``intervals`` minus ``gap``; inputs and output sorted and disjoint."""
    g0, g1 = gap
    out: list[Interval] = []
    for s, e in intervals:
        if e <= g0 or s >= g1:
            out.append((s, e))
            continue
        if s < g0:
            out.append((s, g0))
        if e > g1:
            out.append((g1, e))
    return out


def intersect(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    w0, w1 = window
    return [(max(s, w0), min(e, w1)) for s, e in intervals if e > w0 and s < w1]


def complement(intervals: list[Interval], window: Interval) -> list[Interval]:
    """The parts of ``window`` not covered by ``intervals`` (the gaps)."""
    w0, w1 = window
    gaps: list[Interval] = []
    cursor = w0
    for s, e in intersect(intervals, window):
        if s > cursor:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < w1:
        gaps.append((cursor, w1))
    return gaps


@dataclass(frozen=True)
class Timeline:
    intervals: tuple[Interval, ...]

    @property
    def earliest(self) -> dt.datetime | None:
        return self.intervals[0][0] if self.intervals else None

    def until(self, now: dt.datetime) -> list[Interval]:
        """Footage that exists at device time ``now``."""
        return [(s, min(e, now)) for s, e in self.intervals if s < now]

    def latest(self, now: dt.datetime) -> dt.datetime | None:
        done = self.until(now)
        return done[-1][1] if done else None

    def recording_at(self, t: dt.datetime) -> bool:
        i = bisect.bisect_right(self._starts, t) - 1
        return i >= 0 and t < self.intervals[i][1]

    def gaps(self, now: dt.datetime) -> list[Interval]:
        """No-footage periods between the earliest and the latest footage at ``now``."""
        done = self.until(now)
        if not done:
            return []
        return complement(done, (done[0][0], done[-1][1]))

    def transitions(
        self, lo: dt.datetime, hi: dt.datetime, now: dt.datetime
    ) -> list[tuple[dt.datetime, bool]]:
        """Data-present changes with ``lo <= t < hi`` that have happened by ``now``."""
        out: list[tuple[dt.datetime, bool]] = []
        first = max(0, bisect.bisect_left(self._ends, lo))
        for s, e in self.intervals[first:]:
            if s >= hi or s >= now:
                break
            if lo <= s:
                out.append((s, True))
            if lo <= e < hi and e <= now:
                out.append((e, False))
        return out

    @cached_property
    def _starts(self) -> list[dt.datetime]:
        return [s for s, _ in self.intervals]

    @property
    def ends(self) -> list[dt.datetime]:
        """Interval ends in order (for bisection by callers)."""
        return self._ends

    @cached_property
    def _ends(self) -> list[dt.datetime]:
        return [e for _, e in self.intervals]


def _schedule(
    channel: ChannelPlan, branch: BranchPlan, start: dt.datetime, end: dt.datetime
) -> list[Interval]:
    if channel.pattern is Pattern.CONTINUOUS:
        return [(start, end)]
    zone = ZoneInfo(branch.timezone)
    margin = channel.pattern is Pattern.BUSINESS_HOURS
    before = dt.timedelta(minutes=channel.record_before_open_min if margin else 0)
    after = dt.timedelta(minutes=channel.record_after_close_min if margin else 0)
    out: list[Interval] = []
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    while day <= last:
        hours = branch.hours_on(day)
        if hours is not None:
            opening = dt.datetime.combine(day, hours.open, zone).astimezone(dt.UTC) - before
            closing = dt.datetime.combine(day, hours.close, zone).astimezone(dt.UTC) + after
            out.append((opening, closing))
        day += dt.timedelta(days=1)
    return intersect(out, (start, end))


def _random_gaps(
    footage: list[Interval], channel: ChannelPlan, seed: int, now: dt.datetime
) -> list[Interval]:
    rng = random.Random(f"{seed}:{channel.id}:gaps")
    done = [(s, min(e, now)) for s, e in footage if s < now]
    total = sum((e - s).total_seconds() for s, e in done)
    gaps: list[Interval] = []
    if total <= 0:
        return gaps
    lo, hi = channel.random_gap_minutes
    for _ in range(channel.random_gaps):
        length = dt.timedelta(minutes=rng.uniform(lo, hi))
        # Place the gap inside footage (a gap at night on a business-hours channel
        # would be invisible), weighting intervals by their length.
        at = rng.uniform(0, total)
        for s, e in done:
            span = (e - s).total_seconds()
            if at <= span:
                begin = whole_seconds(s + dt.timedelta(seconds=at))
                gaps.append((begin, whole_seconds(begin + length)))
                break
            at -= span
    return gaps


def build_timeline(
    channel: ChannelPlan, branch: BranchPlan, device_now: dt.datetime, seed: int
) -> Timeline:
    """Lay out the footage a channel holds, anchored at ``device_now`` (device clock)."""
    device_now = whole_seconds(device_now)
    start = whole_seconds(device_now - dt.timedelta(days=channel.retention_days))
    end = device_now + HORIZON
    if channel.stopped_since is not None:
        end = min(end, whole_seconds(channel.stopped_since))
    footage = _schedule(channel, branch, start, end) if end > start else []
    for gap in list(channel.gaps) + _random_gaps(footage, channel, seed, device_now):
        footage = subtract(footage, (whole_seconds(gap[0]), whole_seconds(gap[1])))
    footage = [(whole_seconds(s), whole_seconds(e)) for s, e in footage if e > s]
    return Timeline(tuple(footage))
