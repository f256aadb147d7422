"""Probe a GB/T 28181 recorder through the running service (``vidaudit gb serve``).

The same observations as an ONVIF probe, read the GB/T 28181 way:

1. registration (the service's view) -> not registered is ``unreachable``, "not registered";
2. ``DeviceStatus`` -> ``DeviceTime`` gives the clock drift (device local wall time in
   whole seconds, read in the branch's zone and centred in its second: within +-0.5 s
   plus half the round trip), ``Record`` ON/OFF the recording state;
3. ``DeviceInfo`` -> manufacturer, model, firmware;
4. ``Catalog`` -> which configured channel IDs the recorder has;
5. per channel, ``RecordInfo`` over the window -> segments, so gaps and business hours;
   then back past the window in ``STEP`` pieces until a piece holds nothing (or
   ``oldest_search_days`` is reached) -> the oldest footage, so retention is what the
   recorder really holds, not capped at the requirement.

Segments come in the device's local time (no offset): read in the branch's zone, then
moved onto the collector's clock by the drift.  GB/T 28181 says nothing of audio tracks:
``audio_track`` stays unknown.  Any failure after the registration check fails the device
with its kind, as for ONVIF: a half-read recorder must not pass as compliant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vidaudit.collector.fleet import DeviceProbe, ProbeRequest
from vidaudit.compliance.model import ChannelEvidence, DeviceStatus, ErrorKind, RecordingState
from vidaudit.compliance.spans import Span, merge
from vidaudit.gb28181.control import ControlClient
from vidaudit.gb28181.errors import GbError
from vidaudit.gb28181.manscdp import RecordItem
from vidaudit.onvif.models import DeviceInfo

#: Each step back when looking for the oldest footage.
STEP = dt.timedelta(days=30)
#: Footage whose end is this close to now means the channel is recording now.
RECORDING_SLACK = dt.timedelta(minutes=15)
HALF_SECOND = dt.timedelta(milliseconds=500)
#: Device times later than now + drift + this cannot be true.
FUTURE_SLACK = dt.timedelta(minutes=5)
#: A recording recorder's last segment ending this close to now is the one being written
#: (RecordInfo has no open segment, as ONVIF's IsDataPresent has): it runs to now.  The
#: drift is known to +-0.5 s plus half a round trip, so its end may land just before now.
WRITING_SLACK = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class GbProbeSettings:
    query_timeout_s: float
    oldest_search_days: int


def _kind(error: GbError) -> ErrorKind:
    if error.kind == "not_found":
        return ErrorKind.DEVICE_FAULT
    return ErrorKind(error.kind)


def _down(device_id: str, error: GbError, drift_s: float | None = None) -> DeviceProbe:
    return DeviceProbe(DeviceStatus(device_id, False, _kind(error), error.message, drift_s))


class GbReader:
    """One collection run's view of the GB/T 28181 service: the client (None when the
    service is not running) and the registrations, read once."""

    def __init__(
        self,
        client: ControlClient | None,
        registered: frozenset[str],
        settings: GbProbeSettings,
        unavailable: GbError | None = None,
    ) -> None:
        self.client = client
        self.registered = registered
        self.settings = settings
        self.unavailable = unavailable

    async def probe(self, request: ProbeRequest, zone: ZoneInfo) -> DeviceProbe:
        device = request.device
        assert device.gb_id is not None
        if self.client is None:
            assert self.unavailable is not None
            return _down(device.id, self.unavailable)
        if device.gb_id not in self.registered:
            return _down(device.id, GbError("unreachable", "not registered"))
        client, timeout = self.client, self.settings.query_timeout_s
        drift_s: float | None = None
        try:
            sent = dt.datetime.now(dt.UTC)
            status = await client.device_status(device.gb_id, timeout_s=timeout)
            received = dt.datetime.now(dt.UTC)
            drift = dt.timedelta()
            if status.device_time is not None:
                # DeviceTime is the device's second, cut off: centre it within the second
                device_utc = status.device_time.replace(tzinfo=zone).astimezone(dt.UTC)
                drift = device_utc + HALF_SECOND - (sent + (received - sent) / 2)
                drift_s = round(drift.total_seconds(), 1)
            info = await client.device_info(device.gb_id, timeout_s=timeout)
            items = await client.catalog(device.gb_id, timeout_s=timeout)
            catalog = {item.device_id for item in items}
            evidence = {}
            for channel in device.channels:
                gb_channel = channel.ref.gb_id
                assert gb_channel is not None
                evidence[channel.id] = await self._channel(
                    request, zone, drift, channel.id, gb_channel, gb_channel in catalog,
                    status.recording,
                )  # fmt: skip
        except GbError as exc:
            return _down(device.id, exc, drift_s)
        return DeviceProbe(
            DeviceStatus(device.id, True, clock_drift_s=drift_s),
            info=DeviceInfo(
                manufacturer=info.manufacturer or "",
                model=info.model or "",
                firmware=info.firmware or "",
                serial="",
                hardware_id="",
            ),
            services=["gb28181"],
            evidence=evidence,
            evidence_at=request.now,
        )

    async def _records(
        self,
        gb_id: str,
        channel: str,
        start: dt.datetime,
        end: dt.datetime,
        zone: ZoneInfo,
        drift: dt.timedelta,
    ) -> list[RecordItem]:
        """RecordInfo over [start, end) given on our clock (asked in device local time)."""
        assert self.client is not None
        local_start = (start + drift).astimezone(zone).replace(tzinfo=None)
        local_end = (end + drift).astimezone(zone).replace(tzinfo=None)
        return await self.client.record_info(
            gb_id, channel, local_start, local_end, timeout_s=self.settings.query_timeout_s
        )

    async def _channel(
        self,
        request: ProbeRequest,
        zone: ZoneInfo,
        drift: dt.timedelta,
        channel_id: str,
        gb_channel: str,
        in_catalog: bool,
        device_recording: bool | None,
    ) -> ChannelEvidence:
        gb_id = request.device.gb_id
        assert gb_id is not None
        now = request.now
        items = await self._records(gb_id, gb_channel, request.window_start, now, zone, drift)
        spans = _on_our_clock(items, zone, drift, now)
        # Oldest footage: back past the window in steps until a step holds nothing.
        limit = now - dt.timedelta(days=self.settings.oldest_search_days)
        cursor = request.window_start
        older: list[Span] = []
        while cursor > limit:
            lower = max(cursor - STEP, limit)
            found = _on_our_clock(
                await self._records(gb_id, gb_channel, lower, cursor, zone, drift), zone, drift, now
            )
            if not found:
                break
            older.extend(found)
            cursor = lower
        everything = merge([*older, *spans])
        if not everything and not in_catalog:
            return ChannelEvidence(channel_id, search_supported=True, recording_found=False)
        earliest = everything[0].start if everything else None
        latest = everything[-1].end if everything else None
        recording = (
            device_recording is not False and latest is not None and now - latest <= RECORDING_SLACK
        )
        footage = [
            Span(max(s.start, request.window_start), min(s.end, now))
            for s in spans
            if s.end > request.window_start and s.start < now
        ]
        if recording and footage and now - footage[-1].end <= WRITING_SLACK:
            footage[-1] = Span(footage[-1].start, now)
        return ChannelEvidence(
            channel_id,
            search_supported=True,
            recording_found=True,
            recording_state=RecordingState.RECORDING if recording else RecordingState.STOPPED,
            earliest=earliest,
            latest=latest,
            footage=merge(footage),
            audio_track=None,
        )


def _on_our_clock(
    items: list[RecordItem], zone: ZoneInfo, drift: dt.timedelta, now: dt.datetime
) -> list[Span]:
    """Segments (device local wall time) as spans on the collector's clock; segments the
    device dates in the future (a wrong clock, a corrupt index) are not believed."""
    spans = []
    for item in items:
        start = item.start.replace(tzinfo=zone).astimezone(dt.UTC) - drift
        end = item.end.replace(tzinfo=zone).astimezone(dt.UTC) - drift
        if start > now + FUTURE_SLACK:
            continue
        end = min(end, now)
        if end > start:
            spans.append(Span(start, end))
    return merge(spans)


def unavailable_reader(settings: GbProbeSettings, error: GbError) -> GbReader:
    return GbReader(None, frozenset(), settings, error)


async def registered_ids(client: ControlClient) -> frozenset[str]:
    registrations: Mapping[str, object] = await client.registrations()
    return frozenset(registrations)
