"""Probe one device through the ONVIF layer: the calls the daily check needs, in order.

Required calls -- without any of them the device cannot be read, and it is ``R6.offline``
with the failure's kind (a half-read device must not pass as compliant):

1. GetSystemDateAndTime (no authentication needed) -> online, drift; it also sets the
   WS-Security clock offset so a drifted device still accepts our token.
2. GetDeviceInformation, GetServices (GetCapabilities on old firmware) -> who it is and
   what it offers (auth is proven here).
3. FindRecordings -> GetRecordingSearchResults -> EndSearch (or GetRecordings without a
   search service) -> recordings, tracks, earliest and latest footage.

Optional calls (``OPTIONAL_CALLS``) only enrich that reading.  When one fails -- refused,
malformed, a fault, a timeout -- the device stays online, the facts it would have given
become unknown with the reason (``DeviceRecordings.unknown``), and only the rules that
need those facts say ``unverifiable`` (``compliance.rules``):

* ``media``: GetProfiles / GetVideoSources -> how channels map to inputs (channel number,
  profile and source references), and which profiles carry audio;
* ``jobs``: GetRecordingJobs -> which profile feeds each recording (Axis), and its
  configured mode (the last word on whether it records, when nothing live says);
* ``job_states``: GetRecordingJobState, one per job, when the settings ask for it
  (``OnvifSettings.job_states``; the collector does not: RecordingStatus from the search
  says it) -> whether each job is running now.  A failed one leaves that job's state
  unknown (``RecordingJob.state_error``), never its configured mode in its place;
* ``events``: FindEvents -> GetEventSearchResults -> EndSearch over the window -> gaps,
  missing days and business-hours coverage.

``unsupported`` is not a failure: the device simply does not do that (Profile S cameras
have no search), and nothing becomes unknown for it beyond what the device lacks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from vidaudit.collector.derive import DeviceRecordings, failed_call
from vidaudit.collector.fleet import DeviceProbe, ProbeRequest
from vidaudit.collector.vendor_probe import probe_vendor
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.compliance.model import DeviceStatus, ErrorKind, FailedCall
from vidaudit.devicehttp.client import HttpPool
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.device import Device
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import Profile, RecordingEvent, RecordingJob, VideoSource
from vidaudit.onvif.topology import match_recording

logger = logging.getLogger(__name__)

#: Calls that only enrich a reading, by the facts they give (see the module docstring).
OPTIONAL_CALLS: dict[str, tuple[str, ...]] = {
    "media": ("GetProfiles", "GetVideoSources"),
    "jobs": ("GetRecordingJobs",),
    "job_states": ("GetRecordingJobState",),
    "events": ("FindEvents", "GetEventSearchResults", "EndSearch"),
}


def _down(device_id: str, err: DeviceError, drift_s: float | None = None) -> DeviceProbe:
    return DeviceProbe(DeviceStatus(device_id, False, ErrorKind(err.kind), err.message, drift_s))


async def _media(
    dev: Device, unknown: dict[str, FailedCall]
) -> tuple[tuple[Profile, ...], tuple[VideoSource, ...]]:
    if not dev.offers("media"):
        return (), ()
    try:
        profiles = await dev.profiles()
    except DeviceError as err:
        if err.kind != "unsupported":
            unknown["media"] = failed_call(err)
        profiles = ()
    if profiles and all(p.video_source_token for p in profiles):
        return profiles, ()  # the profiles already name every input, in the same order
    try:
        sources = await dev.video_sources()
    except DeviceError as err:
        # Only a help for matching channel numbers (profiles carry the source tokens too).
        # ipycam answers it with a bare Receiver fault "Action not supported".
        logger.debug("%s: GetVideoSources unavailable: %s", dev, err)
        if err.kind not in ("unsupported", "device_fault") and not profiles:
            unknown.setdefault("media", failed_call(err))
        sources = ()
    return profiles, sources


async def _jobs(dev: Device, unknown: dict[str, FailedCall]) -> tuple[RecordingJob, ...]:
    if not dev.offers("recording"):
        return ()
    try:
        jobs = await dev.recording_jobs()
    except DeviceError as err:
        if err.kind != "unsupported":
            unknown["jobs"] = failed_call(err)
        return ()
    if failed := next((j.state_error for j in jobs if j.state_error is not None), None):
        unknown["job_states"] = failed_call(failed)
    return jobs


async def _read_recordings(
    dev: Device, request: ProbeRequest, drift: dt.timedelta
) -> DeviceRecordings:
    unknown: dict[str, FailedCall] = {}
    profiles, sources = await _media(dev, unknown)
    if not (dev.offers("search") or dev.offers("recording")):
        return DeviceRecordings(False, (), (), profiles, sources, None, drift, unknown)
    try:
        recordings = await dev.recordings()
    except DeviceError as err:
        if err.kind != "unsupported":
            raise
        return DeviceRecordings(False, (), (), profiles, sources, None, drift, unknown)
    jobs = await _jobs(dev, unknown)
    # Without the search service (Axis lists only ONVIF-made recordings through the
    # recording service) there are tokens and tracks but no times: retention unverifiable.
    searchable = dev.offers("search")
    base = DeviceRecordings(searchable, recordings, jobs, profiles, sources, None, drift, unknown)
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
                unknown["events"] = failed_call(err)
            events = None  # no event search: gaps unknown
    return DeviceRecordings(True, recordings, jobs, profiles, sources, events, drift, unknown)


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
            # over https, the certificate this device presented (pinned with the serial)
            certificate = dev.peer_certificate
            services = await dev.services()
            recordings = await _read_recordings(dev, request, drift or dt.timedelta())
        except DeviceError as err:
            return _down(device.id, err, drift_s)
    return DeviceProbe(
        DeviceStatus(device.id, True, clock_drift_s=drift_s),
        info=info,
        services=sorted({s.name for s in services if s.name}),
        recordings=recordings,
        identity=DeviceIdentity(serial=info.serial.strip() or None, cert_sha256=certificate),
    )


def dispatching_prober(
    pool: OnvifPool, http_pool: HttpPool, lookback_days: int
) -> Callable[[ProbeRequest, SecretResolver], Awaitable[DeviceProbe]]:
    """One prober for a mixed fleet: ONVIF, or the device's vendor API (``api:``)."""

    async def prober(request: ProbeRequest, resolver: SecretResolver) -> DeviceProbe:
        if request.device.api is Api.ONVIF:
            return await probe_device(pool, request, resolver)
        return await probe_vendor(http_pool, request, resolver, lookback_days)

    return prober
