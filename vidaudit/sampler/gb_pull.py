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

A clip (``pull_gb28181_units``) takes steps 1 and 2 for its range, then one playback
whose program stream is demuxed to access units as recorded (``PsReceiver.units``) for
``clips`` to remux into MP4.

All times asked of the recorder are on its own clock (ours + drift); what comes back is
moved onto ours by ``pull.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from collections.abc import AsyncIterator, Sequence
from zoneinfo import ZoneInfo

from vidaudit.compliance.spans import Span, merge
from vidaudit.gb28181.control import ControlClient
from vidaudit.gb28181.errors import GbError
from vidaudit.gb28181.manscdp import RecordItem
from vidaudit.gb28181.platform import MediaOffer
from vidaudit.inventory.schema import Channel, Device
from vidaudit.media.clip import RecordedUnits
from vidaudit.media.errors import MediaError
from vidaudit.media.ps_stream import PsReceiver
from vidaudit.media.pulled import PulledFrame
from vidaudit.media.stretches import plan_stretches
from vidaudit.sampler.gb_settings import GbPullSettings

#: Asked for around the instants: decoding starts at the playback's first frame, and the
#: frame after the last instant must arrive to know the nearest.
MARGIN = dt.timedelta(seconds=2)
STRETCH = dt.timedelta(seconds=20)
#: How long the clock is read (back to back around its second's roll-over) at most, the
#: bracket wanted, and how early before a due roll-over the next bracket starts.
_FINE_DRIFT_BUDGET_S = 4.0
_FINE_DRIFT_WANTED = dt.timedelta(milliseconds=15)
_FINE_DRIFT_LEAD_S = 0.15
#: Until the first roll-over is seen, readings are this far apart.  Why: each reading is
#: two SIP messages from the recorder (the 200 OK and its DeviceStatus answer), and the
#: platform admits 50 a second per address after a burst of 200
#: (``gb28181.transport.EndpointLimits``): reading back to back for up to a second spent
#: the burst, the platform dropped an answer, and that reading's bracket was a
#: retransmission wide (the drift came out 0.27 s off in a test run).  Spaced readings
#: find the second's phase to ~50 ms for ~40 messages; the narrow bracket is then read
#: back to back for only the lead before the next roll-over.
_FINE_DRIFT_COARSE_GAP_S = 0.05


async def _reading(
    client: ControlClient, gb_id: str, zone: ZoneInfo, timeout_s: float
) -> tuple[dt.datetime, dt.datetime]:
    """(our midpoint of the exchange, the device's whole second as UTC)."""
    sent = dt.datetime.now(dt.UTC)
    status = await client.device_status(gb_id, timeout_s=timeout_s)
    received = dt.datetime.now(dt.UTC)
    if status.device_time is None:
        raise GbError("malformed", "DeviceStatus without DeviceTime")
    return sent + (received - sent) / 2, status.device_time.replace(tzinfo=zone).astimezone(dt.UTC)


