"""The resolved fleet: every device and channel with concrete values, before any port opens.

A scenario (YAML and/or flags) is resolved into these frozen dataclasses; the servers,
the ground truth and the inventory are all computed from them and nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from vidaudit.inventory.schema import ChannelRole, OpenHours, Policy, WeekHours


class Pattern(StrEnum):
    """The device's daily recording schedule (on the device's own clock)."""

    CONTINUOUS = "continuous"
    #: Records from open minus ``record_before_open_min`` to close plus ``record_after_close_min``.
    BUSINESS_HOURS = "business_hours"
    #: Records exactly from open to close: no 提前开机/延迟关机 margins (violates R2).
    BUSINESS_HOURS_NO_MARGIN = "business_hours_no_margin"


class Picture(StrEnum):
    """What the channel's camera shows (drawn into the snapshot JPEG)."""

    NORMAL = "normal"
    BLACK = "black"
    NO_SIGNAL = "no_signal"
    FROZEN = "frozen"
    BLUR = "blur"
    OCCLUDED = "occluded"
    COLOUR_CAST = "colour_cast"
    DARK = "dark"
    BRIGHT = "bright"
    MOVED = "moved"
    #: normal pictures that look unusual: the hall at night (dim, grainy) and the camera's
    #: IR night mode (black-and-white); the picture checks must pass both
    NIGHT = "night"
    IR = "ir"


class FaultKind(StrEnum):
    HANG = "hang"
    SLOW = "slow"
    HTTP500 = "http500"
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    XML_BOMB = "xml_bomb"
    HUGE = "huge"
    RESET = "reset"


class TimeReport(StrEnum):
    """Which clocks GetSystemDateAndTime reports; some firmware omits UTCDateTime."""

    BOTH = "both"
    LOCAL_ONLY = "local_only"
    UTC_ONLY = "utc_only"


class Api(StrEnum):
    """Which API the inventory reads the device by (a Hikvision or Dahua device serves
    its vendor API and ONVIF alike; this only decides what cameras.yaml says)."""

    ONVIF = "onvif"
    ISAPI = "isapi"
    DAHUA = "dahua"
    #: registers to the fleet's GB/T 28181 platform instead of serving ONVIF
    GB28181 = "gb28181"


class IsapiTime(StrEnum):
    """How ``/ISAPI/System/time`` writes localTime: with its offset (current firmware),
    as UTC with ``Z``, or with no offset at all (older firmware, vendor guide §4.2.4)."""

    OFFSET = "offset"
    UTC = "utc"
    NAIVE = "naive"


