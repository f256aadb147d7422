"""Read one Hikvision recorder through ISAPI into ``readings.RecorderReading``.

The order and why:

1. ``System/time`` (the clock; drift by the midpoint), ``System/deviceInfo`` (who it is;
   authentication is proven here).  Failing either means the device is down for us.
2. ``ContentMgmt/Storage``, ``InputProxy/channels`` and ``.../status``,
   ``Security/adminAccesses``: optional; a firmware that refuses one loses only what
   it would have told (noted in ``missing``), not the device.
3. Per configured channel, when an earlier read settled part of the window
   (``readings.KnownFootage``, same disks): a search from where it settled to now,
   and one page from the oldest footage known on (the edge a full recorder overwrites).
   Two requests instead of some twenty-five.
4. Otherwise (the first read, a disk changed, the daily full read): the day calendars
   of every month the window touches (``dailyDistribution``), then a search only over
   the stretches of days the calendar shows footage on (a calendar-empty day holds
   nothing: no search needed), then the oldest footage: months walked back until one
   with none, bounded by ``lookback_days``, and only that oldest day searched for its
   first segment.

No rules here: the collector judges what this returns.
"""

from __future__ import annotations

import datetime as dt
import logging

from vidaudit.devicehttp.client import gather_all, optional
from vidaudit.devicehttp.footage import (
    Segment,
    built_on_known,
    day_runs,
    footage,
    local_midnight,
    months_between,
    previous_month,
    step_back,
)
from vidaudit.errors import DeviceError
from vidaudit.isapi.client import IsapiDevice
from vidaudit.readings import ChannelFootage, ReadRequest, RecorderReading, disks_key

logger = logging.getLogger(__name__)


async def read_recorder(dev: IsapiDevice, request: ReadRequest) -> RecorderReading:
    clock = await dev.clock()
    if clock.utc is None or clock.drift is None:
        raise DeviceError("malformed", "time: no usable device time", operation="time")
    info = await dev.info()
    missing: dict[str, str] = {}
    disks = await optional(dev.storage(), "Storage", missing)
    ids = await optional(dev.channel_ids(), "InputProxy/channels", missing)
    online = await optional(dev.channel_status(), "InputProxy/channels/status", missing)
    port = await optional(dev.rtsp_port(), "adminAccesses", missing)
    drift = clock.drift
    offset = clock.local_offset
    if offset is None:
        offset = request.fallback_offset
    channels = await gather_all(
        _channel(
            dev,
            number,
            request,
            drift,
            offset,
            # Analog inputs of hybrid DVRs are not InputProxy channels: only a
            # non-empty list can say a channel is not there.
            exists=not ids or number in ids,
            camera_online=None if online is None else online.get(number),
            disks=disks_key(disks),
        )
        for number in request.channels
    )
    return RecorderReading(
        clock=clock,
        info=info,
        disks=disks,
        channels=tuple(channels),
        rtsp_port=port,
        missing=missing,
    )


async def _calendar(
    dev: IsapiDevice, number: int, months: list[tuple[int, int]]
) -> frozenset[dt.date] | None:
    days: set[dt.date] = set()
    for year, month in months:
        try:
            days |= await dev.month(number, year, month)
        except DeviceError as err:
            if err.kind != "unsupported":
                raise
            return None  # no calendar on this firmware: search the whole window
    return frozenset(days)


async def _channel(
    dev: IsapiDevice,
    number: int,
    request: ReadRequest,
    drift: dt.timedelta,
    offset: dt.timedelta,
    *,
    exists: bool,
    camera_online: bool | None,
    disks: str | None,
) -> ChannelFootage:
    start = request.window_start + drift
    now = dev.http.now() + drift
    if not exists:
        return ChannelFootage(number, False, start, now, camera_online=camera_online)

    async def search(lo: dt.datetime, hi: dt.datetime) -> list[Segment]:
        return await dev.segments(number, lo, hi, offset)

    async def first_in(lo: dt.datetime, hi: dt.datetime) -> dt.datetime | None:
        found = await dev.segments(number, lo, hi, offset, first_page_only=True)
        return min((s for s, _ in found), default=None)

    built = await built_on_known(
        request.known.get(number),
        number,
        start,
        now,
        disks,
        search,
        first_in,
        camera_online=camera_online,
    )
    if built is not None:
        return built
    read_at = dev.http.now()
    tz = dt.timezone(offset)
    months = months_between(start.astimezone(tz).date(), now.astimezone(tz).date())
    days = await _calendar(dev, number, months)
    runs = [(start, now)] if days is None else day_runs(days, start, now, offset)
    raw: list[Segment] = []
    for lo, hi in runs:
        raw.extend((s, min(e, now)) for s, e in await search(lo, hi) if s < now)
    earliest = min((s for s, _ in raw), default=None)
    limit = now - dt.timedelta(days=request.lookback_days)
    bounded = False
    if days is not None and days:
        oldest_day, bounded = await _walk_calendar(dev, number, months[0], days, limit, offset)
        first_window_day = start.astimezone(tz).date()
        if oldest_day < first_window_day:
            day_start = local_midnight(oldest_day, offset)
            first = await first_in(day_start, day_start + dt.timedelta(days=1))
            if first is not None:
                earliest = first
    elif days is None and earliest is not None and earliest < start + dt.timedelta(days=1):
        # No calendar: find the oldest footage by searching back in growing steps.
        older, bounded = await step_back(first_in, start, limit)
        if older is not None:
            earliest = min(earliest, older)
    return footage(
        number,
        start,
        now,
        raw,
        earliest=earliest,
        earliest_bounded=bounded,
        disks=disks,
        read_in_full_at=read_at,
        continued=False,
        days_with_footage=days,
        camera_online=camera_online,
    )


async def _walk_calendar(
    dev: IsapiDevice,
    number: int,
    first_month: tuple[int, int],
    days: frozenset[dt.date],
    limit: dt.datetime,
    offset: dt.timedelta,
) -> tuple[dt.date, bool]:
    """The oldest day with footage: monthly calendars walked back from the window's
    first month until a month with none.  (oldest day, stopped by ``limit``)."""
    oldest = min(days)
    year, month = first_month
    limit_day = limit.astimezone(dt.timezone(offset)).date()
    while True:
        year, month = previous_month(year, month)
        if dt.date(year, month, 28) < limit_day:
            return oldest, True
        found = await dev.month(number, year, month)
        if not found:
            return oldest, False
        oldest = min(oldest, min(found))
