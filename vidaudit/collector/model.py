"""What one collection run found, device by device and channel by channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.compliance.model import (
    ChannelEvidence,
    ChannelResult,
    DeviceStatus,
    FailedCall,
    Violation,
)
from vidaudit.inventory.schema import Policy
from vidaudit.readings import Disk, KnownFootage


@dataclass(frozen=True, slots=True)
class DeviceReport:
    device_id: str
    branch_id: str
    status: DeviceStatus
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    #: ONVIF services the device offers, by short name (device, media, recording, search, …)
    services: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    #: every disk the recorder listed (vendor APIs); None when unknown (ONVIF)
    storage: tuple[Disk, ...] | None = None
    serial: str | None = None
    #: who answered (serial, certificate), as the device reported it; None when not read
    identity: DeviceIdentity | None = None
    #: optional calls that failed (``media``, ``jobs``, ``job_states``, ``events``;
    #: collector/probe.py ``OPTIONAL_CALLS``):
    #: the device is online, what those calls tell is unknown
    unknown: dict[str, FailedCall] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SettledChannel:
    """What one vendor-API read settled about a channel (``collector.settled``), and what
    the channel was read as."""

    device_id: str
    api: str
    number: int
    footage: KnownFootage


@dataclass(frozen=True, slots=True)
class ChannelReport:
    channel_id: str
    device_id: str
    branch_id: str
    role: str
    evidence: ChannelEvidence
    result: ChannelResult
    #: what the next run may build on (channels read through ISAPI or Dahua)
    settled: SettledChannel | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    started_at: dt.datetime
    finished_at: dt.datetime
    policy: Policy
    devices: list[DeviceReport]
    channels: list[ChannelReport]
    #: channels whose live picture was judged in this run (R4); only for these can an
    #: R4 ticket close
    pictures_checked: frozenset[str] = frozenset()

    @property
    def devices_down(self) -> int:
        return sum(not device.status.online for device in self.devices)

    @property
    def violations(self) -> int:
        return sum(len(d.violations) for d in self.devices) + sum(
            len(c.result.violations) for c in self.channels
        )