async def device_drift(
    client: ControlClient,
    gb_id: str,
    zone: ZoneInfo,
    timeout_s: float,
    *,
    budget_s: float = _FINE_DRIFT_BUDGET_S,
    wanted: dt.timedelta = _FINE_DRIFT_WANTED,
) -> dt.timedelta:
    """Device clock minus ours, to a few milliseconds when the device answers fast.

    ``DeviceTime`` is whole seconds: reading it back to back until its second rolls over
    places the device's second boundary between two of our readings (drift = that second
    minus the moment half-way between them).  When that bracket is wider than ``wanted``
    (a stalled answer: a busy recorder, platform or machine), the next roll-over is
    bracketed again, starting just before it is due; the narrowest bracket within
    ``budget_s`` wins -- the same method as ``onvif.Device.fine_drift``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    best: tuple[dt.timedelta, dt.timedelta] | None = None  # (half bracket, drift)
    previous = await _reading(client, gb_id, zone, timeout_s)
    while loop.time() < deadline:
        if best is None:
            await asyncio.sleep(_FINE_DRIFT_COARSE_GAP_S)  # the phase first, gently
        current = await _reading(client, gb_id, zone, timeout_s)
        if current[1] > previous[1]:
            half = (current[0] - previous[0]) / 2
            drift = current[1] - (previous[0] + half)
            if best is None or half < best[0]:
                best = (half, drift)
            if half <= wanted:
                break
            # sleep until shortly before the next boundary (our clock), then bracket it
            next_tick = current[1] + dt.timedelta(seconds=1) - drift
            lead = half.total_seconds() + _FINE_DRIFT_LEAD_S
            pause = (next_tick - dt.datetime.now(dt.UTC)).total_seconds() - lead
            if loop.time() + max(pause, 0) + 1 > deadline:
                break  # no time left for another bracket
            if pause > 0:
                await asyncio.sleep(pause)
            current = await _reading(client, gb_id, zone, timeout_s)
        previous = current
    if best is not None:
        return best[1]
    # never rolled over (a slow recorder): the whole-second reading, centred in its second
    return previous[1] + dt.timedelta(milliseconds=500) - previous[0]


def _segments(items: Sequence[RecordItem], zone: ZoneInfo) -> list[Span]:
    spans = []
    for item in items:
        start = item.start.replace(tzinfo=zone).astimezone(dt.UTC)
        end = item.end.replace(tzinfo=zone).astimezone(dt.UTC)
        if end > start:
            spans.append(Span(start, end))
    return merge(spans)


def _play_range(first: dt.datetime, last: dt.datetime, covering: Span) -> tuple[int, int]:
    """The playback's ``t=`` for [first, last] (device clock) with a margin: whole seconds,
    never starting inside a gap the recorder would skip (``covering`` holds ``first``)."""
    start = max(first - MARGIN, covering.start)
    seconds = start.timestamp()
    start_s = math.ceil(seconds) if start == covering.start else math.floor(seconds)
    return start_s, math.ceil((last + MARGIN).timestamp())


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
            start_s, end_s = _play_range(first, last, covering)
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


@contextlib.asynccontextmanager
async def _playing(
    client: ControlClient,
    settings: GbPullSettings,
    gb_id: str,
    gb_channel: str,
    start_s: int,
    end_s: int,
    timeout_s: float,
) -> AsyncIterator[PsReceiver]:
    """A playback of [start_s, end_s] arriving at a local port; BYE and close always."""
    receiver = await PsReceiver.open(settings.transport, settings.media_host, timeout_s)
    call: str | None = None
    try:
        offer = MediaOffer("", receiver.port, settings.transport)
        playback = await client.start_playback(
            gb_id, gb_channel, start_s, end_s, offer, timeout_s=settings.query_timeout_s
        )
        call = playback.call_id
        yield receiver
    finally:
        if call is not None:
            with contextlib.suppress(GbError):
                await client.stop_playback(call)
        await receiver.close()


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
    async with _playing(client, settings, gb_id, gb_channel, start_s, end_s, timeout_s) as rx:
        return await rx.frames(
            dt.datetime.fromtimestamp(start_s, dt.UTC),
            [instant for _index, instant in stretch],
            max_wall_s=timeout_s * 4,
            source=f"gb28181:{gb_channel}",
        )


async def pull_gb28181_units(
    device: Device,
    channel: Channel,
    start: dt.datetime,
    end: dt.datetime,
    zone: ZoneInfo,
    settings: GbPullSettings,
    *,
    timeout_s: float,
) -> tuple[RecordedUnits, dt.timedelta]:
    """The access units of [start, end] (true time) as recorded, for a clip, with their
    device-clock instants, and the drift they were placed by.  One playback from the
    keyframe before ``start`` (the footage's own start if later) to ``end``."""
    gb_id, gb_channel = device.gb_id, channel.ref.gb_id
    if gb_id is None or gb_channel is None:
        raise GbError("unreachable", f"{channel.id}: no GB/T 28181 IDs in the inventory")
    async with ControlClient.open(settings.control_file) as client:
        drift = await device_drift(client, gb_id, zone, settings.query_timeout_s)
        first, last = start + drift, end + drift
        items = await client.record_info(
            gb_id,
            gb_channel,
            (first - MARGIN).astimezone(zone).replace(tzinfo=None) - dt.timedelta(seconds=1),
            (last + MARGIN).astimezone(zone).replace(tzinfo=None) + dt.timedelta(seconds=1),
            timeout_s=settings.query_timeout_s,
        )
        covering = next((s for s in _segments(items, zone) if s.start <= first < s.end), None)
        if covering is None:
            raise MediaError("not_found", f"{channel.id}: the recorder holds no footage at {first}")
        start_s, end_s = _play_range(first, last, covering)
        async with _playing(
            client, settings, gb_id, gb_channel, start_s, end_s, timeout_s
        ) as receiver:
            units = await receiver.units(
                dt.datetime.fromtimestamp(start_s, dt.UTC),
                first,
                last,
                # playback may run in real time: the clip takes as long as it lasts
                max_wall_s=timeout_s * 4 + (end_s - start_s) * 1.5,
                source=f"gb28181:{gb_channel}",
            )
    return units, drift
