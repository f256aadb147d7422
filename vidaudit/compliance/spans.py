"""Time spans and the set operations the rules need (merge, clip, complement).

Hand-written because it is twenty lines over aware datetimes; an interval library would
add a dependency for less clarity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
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
