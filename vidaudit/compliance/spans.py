"""Time spans and the set operations the rules need (merge, clip, complement).

Hand-written because it is twenty lines over aware datetimes; an interval library would
add a dependency for less clarity.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Span:
    """A half-open span ``[start, end)`` of aware datetimes."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("spans hold aware datetimes only")
        if self.end < self.start:
            raise ValueError(f"span ends before it starts: {self.start} > {self.end}")

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans; touching spans are joined."""
    out: list[Span] = []
    for span in sorted(spans):
        if span.end == span.start:
            continue
        if out and span.start <= out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def clip(spans: Iterable[Span], lo: dt.datetime, hi: dt.datetime) -> list[Span]:
    """The parts of merged ``spans`` inside ``[lo, hi)``."""
    out = []
    for span in merge(spans):
        start, end = max(span.start, lo), min(span.end, hi)
        if start < end:
            out.append(Span(start, end))
    return out


def complement(spans: Iterable[Span], lo: dt.datetime, hi: dt.datetime) -> list[Span]:
    """The gaps: parts of ``[lo, hi)`` that no span covers."""
    gaps = []
    cursor = lo
    for span in clip(spans, lo, hi):
        if span.start > cursor:
            gaps.append(Span(cursor, span.start))
        cursor = max(cursor, span.end)
    if cursor < hi:
        gaps.append(Span(cursor, hi))
    return gaps


def total(spans: Iterable[Span]) -> dt.timedelta:
    return sum((span.duration for span in merge(spans)), dt.timedelta())


class Timeline:
    """Merged spans indexed for repeated window queries (one per business day).

    ``clip``/``complement`` above re-merge their input on every call; over 30 days of
    footage with hundreds of spans that dominates a channel's evaluation, so a timeline
    merges once and finds each window's spans by bisection.
    """

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = merge(spans)
        self._ends = [span.end for span in self.spans]

    def clip(self, lo: dt.datetime, hi: dt.datetime) -> list[Span]:
        out = []
        for span in self.spans[bisect.bisect_right(self._ends, lo) :]:
            if span.start >= hi:
                break
            start, end = max(span.start, lo), min(span.end, hi)
            if start < end:
                out.append(Span(start, end))
        return out

    def complement(self, lo: dt.datetime, hi: dt.datetime) -> list[Span]:
        gaps = []
        cursor = lo
        spans = self.spans
        for index in range(bisect.bisect_right(self._ends, lo), len(spans)):
            span = spans[index]
            if span.start >= hi:
                break
            if span.start > cursor:
                gaps.append(Span(cursor, span.start))
            if span.end > cursor:
                cursor = span.end
        if cursor < hi:
            gaps.append(Span(cursor, hi))
        return gaps

    def complements(self, windows: Iterable[Span]) -> list[list[Span]]:
        """``complement`` of each window, for windows sorted and not overlapping (the
        business days of a month): one forward sweep instead of a search per window, and
        a window inside one span (a covered day, nearly all of them) costs a comparison."""
        out: list[list[Span]] = []
        spans, ends = self.spans, self._ends
        index: int | None = None
        for window in windows:
            lo, hi = window.start, window.end
            if index is None:
                index = bisect.bisect_right(ends, lo)
            while index < len(spans) and ends[index] <= lo:
                index += 1
            if index < len(spans) and spans[index].start <= lo and ends[index] >= hi:
                out.append([])
            else:
                out.append(self.complement(lo, hi))
        return out

    def covered(self, lo: dt.datetime, hi: dt.datetime) -> dt.timedelta:
        """How much of ``[lo, hi)`` the spans cover."""
        return sum((span.duration for span in self.clip(lo, hi)), dt.timedelta())
