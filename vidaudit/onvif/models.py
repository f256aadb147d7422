"""Typed results of the device layer: frozen dataclasses, never zeep objects.

Time fields are timezone-aware.  Times a device *reports* about its footage come as
``ReportedTime``: the raw value is kept, and ``plausible`` is False when it cannot be
true (before 2000 -- Uniview summaries say DataFrom 1970-01-01, Milesight says
EarliestRecording 1970-01-01T00:03:15Z).  Use ``.value`` to get None for those; whether
a plausible time is *right* (e.g. later than now + drift) is the collector's call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from vidaudit.onvif.errors import DeviceError

# Shared with the ISAPI and Dahua readers: one clock reading and one identity, whichever
# protocol read the recorder.
from vidaudit.readings import DeviceClock, DeviceInfo

__all__ = [
    "PLAUSIBLE_SINCE",
    "DeviceClock",
    "DeviceInfo",
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
]

#: Earliest instant a device may truthfully claim footage from.
PLAUSIBLE_SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

TrackType = Literal["Video", "Audio", "Metadata", "Extended", "Unknown"]


@dataclass(frozen=True, slots=True)
class ReportedTime:
    """An instant as a device reported it, with a plausibility flag."""

    raw: dt.datetime  # aware; a value the device sent without offset is taken as UTC
    plausible: bool
    #: The device sent no UTC offset (ONVIF says these times are UTC; some firmware
    #: sends local wall time anyway, which we cannot tell apart).
    assumed_utc: bool = False

    @property
    def value(self) -> dt.datetime | None:
        """The instant, or None when it is implausible (treat as unknown)."""
        return self.raw if self.plausible else None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    xaddr: str
    #: ``(major, minor)`` as the device reports it.
    version: tuple[int, int] | None
    #: Our short name for well-known namespaces (``devicemgmt``, ``media``, ``recording``,
    #: ``search``, ``replay``, ``events``, ...), else None.
    name: str | None


@dataclass(frozen=True, slots=True)
class VideoSource:
    token: str
    width: int | None
    height: int | None
    framerate: float | None


@dataclass(frozen=True, slots=True)
class Profile:
    token: str
    name: str
    #: The physical video input (VideoSourceConfiguration/SourceToken): how a channel is
    #: matched across profiles, recordings and jobs on most NVRs.
    video_source_token: str | None
    video_source_config_token: str | None
    video_encoder_token: str | None
    encoding: str | None
    width: int | None
    height: int | None
    framerate_limit: float | None
    has_audio: bool


@dataclass(frozen=True, slots=True)
class Track:
    token: str
    type: TrackType
    description: str
    data_from: ReportedTime | None
    data_to: ReportedTime | None


@dataclass(frozen=True, slots=True)
class Recording:
    token: str
    #: RecordingSourceInformation: SourceId is often the video source token or a
    #: profile URI; Name is often the channel name.  Vendors differ.
    source_id: str
    source_name: str
    source_location: str
    source_description: str
    source_address: str
    content: str
    earliest: ReportedTime | None
    latest: ReportedTime | None
    tracks: tuple[Track, ...]
    #: Initiated / Recording / Stopped / Removing / Removed / Unknown (search only).
    status: str | None
    #: MaximumRetentionTime from the recording configuration (GetRecordings only).
    max_retention: dt.timedelta | None
    #: Which call described it: the search service (with times) or GetRecordings
    #: (configuration only, no times).
    origin: Literal["search", "recording"]


@dataclass(frozen=True, slots=True)
class RecordingJob:
    token: str
    recording_token: str
    #: Configured mode: ``Active`` or ``Idle``.
    mode: str
    priority: int | None
    #: Source tokens feeding the job (usually a profile or video source token).
    source_tokens: tuple[str, ...]
    #: GetRecordingJobState: ``Active``, ``PartiallyActive``, ``Idle``, ``Error``; None
    #: when not read or not supported.
    state: str | None
    #: Why GetRecordingJobState gave no state when it was asked and failed (None when it
    #: answered, was not asked, or the firmware does not do it): the live state is then
    #: unknown, and ``mode`` (configuration) must not stand in for it.
    state_error: DeviceError | None = None


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    data_from: ReportedTime | None
    data_until: ReportedTime | None
    number_recordings: int


@dataclass(frozen=True, slots=True)
class RecordingEvent:
    """One ``tns1:RecordingHistory/...`` event from FindEvents.

    ``name`` is the data item (``IsDataPresent`` for Track/State, ``IsRecording`` for
    Recording/State); ``value`` its boolean, None when the device sent something else.
    ``start_state`` marks the synthetic event giving the state at the search start
    (IncludeStartState=true).
    """

    time: ReportedTime
    recording_token: str
    track_token: str | None
    topic: str
    name: str | None
    value: bool | None
    start_state: bool


@dataclass(frozen=True, slots=True)
class ReplayUri:
    recording_token: str
    #: As the device returned it, vendor query parameters included.
    uri: str
