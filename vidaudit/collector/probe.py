"""Probe one device through the ONVIF layer: the calls the daily check needs, in order.

1. GetSystemDateAndTime (no authentication needed) -> online, drift; it also sets the
   WS-Security clock offset so a drifted device still accepts our token.
2. GetDeviceInformation, GetServices -> who it is and what it offers (auth is proven here).
3. GetProfiles / GetVideoSources -> how channels map to inputs.
4. FindRecordings… (or GetRecordings) and GetRecordingJobs -> recordings, tracks, state.
5. FindEvents over the window for each configured channel's recording -> gaps.

A failure in steps 1-2 means the device is down for us (its kind says why). After that,
``unsupported`` only removes what the device cannot do (Profile S cameras have no search);
any other failure fails the device, because a half-read device must not pass as compliant.
"""

from __future__ import annotations

import datetime as dt
import logging

from vidaudit.collector.derive import DeviceRecordings
from vidaudit.collector.fleet import DeviceProbe, ProbeRequest
from vidaudit.compliance.model import DeviceStatus, ErrorKind
from vidaudit.inventory.load import SecretResolver
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.device import Device
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import Profile, RecordingEvent, RecordingJob, VideoSource
from vidaudit.onvif.topology import match_recording

logger = logging.getLogger(__name__)


def _down(device_id: str, err: DeviceError, drift_s: float | None = None) -> DeviceProbe:
    return DeviceProbe(DeviceStatus(device_id, False, ErrorKind(err.kind), err.message, drift_s))


async def _media(dev: Device) -> tuple[tuple[Profile, ...], tuple[VideoSource, ...]]:
    if not dev.offers("media"):
        return (), ()
    try:
        profiles = await dev.profiles()
    except DeviceError as err:
        if err.kind != "unsupported":
            raise
        profiles = ()
    if profiles and all(p.video_source_token for p in profiles):
        return profiles, ()  # the profiles already name every input, in the same order
    try:
        sources = await dev.video_sources()
    except DeviceError as err:
        # Only a help for matching channel numbers (profiles carry the source tokens too).
        # ipycam answers it with a bare Receiver fault "Action not supported".
        if err.kind not in ("unsupported", "device_fault"):
            raise
        logger.debug("%s: GetVideoSources unavailable: %s", dev, err)
        sources = ()
    return profiles, sources


async def _jobs(dev: Device) -> tuple[RecordingJob, ...]:
    if not dev.offers("recording"):
        return ()
    try:
        return await dev.recording_jobs()
    except DeviceError as err:
        if err.kind != "unsupported":
            raise
        return ()


async def _read_recordings(
    dev: Device, request: ProbeRequest, drift: dt.timedelta
) -> DeviceRecordings:
    profiles, sources = await _media(dev)
    if not (dev.offers("search") or dev.offers("recording")):
        return DeviceRecordings(False, (), (), profiles, sources, None, drift)
    try:
        recordings = await dev.recordings()
    except DeviceError as err:
        if err.kind != "unsupported":
            raise
        return DeviceRecordings(False, (), (), profiles, sources, None, drift)
    jobs = await _jobs(dev)
    # Without the search service (Axis lists only ONVIF-made recordings through the
    # recording service) there are tokens and tracks but no times: retention unverifiable.
    searchable = dev.offers("search")
    base = DeviceRecordings(searchable, recordings, jobs, profiles, sources, None, drift)
    if not searchable:
        return base
    wanted = {
        recording.token
        for channel in request.device.channels
        if (recording := match_recording(channel.ref, base)) is not None
    }
    events: tuple[RecordingEvent, ...] | None = ()
    if wanted:
        # Search in the device's own time: its clock is off by ``drift``.
        start, end = request.window_start + drift, request.now + drift
        try:
            events = await dev.track_events(sorted(wanted), start, end)
        except DeviceError as err:
            if err.kind != "unsupported":
                raise
            events = None  # no event search: gaps unknown
    return DeviceRecordings(True, recordings, jobs, profiles, sources, events, drift)


async def probe_device(
    pool: OnvifPool, request: ProbeRequest, resolver: SecretResolver
) -> DeviceProbe:
    device = request.device
    credentials = resolver.credentials(device)
    async with pool.open(str(device.onvif), credentials) as dev:
        try:
            clock = await dev.clock()
        except DeviceError as err:
            return _down(device.id, err)
        drift = clock.drift
        drift_s = None if drift is None else round(drift.total_seconds(), 1)
        try:
            info = await dev.info()
            services = await dev.services()
            recordings = await _read_recordings(dev, request, drift or dt.timedelta())
        except DeviceError as err:
            return _down(device.id, err, drift_s)
    return DeviceProbe(
        DeviceStatus(device.id, True, clock_drift_s=drift_s),
        info=info,
        services=sorted({s.name for s in services if s.name}),
        recordings=recordings,
    )
