"""Pieces both vendor readers use to turn searches into one channel's footage.

Helpers that take the searches as arguments (no I/O of their own): which stretches to
search given a day calendar, clipping, the walk back to the oldest footage, and building
on what an earlier read settled (``readings.KnownFootage``).  Times are device-clock UTC;
calendar days are device-local dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable

from vidaudit.readings import ChannelFootage, KnownFootage

Segment = tuple[dt.datetime, dt.datetime]
#: Every segment overlapping ``[lo, hi)``, all pages followed.
Search = Callable[[dt.datetime, dt.datetime], Awaitable[list[Segment]]]
#: The oldest footage start in ``[lo, hi)`` (one page asked), or None.
FirstIn = Callable[[dt.datetime, dt.datetime], Awaitable[dt.datetime | None]]
_DAY = dt.timedelta(days=1)
#: Footage younger than this is never settled: the file being written still grows, a
#: recorder may list a file only once it is closed, and a camera's own storage may fill
#: a short network outage afterwards (Hikvision ANR).  Searched again on every read.
UNSETTLED = dt.timedelta(hours=2)


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


def usable(known: KnownFootage | None, disks: str | None, now: dt.datetime) -> KnownFootage | None:
    """``known`` if this read may build on it: the recorder has the same disks, and its
    clock has not gone back past what was settled."""
    if known is None or known.disks != disks or known.settled_until > now:
        return None
    return known


async def continue_known(
    known: KnownFootage, search: Search, first_in: FirstIn, now: dt.datetime
) -> tuple[list[Segment], dt.datetime | None] | None:
    """(segments, earliest) from ``known`` plus two searches: what is new since it
    settled, and the oldest footage from the known oldest on (the edge the recorder
    overwrites when full).  None when the oldest day known is gone entirely: more
    changed than overwriting explains, so the channel must be read in full."""
    new = await search(known.settled_until, now)
    earliest = known.earliest
    if earliest is not None:
        edge = await first_in(earliest, earliest + _DAY)
        if edge is None:
            return None
        earliest = edge
    segments = [*known.segments, *new]
    if earliest is not None:
        # footage before the edge has been overwritten since it was read
        segments = [(max(s, earliest), e) for s, e in segments if e > earliest]
    elif new:
        earliest = min(s for s, _ in new)
    return segments, earliest


def footage(
    number: int,
    start: dt.datetime,
    now: dt.datetime,
    raw: list[Segment],
    *,
    earliest: dt.datetime | None,
    earliest_bounded: bool,
    disks: str | None,
    read_in_full_at: dt.datetime,
    continued: bool,
    days_with_footage: frozenset[dt.date] | None = None,
    camera_online: bool | None = None,
    settled_before: dt.datetime | None = None,
) -> ChannelFootage:
    """One channel's footage from its raw segments (unmerged, as the recorder listed
    them), with what the next read may build on: everything before the start of the
    last segment that began ``UNSETTLED`` ago (a segment start, so the next search,
    starting there, finds that segment whether the recorder lists segments overlapping
    the span or only those starting in it); with no such segment, everything before
    ``UNSETTLED`` ago.  ``settled_before``: where the read this one built on had
    settled; the mark never moves back from it (the segments that read merged would
    otherwise pull it to the start of a long stretch, searched in full next time)."""
    raw = [(s, min(e, now)) for s, e in raw if s < now]
    horizon = now - UNSETTLED
    marks = [s for s, _ in raw if start <= s <= horizon]
    if settled_before is not None and start <= settled_before:
        # settled by the earlier read; may sit a fraction of a second past this read's
        # horizon, since "now" on the device clock moves with each read's measured drift
        marks.append(settled_before)
    settled_until = max(marks, default=horizon)
    return ChannelFootage(
        number=number,
        exists=True,
        searched_from=start,
        searched_to=now,
        segments=tuple(clip(raw, start, now)),
        earliest=earliest,
        earliest_bounded=earliest_bounded,
        latest=max((e for _, e in raw), default=None),
        days_with_footage=days_with_footage,
        camera_online=camera_online,
        settled=KnownFootage(
            settled_until=settled_until,
            segments=tuple(clip(raw, start, settled_until)),
            earliest=earliest,
            earliest_bounded=earliest_bounded,
            disks=disks,
            read_in_full_at=read_in_full_at,
        ),
        continued=continued,
    )


async def built_on_known(
    known: KnownFootage | None,
    number: int,
    start: dt.datetime,
    now: dt.datetime,
    disks: str | None,
    search: Search,
    first_in: FirstIn,
    *,
    camera_online: bool | None = None,
) -> ChannelFootage | None:
    """The channel's footage built on what an earlier read settled (``usable``, then
    ``continue_known``), or None when the channel must be read in full.  One place for
    ISAPI and Dahua, whose readers differ only in how they search."""
    known = usable(known, disks, now)
    if known is None:
        return None
    continued = await continue_known(known, search, first_in, now)
    if continued is None:
        return None
    segments, earliest = continued
    return footage(
        number,
        start,
        now,
        segments,
        earliest=earliest,
        earliest_bounded=known.earliest_bounded,
        disks=disks,
        read_in_full_at=known.read_in_full_at,
        continued=True,
        settled_before=known.settled_until,
        camera_online=camera_online,
    )
