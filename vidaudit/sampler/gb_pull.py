"""Frames from a GB/T 28181 recorder: playback through the running SIP service.

1. The recorder's clock, to milliseconds: ``DeviceStatus`` gives ``DeviceTime`` in whole
   seconds, so it is read back to back until its second rolls over; the roll-over lies
   between the two readings (as ``onvif.Device.fine_drift`` does with
   GetSystemDateAndTime).  A frame's instant is evidence: one second is not enough.
2. ``RecordInfo`` around the instants: a playback asked to start inside a gap starts at
   the next footage, and the stream itself carries no wall time, so each playback starts
   where the recorder says footage is, and instants without footage are refused
   (``not_found``) rather than answered with a frame from elsewhere.
3. Per stretch of close instants: a local RTP port (UDP, or TCP where we listen), an
   INVITE through the service (``s=Playback``, ``u=<channel>:0``, ``t=<start> <end>``),
   the frames nearest each instant decoded from the MPEG-PS, then BYE -- always.

All times asked of the recorder are on its own clock (ours + drift); what comes back is
moved onto ours by ``pull.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from vidaudit.compliance.spans import Span, merge
from vidaudit.gb28181.control import ControlClient
from vidaudit.gb28181.errors import GbError
from vidaudit.gb28181.manscdp import RecordItem
from vidaudit.gb28181.platform import MediaOffer
from vidaudit.inventory.schema import Channel, Device
from vidaudit.media.errors import MediaError
from vidaudit.media.ps_stream import PsReceiver
from vidaudit.media.pulled import PulledFrame
from vidaudit.media.replay import plan_stretches
from vidaudit.sampler.gb_settings import GbPullSettings

#: Asked for around the instants: decoding starts at the playback's first frame, and the
#: frame after the last instant must arrive to know the nearest.
MARGIN = dt.timedelta(seconds=2)
STRETCH = dt.timedelta(seconds=20)
#: How long the clock is read back to back waiting for its second to roll over.
_FINE_DRIFT_BUDGET_S = 2.5


async def device_drift(
    client: ControlClient, gb_id: str, zone: ZoneInfo, timeout_s: float
) -> dt.timedelta:
    """Device clock minus ours, to a few milliseconds when the device answers fast."""
    previous: tuple[dt.datetime, dt.datetime] | None = None  # (our midpoint, device second)
    started = time.monotonic()
    while True:
        sent = dt.datetime.now(dt.UTC)
        status = await client.device_status(gb_id, timeout_s=timeout_s)
        received = dt.datetime.now(dt.UTC)
        if status.device_time is None:
            raise GbError("malformed", "DeviceStatus without DeviceTime")
        device = status.device_time.replace(tzinfo=zone).astimezone(dt.UTC)
        middle = sent + (received - sent) / 2
        if previous is not None and device > previous[1]:
            # the device's second ticked between the two readings: take their midpoint
            return device - (previous[0] + (middle - previous[0]) / 2)
        if time.monotonic() - started > _FINE_DRIFT_BUDGET_S:
            # no roll-over seen (a slow device): the whole-second reading, centred
            return device + dt.timedelta(milliseconds=500) - middle
        previous = (middle, device)


def _segments(items: Sequence[RecordItem], zone: ZoneInfo) -> list[Span]:
    spans = []
    for item in items:
        start = item.start.replace(tzinfo=zone).astimezone(dt.UTC)
        end = item.end.replace(tzinfo=zone).astimezone(dt.UTC)
        if end > start:
            spans.append(Span(start, end))
    return merge(spans)


async def pull_gb28181(
    device: Device,
    channel: Channel,
    instants: Sequence[dt.datetime],
    zone: ZoneInfo,
    settings: GbPullSettings,
    *,
    timeout_s: float,
    max_delta: dt.timedelta,
) -> tuple[list[PulledFrame], dt.timedelta]:
    """Frames nearest ``instants`` (true time) with their device-clock instants, and the
    drift they were placed by."""
    gb_id, gb_channel = device.gb_id, channel.ref.gb_id
    if gb_id is None or gb_channel is None:
        raise GbError("unreachable", f"{channel.id}: no GB/T 28181 IDs in the inventory")
    async with ControlClient.open(settings.control_file) as client:
        drift = await device_drift(client, gb_id, zone, settings.query_timeout_s)
        on_device = [instant + drift for instant in instants]
        lo, hi = min(on_device) - MARGIN, max(on_device) + MARGIN
        items = await client.record_info(
            gb_id,
            gb_channel,
            lo.astimezone(zone).replace(tzinfo=None) - dt.timedelta(seconds=1),
            hi.astimezone(zone).replace(tzinfo=None) + dt.timedelta(seconds=1),
            timeout_s=settings.query_timeout_s,
        )
        footage = _segments(items, zone)
        found: list[PulledFrame | None] = [None] * len(on_device)
        for stretch in plan_stretches(on_device, STRETCH):
            first, last = stretch[0][1], stretch[-1][1]
            for _index, instant in stretch:
                if not any(s.start <= instant < s.end for s in footage):
                    raise MediaError(
                        "not_found", f"{channel.id}: the recorder holds no footage at {instant}"
                    )
            covering = next(s for s in footage if s.start <= first < s.end)
            # whole seconds (t= counts seconds); never inside a gap the recorder would skip
            start = max(first - MARGIN, covering.start)
            seconds = start.timestamp()
            start_s = math.ceil(seconds) if start == covering.start else math.floor(seconds)
            end_s = math.ceil((last + MARGIN).timestamp())
            frames = await _play(
                client, settings, gb_id, gb_channel, start_s, end_s, stretch, timeout_s
            )
            for (index, instant), frame in zip(stretch, frames, strict=True):
                assert isinstance(frame.actual, dt.datetime)
                if abs(frame.actual - instant) > max_delta:
                    raise MediaError(
                        "not_found", f"{channel.id}: no frame near {instant.isoformat()}"
                    )
                found[index] = frame
    return [frame for frame in found if frame is not None], drift


async def _play(
    client: ControlClient,
    settings: GbPullSettings,
    gb_id: str,
    gb_channel: str,
    start_s: int,
    end_s: int,
    stretch: list[tuple[int, dt.datetime]],
    timeout_s: float,
) -> list[PulledFrame]:
    receiver = await PsReceiver.open(settings.transport, settings.media_host, timeout_s)
    call: str | None = None
    try:
        offer = MediaOffer("", receiver.port, settings.transport)
        playback = await client.start_playback(
            gb_id, gb_channel, start_s, end_s, offer, timeout_s=settings.query_timeout_s
        )
        call = playback.call_id
        return await receiver.frames(
            dt.datetime.fromtimestamp(start_s, dt.UTC),
            [instant for _index, instant in stretch],
            max_wall_s=timeout_s * 4,
            source=f"gb28181:{gb_channel}",
        )
    finally:
        if call is not None:
            with contextlib.suppress(GbError):
                await client.stop_playback(call)
        await receiver.close()
