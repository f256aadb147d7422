"""Read one Dahua recorder through its HTTP API into ``readings.RecorderReading``.

1. ``getCurrentTime`` (clock: local wall time in the branch's zone; drift by the
   midpoint) and ``getSystemInfo`` (identity): failing either, the device is down.
2. ``getDeviceAllInfo`` (disks) and the RTSP port: optional.
3. Per configured channel: every recorded file in the window (one finder), then the
   oldest footage: the API has no day calendar, so when footage reaches the window's
   start, search back from there in growing steps (1, 2, 4, ... days) until a step finds
   nothing, bounded by ``lookback_days``.
"""

from __future__ import annotations

import datetime as dt

from vidaudit.dahua.client import DahuaDevice
from vidaudit.devicehttp.client import gather_all, optional
from vidaudit.devicehttp.footage import clip, step_back
from vidaudit.errors import DeviceError
from vidaudit.readings import ChannelFootage, ReadRequest, RecorderReading


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def read_recorder(dev: DahuaDevice, request: ReadRequest) -> RecorderReading:
    clock = await dev.clock()
    if clock.drift is None:
        raise DeviceError("malformed", "getCurrentTime: no usable time", operation="getCurrentTime")
    info = await dev.info()
    missing: dict[str, str] = {}
    disks = await optional(dev.storage(), "getDeviceAllInfo", missing)
    port = await optional(dev.rtsp_port(), "getConfig RTSP", missing)
    channels = await gather_all(
        _channel(dev, number, request, clock.drift) for number in request.channels
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
    dev: DahuaDevice, number: int, request: ReadRequest, drift: dt.timedelta
) -> ChannelFootage:
    start = request.window_start + drift
    now = _utcnow() + drift
    raw = [(s, min(e, now)) for s, e in await dev.files(number, start, now) if s < now]
    earliest = min((s for s, _ in raw), default=None)
    bounded = False
    if earliest is not None and earliest < start + dt.timedelta(days=1):

        async def first_before(lo: dt.datetime, hi: dt.datetime) -> dt.datetime | None:
            found = await dev.files(number, lo, hi, first_page_only=True)
            return min((s for s, _ in found), default=None)

        limit = now - dt.timedelta(days=request.lookback_days)
        older, bounded = await step_back(first_before, start, limit)
        if older is not None:
            earliest = min(earliest, older)
    return ChannelFootage(
        number=number,
        exists=True,
        searched_from=start,
        searched_to=now,
        segments=tuple(clip(raw, start, now)),
        earliest=earliest,
        earliest_bounded=bounded,
        latest=max((e for _, e in raw), default=None),
    )