class DeviceKind(StrEnum):
    NVR = "nvr"
    CAMERA = "camera"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    #: ``slow``: seconds before the (correct) answer.
    delay_s: float = 30.0
    #: ``huge``: response size in MB (streamed).
    size_mb: float = 50.0
    #: Only these operations misbehave (None: every SOAP request; ``hang`` then hangs at accept).
    operations: frozenset[str] | None = None

    def applies_to(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations


Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class DiskPlan:
    """One disk as the recorder reports it; ``status`` is the vendor's word."""

    status: str = "ok"
    capacity_gb: float = 4000.0
    free_gb: float = 0.0  # a recorder that overwrites is always full


@dataclass(frozen=True)
class VendorApiPlan:
    """How the device's own HTTP API (ISAPI or Dahua) behaves."""

    #: Recordings are cut into files this long (Dahua "pack duration", default 60 min;
    #: Hikvision cuts by size, about as often at bank bitrates); also at local midnight.
    file_minutes: int = 60
    #: ISAPI: matches per search page whatever maxResults asks (vendor SDK doc: ~40).
    page_cap: int = 40
    #: ISAPI: ``isapi`` (http://www.isapi.org/ver20/XMLSchema) or ``hikvision``
    #: (http://www.hikvision.com/ver20/XMLSchema); both occur in the captures.
    namespace: str = "isapi"
    time_format: IsapiTime = IsapiTime.OFFSET
    #: Dahua: findFile answers HTTP 400 when the window holds nothing.
    empty_find_400: bool = False
    #: HTTP digest algorithm offered: ``MD5`` or ``SHA-256``.
    digest: str = "MD5"
    disks: tuple[DiskPlan, ...] = (DiskPlan(),)


@dataclass(frozen=True)
class ChannelPlan:
    id: str
    name: str
    role: ChannelRole
    #: 1-based channel number on its device.
    number: int
    #: Days of footage the device holds at generation time (before the schedule and gaps).
    retention_days: float
    pattern: Pattern = Pattern.CONTINUOUS
    record_before_open_min: int = 45
    record_after_close_min: int = 45
    #: Recording stopped at this instant (device clock) and never resumed.
    stopped_since: dt.datetime | None = None
    #: Explicit gaps (device-clock UTC), plus ``random_gaps`` more drawn from the seed.
    gaps: tuple[Interval, ...] = ()
    random_gaps: int = 0
    random_gap_minutes: tuple[float, float] = (3.0, 90.0)
    audio: bool = True
    audio_required: bool = False
    picture: Picture = Picture.NORMAL
    #: The camera behind the NVR channel is disconnected (vendor API channel status).
    camera_offline: bool = False
    #: Retention the inventory demands for this channel, when it overrides the role's.
    required_retention_days: int | None = None
    #: The inventory marks it an off-site ATM (D9); nothing the device does changes.
    offsite: bool = False


@dataclass(frozen=True)
class DevicePlan:
    id: str
    name: str
    kind: DeviceKind
    vendor: str
    username: str
    #: What the device accepts.
    password: str
    #: What the env file says (differs from ``password`` for a wrong-password device).
    configured_password: str
    clock_drift_s: float = 0.0
    posix_tz: str = "CST-8"
    time_report: TimeReport = TimeReport.BOTH
    offline: bool = False
    profile_s_only: bool = False
    fault: Fault | None = None
    channels: tuple[ChannelPlan, ...] = ()
    #: ``onvif``: served over ONVIF/RTSP on its own ports; ``isapi``/``dahua``: the same
    #: device, which cameras.yaml reads by its vendor API; ``gb28181``: registers to the
    #: fleet's platform address instead (``sim/gb28181``)
    api: Api = Api.ONVIF
    vendor_api: VendorApiPlan = VendorApiPlan()
    gb_transport: str = "udp"
    #: ``api`` isapi/dahua: cameras.yaml gives the ONVIF address too (``onvif:`` beside
    #: ``url:``), for what the vendor API lacks (live snapshots); the device serves ONVIF
    #: whatever ``api`` says, so this changes the inventory only
    onvif_too: bool = False

    @property
    def wrong_password(self) -> bool:
        return self.password != self.configured_password

    @property
    def onvif_configured(self) -> bool:
        """cameras.yaml gives the device's ONVIF address."""
        return self.api is Api.ONVIF or self.onvif_too


@dataclass(frozen=True)
class BranchPlan:
    id: str
    name: str
    #: IANA zone of the branch (business hours are branch local time).
    timezone: str
    hours: WeekHours
    closed_dates: tuple[dt.date, ...] = ()
    special_days: dict[dt.date, OpenHours] = field(default_factory=dict)
    devices: tuple[DevicePlan, ...] = ()
    #: the inventory's ``region:`` for the branch (None: none written)
    region: str | None = None

    def hours_on(self, day: dt.date) -> OpenHours | None:
        """Same rule as the inventory's ``Branch.hours_on``: special days, closures, weekdays."""
        if day in self.special_days:
            return self.special_days[day]
        if day in self.closed_dates:
            return None
        return self.hours.for_weekday(day.weekday())


@dataclass(frozen=True)
class GbPlatformPlan:
    """The upper platform the fleet's GB/T 28181 recorders register to (vidaudit)."""

    id: str
    domain: str
    password: str
    keepalive_s: float


@dataclass(frozen=True)
class FleetPlan:
    seed: int
    timezone: str
    policy: Policy
    branches: tuple[BranchPlan, ...]
    #: Generation instant, true UTC, whole seconds; every timeline is anchored here.
    now: dt.datetime
    gb28181: GbPlatformPlan | None = None

    def devices(self) -> list[tuple[BranchPlan, DevicePlan]]:
        return [(b, d) for b in self.branches for d in b.devices]

    def required_days(self, channel: ChannelPlan) -> int:
        if channel.required_retention_days is not None:
            return channel.required_retention_days
        return self.policy.retention_days_by_role.get(channel.role, self.policy.retention_days)
