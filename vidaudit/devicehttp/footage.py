"""Pieces both vendor readers use to turn searches into one channel's footage.

Pure helpers (no I/O): which stretches to search given a day calendar, clipping, and
the walk back to the oldest footage.  Times are device-clock UTC; calendar days are
device-local dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable

Segment = tuple[dt.datetime, dt.datetime]
_DAY = dt.timedelta(days=1)


def local_midnight(day: dt.date, offset: dt.timedelta) -> dt.datetime:
    """The UTC instant a device-local day starts."""
    return dt.datetime.combine(day, dt.time(), dt.UTC) - offset


def months_between(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def day_runs(
    days: Iterable[dt.date],
    start: dt.datetime,
    end: dt.datetime,
    offset: dt.timedelta,
) -> list[Segment]:
    """The parts of ``[start, end)`` on calendar days with footage, consecutive days
    joined: the only stretches worth searching (a day the calendar shows empty holds
    nothing, so it is known without a search)."""
    tz = dt.timezone(offset)
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    wanted = sorted(d for d in set(days) if first <= d <= last)
    runs: list[Segment] = []
    for day in wanted:
        lo = max(start, local_midnight(day, offset))
        hi = min(end, local_midnight(day + _DAY, offset))
        if lo >= hi:
            continue
        if runs and runs[-1][1] == lo:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))
    return runs


def clip(segments: Iterable[Segment], start: dt.datetime, end: dt.datetime) -> list[Segment]:
    """Segments inside ``[start, end)``, sorted, overlapping ones merged."""
    out: list[Segment] = []
    for s, e in sorted(segments):
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


async def step_back(
    first_before: Callable[[dt.datetime, dt.datetime], Awaitable[dt.datetime | None]],
    cursor: dt.datetime,
    limit: dt.datetime,
) -> tuple[dt.datetime | None, bool]:
    """The oldest footage before ``cursor``: search ``[cursor - step, cursor)`` with the
    step doubling from a day, until a step finds nothing or ``limit`` is reached.

    ``first_before(lo, hi)`` gives the oldest footage start in ``[lo, hi)`` or None.
    Returns (oldest found or None, bounded): ``bounded`` when the limit stopped the walk
    while footage was still being found, i.e. footage is older still.
    """
    oldest: dt.datetime | None = None
    step = _DAY
    while cursor > limit:
        lo = max(limit, cursor - step)
        found = await first_before(lo, cursor)
        if found is None:
            return oldest, False
        oldest = found if oldest is None else min(oldest, found)
        cursor = lo
        step *= 2
    return oldest, oldest is not None
