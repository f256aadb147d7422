"""Read one Dahua recorder through its HTTP API into ``readings.RecorderReading``.

1. ``getCurrentTime`` (clock: local wall time in the branch's zone; drift by the
   midpoint) and ``getSystemInfo`` (identity): failing either, the device is down.
2. ``getDeviceAllInfo`` (disks) and the RTSP port: optional.
3. Per configured channel, when an earlier read settled part of the window
   (``readings.KnownFootage``, same disks): the files from where it settled to now, and
   the first file from the oldest footage known on (the edge a full recorder overwrites).
4. Otherwise: every recorded file in the window (one search), then the oldest footage:
   the API has no day calendar, so when footage reaches the window's start, search back
   from there in growing steps (1, 2, 4, ... days) until a step finds nothing, bounded
   by ``lookback_days``.

The searches of 3. and 4. share the recorder's finders (``DahuaDevice.finders``): a
search is ``findFile`` / ``findNextFile`` / ``close``; ``factory.create`` and
``destroy`` are paid once per finder, not per search.
"""

from __future__ import annotations

import datetime as dt

from vidaudit.dahua.client import DahuaDevice
from vidaudit.devicehttp.client import gather_all, optional
from vidaudit.devicehttp.footage import Segment, built_on_known, footage, step_back
from vidaudit.errors import DeviceError
from vidaudit.readings import ChannelFootage, ReadRequest, RecorderReading, disks_key


async def read_recorder(dev: DahuaDevice, request: ReadRequest) -> RecorderReading:
    clock = await dev.clock()
    if clock.drift is None:
        raise DeviceError("malformed", "getCurrentTime: no usable time", operation="getCurrentTime")
    info = await dev.info()
    missing: dict[str, str] = {}
    disks = await optional(dev.storage(), "getDeviceAllInfo", missing)
    port = await optional(dev.rtsp_port(), "getConfig RTSP", missing)
    key = disks_key(disks)
    # The channels' searches share the recorder's finders (one read, few finders).
    async with dev.finders():
        channels = await gather_all(
            _channel(dev, number, request, clock.drift, key) for number in request.channels
        )
    return RecorderReading(
        clock=clock,
        info=info,
        disks=disks,
        channels=tuple(channels),
        rtsp_port=port,
        missing=missing,
    )


async def _channel(
    dev: DahuaDevice, number: int, request: ReadRequest, drift: dt.timedelta, disks: str | None
) -> ChannelFootage:
    start = request.window_start + drift
    now = dev.http.now() + drift

    async def search(lo: dt.datetime, hi: dt.datetime) -> list[Segment]:
        return await dev.files(number, lo, hi)

    async def first_in(lo: dt.datetime, hi: dt.datetime) -> dt.datetime | None:
        found = await dev.files(number, lo, hi, first_page_only=True)
        return min((s for s, _ in found), default=None)

    built = await built_on_known(
        request.known.get(number), number, start, now, disks, search, first_in
    )
    if built is not None:
        return built
    read_at = dev.http.now()
    raw = [(s, min(e, now)) for s, e in await search(start, now) if s < now]
    earliest = min((s for s, _ in raw), default=None)
    bounded = False
    if earliest is not None and earliest < start + dt.timedelta(days=1):
        limit = now - dt.timedelta(days=request.lookback_days)
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
    )
