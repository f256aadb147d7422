"""What the rules take and give: plain values, no I/O, no clock of their own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from vidaudit.compliance.spans import Span

# Why a device could not be read: the project's one vocabulary, re-exported for the rules.
from vidaudit.errors import ErrorKind as ErrorKind


class Severity(StrEnum):
    CRITICAL = "critical"  # evidence may be lost or nothing is recorded: act today
    MAJOR = "major"  # a rule is broken; fix within the rectification deadline
    MINOR = "minor"  # cannot be confirmed or a lesser requirement


EvidenceValue = str | int | float | bool | None | list[str]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule; ``rule`` is the domain document's id with a sub-rule."""

    rule: str
    severity: Severity
    detail: str
    evidence: dict[str, EvidenceValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    online: bool
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    #: device UTC − collector UTC at the request's midpoint; None when not read.
    clock_drift_s: float | None = None


class FailedCall(NamedTuple):
    """An optional device call that failed: what it would have told is unknown."""

    call: str  # the operation, e.g. ``FindEvents``
    kind: str  # an error kind (``ErrorKind`` values)
    message: str

    def __str__(self) -> str:
        return f"{self.call} failed ({self.kind}): {self.message}"


class RecordingState(StrEnum):
    RECORDING = "recording"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ChannelEvidence:
    """What the collector established about one configured channel's recordings.

    ``footage`` is None when the device cannot say where its gaps are (no event search);
    ``earliest``/``latest`` are None when unknown or implausible (e.g. a 1970 DataFrom).
    """

    channel_id: str
    search_supported: bool
    recording_found: bool
    recording_state: RecordingState = RecordingState.UNKNOWN
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    footage: list[Span] | None = None
    audio_track: bool | None = None
    #: earliest instant proven by an actually pulled frame (sampler), if any
    verified_earliest: dt.datetime | None = None
    #: the camera behind this NVR channel is connected (vendor APIs say; None: unknown)
    camera_online: bool | None = None
    #: facts a failed optional device call left unknown -> why (``recording``: which
    #: recording is this channel's; ``recording_state``; ``footage``: the gaps).  Only
    #: the rules that need one of them say ``unverifiable``; nothing is guessed.
    unknown: dict[str, FailedCall] = field(default_factory=dict)


class BusinessDay(NamedTuple):
    """One business day's recording duty: ``[open − margin, close + margin)`` covered?

    A named tuple, not a frozen dataclass: a run makes one per business day per channel
    (~300,000 on an 8,000-channel fleet) and a tuple is built at a third of the cost.
    """

    date: dt.date
    need: Span
    covered: bool
    gaps: list[Span]
    has_footage: bool


@dataclass(frozen=True, slots=True)
class ChannelResult:
    channel_id: str
    required_days: int
    retention_days: float | None
    verified: bool
    occupancy: float | None
    gaps: list[Span] | None
    business_days: list[BusinessDay]
    business_hours_covered: bool | None
    audio: bool | None
    violations: list[Violation]

    @property
    def compliant(self) -> bool:
        return not self.violations
