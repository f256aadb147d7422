"""The one place that talks ONVIF.  Everything returned is our own frozen dataclass.

Usage (the collector)::

    from vidaudit.onvif import DeviceError, OnvifPool, OnvifSettings

    async with OnvifPool(OnvifSettings(call_timeout_s=10)) as pool:      # once per run
        async with pool.open("http://10.1.2.3/onvif/device_service", creds) as dev:
            clock = await dev.clock()          # DeviceClock: .utc, .drift, .tz_offset ...
            info = await dev.info()            # DeviceInfo
            services = await dev.services()    # tuple[Service]; dev.offers("search")
            profiles = await dev.profiles()    # tuple[Profile] (media ver10)
            recordings = await dev.recordings()            # tuple[Recording] with Tracks
            jobs = await dev.recording_jobs()              # tuple[RecordingJob]
            summary = await dev.recording_summary()        # RecordingSummary
            events = await dev.track_events(rec.token, start, end)  # tuple[RecordingEvent]
            replay = await dev.replay_uri(rec.token)       # ReplayUri
            snap = await dev.snapshot_uri(profile.token)   # str

or, for a single device, ``async with open_device(target, creds, settings) as dev:``
(a private pool, closed when the block ends).

Contract:

* every method returns typed results or raises ``DeviceError(kind, message)`` with
  ``kind`` one of ``unreachable``, ``timeout``, ``auth``, ``unsupported``, ``malformed``,
  ``device_fault`` (how each is detected: ``vidaudit.onvif.errors``).  Messages never
  contain the password.  A missing service is ``unsupported`` without a network call.
* every call is bounded: ``call_timeout_s`` (connect ``connect_timeout_s``) and the
  device's ``device_deadline_s`` counted from ``open``; the caller may also wrap the
  block in ``asyncio.timeout``.  Bodies over ``max_response_bytes`` are refused while
  being read; DTDs/entities are refused (``xmlsafety``).
* WS-Security UsernameToken digest with ``Created`` on the device's clock
  (``adjust_time``: the first authenticated call reads GetSystemDateAndTime if
  ``clock()`` has not been called); HTTP digest answered when challenged.
* device-reported footage times are ``ReportedTime`` (raw + ``plausible``; before 2000
  is implausible, ``.value`` is then None).  No compliance decisions here.
* connections: one aiohttp session per ``OnvifPool`` shared by all devices
  (``transport``); WSDL documents parsed once per process (``zeepclient``).

Modules: ``client`` (factory), ``device`` (the calls), ``models`` (results),
``errors`` (kinds), ``settings``, ``transport`` (HTTP leg), ``xmlsafety`` (reply checks),
``convert`` (zeep objects -> models; search result pages straight from the checked
lxml tree), ``timeparse`` (POSIX TZ, times), ``zeepclient`` (the untyped library
boundary).
"""

from vidaudit.onvif.client import CredentialsLike, DeviceTarget, OnvifPool, open_device
from vidaudit.onvif.device import RECORDING_TOPICS, Device
from vidaudit.onvif.errors import ERROR_KINDS, DeviceError, ErrorKind
from vidaudit.onvif.models import (
    PLAUSIBLE_SINCE,
    DeviceClock,
    DeviceInfo,
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    RecordingSummary,
    ReplayUri,
    ReportedTime,
    Service,
    Track,
    TrackType,
    VideoSource,
)
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.timeparse import posix_tz_offset

__all__ = [
    "ERROR_KINDS",
    "PLAUSIBLE_SINCE",
    "RECORDING_TOPICS",
    "CredentialsLike",
    "Device",
    "DeviceClock",
    "DeviceError",
    "DeviceInfo",
    "DeviceTarget",
    "ErrorKind",
    "OnvifPool",
    "OnvifSettings",
    "Profile",
    "Recording",
    "RecordingEvent",
    "RecordingJob",
    "RecordingSummary",
    "ReplayUri",
    "ReportedTime",
    "Service",
    "Track",
    "TrackType",
    "VideoSource",
    "open_device",
    "posix_tz_offset",
]
