"""What any device reader observes about a recorder, in one typed vocabulary.

The ONVIF, ISAPI and Dahua readers all return these, so the collector and the rules do
not care which road a recorder was read by (see ../shared/design/architecture.md).
A leaf module: plain frozen dataclasses, no I/O, nothing of vidaudit imported.

Instants a recorder reports about its footage are on the *device's* clock (UTC as the
device believes it); the collector moves them onto its own clock by the measured drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


#: Where a clock reading's UTC came from:
#: ``utc``          the device said UTC (ONVIF UTCDateTime, ISAPI ``...Z``);
#: ``local+offset`` local time with its UTC offset (ISAPI ``2026-11-20T10:00:00+08:00``);
#: ``local+tz``     local wall time minus the offset of the device's POSIX time zone;
#: ``local+branch`` local wall time in the branch's time zone (Dahua sends no zone);
#: ``none``         nothing usable.
UtcSource = Literal["utc", "local+offset", "local+tz", "local+branch", "none"]


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """One reading of the device's clock, with the collector instants around it.

    ``sent_at``/``received_at`` are the collector's UTC clock just before the request
    and just after the reply; drift = device UTC - midpoint(sent_at, received_at).
    Devices answer to the second, so drift is good to about +-1 s.
    """

    sent_at: dt.datetime
    received_at: dt.datetime
    #: Device UTC; None when the device sent nothing usable.
    utc: dt.datetime | None
    utc_source: UtcSource
    #: Device local wall time exactly as reported, ``YYYY-MM-DDTHH:MM:SS`` (no offset).
    local_wall: str | None
    #: The same wall time as an aware datetime, when its UTC offset is known.
    local: dt.datetime | None
    #: POSIX TZ string as reported, e.g. ``CST-8`` (UTC+8) or ``BRT3`` (UTC-3).
    tz: str | None
    #: Standard-time UTC offset parsed from ``tz`` (POSIX sign inverted), if parsable.
    tz_offset: dt.timedelta | None
    #: Local minus UTC as the device reported both (includes DST), rounded to the minute.
    observed_offset: dt.timedelta | None
    daylight_savings: bool | None
    #: ``NTP`` or ``Manual`` as the device says.
    time_source: str | None

    @property
    def midpoint(self) -> dt.datetime:
        return self.sent_at + (self.received_at - self.sent_at) / 2

    @property
    def drift(self) -> dt.timedelta | None:
        """Device UTC minus the collector's clock at the midpoint of the exchange."""
        return None if self.utc is None else self.utc - self.midpoint

    @property
    def local_offset(self) -> dt.timedelta | None:
        """The device's local time minus UTC, as best known (for its day calendars)."""
        if self.observed_offset is not None:
            return self.observed_offset
        return self.tz_offset


#: A disk as vidaudit judges it: ``ok`` records; ``error`` (failed, unreadable,
#: read-only by fault), ``unformatted`` and ``absent`` do not (R6.storage); ``other``
#: is a state we do not know (sleeping, formatting, ...), shown but not judged.
DiskState = Literal["ok", "error", "unformatted", "absent", "other"]
DISK_STATES: frozenset[str] = frozenset(get_args(DiskState))


@dataclass(frozen=True, slots=True)
class Disk:
    #: The device's own id or name for the disk (``1``, ``hdd1``, ``/dev/sda``).
    id: str
    #: The status word exactly as the device gave it (``ok``, ``error``, ``unformatted``).
    status: str
    state: DiskState
    capacity_bytes: int | None
    free_bytes: int | None
    #: ``hdd``, ``nas``, ... as the device lists it.
    kind: str = "hdd"


def disks_key(disks: tuple[Disk, ...] | None) -> str | None:
    """What identifies a recorder's set of disks (ids, sizes, states; not free space):
    when it changes, a disk was swapped, formatted or lost, and footage read before may be
    gone, so nothing read earlier is built on (see ``KnownFootage``)."""
    if disks is None:
        return None
    return "|".join(sorted(f"{d.kind}:{d.id}:{d.capacity_bytes}:{d.state}" for d in disks))


@dataclass(frozen=True, slots=True)
class KnownFootage:
    """What an earlier read of one channel settled, so the next read asks the recorder
    only for what changed since (device clock, UTC).

    Why this is sound: recorded footage is not rewritten in place.  What does change is
    (1) new footage after ``settled_until`` (searched again every time), (2) the oldest
    footage, overwritten when the disks are full (the edge is searched every time, from
    ``earliest`` on), (3) everything, when a disk is swapped, formatted or fails (then
    the disks' key differs and the channel is read in full).  What nothing here sees
    (footage deleted from the middle by hand, a camera's own storage filling a gap
    later) is caught by reading every channel in full again at least once a day (the
    collector decides, by ``read_in_full_at``).
    """

    #: Segments before this are settled: merged, inside the read window, clipped here.
    settled_until: dt.datetime
    segments: tuple[tuple[dt.datetime, dt.datetime], ...]
    earliest: dt.datetime | None
    earliest_bounded: bool
    #: ``disks_key`` of the recorder when this was read.
    disks: str | None
    #: When the channel was last read in full (the collector's UTC clock).
    read_in_full_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ChannelFootage:
    """One channel's recorded footage as a vendor API reported it (device clock, UTC).

    ``segments`` are exact inside ``[searched_from, searched_to)``: the recorder was
    asked for every recorded segment there (days its calendar showed empty were skipped:
    they hold nothing).  ``earliest`` is the oldest footage found by walking back; when
    ``earliest_bounded`` the walk stopped at its limit with footage still there, so the
    real oldest footage is older still.
    """

    number: int
    #: False when the recorder has no such channel (track/channel unknown to it).
    exists: bool
    searched_from: dt.datetime
    searched_to: dt.datetime
    segments: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    earliest: dt.datetime | None = None
    earliest_bounded: bool = False
    latest: dt.datetime | None = None
    #: Device-local dates the recorder's day calendar marks as holding footage (None
    #: when the API has no calendar).
    days_with_footage: frozenset[dt.date] | None = None
    #: The recorder's own word on whether the channel records now (None: not given).
    recording: bool | None = None
    #: Whether the camera behind the channel is connected (None: not given).
    camera_online: bool | None = None
    #: What the next read may build on (None: nothing, e.g. the channel does not exist).
    settled: KnownFootage | None = None
    #: True when this read built on an earlier one instead of searching the whole window.
    continued: bool = False


@dataclass(frozen=True, slots=True)
class RecorderReading:
    """Everything one vendor-API probe of a recorder found."""

    clock: DeviceClock
    info: DeviceInfo
    #: Every disk the recorder lists; None when it would not say.
    disks: tuple[Disk, ...] | None
    channels: tuple[ChannelFootage, ...]
    #: The RTSP port the recorder reports for playback (None: not given).
    rtsp_port: int | None = None
    #: What the probe could not read, by operation, with the error kind (optional calls).
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadRequest:
    """What to read: configured channel numbers and how far back (collector UTC)."""

    channels: tuple[int, ...]
    window_start: dt.datetime
    #: How far back the oldest footage is looked for (from the device's now).
    lookback_days: int = 400
    #: The branch's UTC offset: used only where the device gives none.
    fallback_offset: dt.timedelta = dt.timedelta(hours=8)
    #: What earlier reads settled, by channel number (see ``KnownFootage``).
    known: Mapping[int, KnownFootage] = field(default_factory=dict)
