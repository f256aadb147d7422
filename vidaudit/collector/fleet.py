"""Poll every device of the inventory concurrently and judge every channel.

Bounded concurrency (a semaphore), a deadline per device enforced here as well as inside
the device layer, and one failing device never touches the others: whatever a probe
raises beyond ``DeviceError`` is a bug and is allowed to surface.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Self

from vidaudit.collector.derive import DeviceRecordings, evidence_for, evidence_from_reading
from vidaudit.collector.model import ChannelReport, DeviceReport, RunReport, SettledChannel
from vidaudit.compliance.identity import DeviceIdentity, identity_violation
from vidaudit.compliance.model import (
    ChannelEvidence,
    ChannelResult,
    DeviceStatus,
    ErrorKind,
    RecordingState,
    Violation,
)
from vidaudit.compliance.rules import business_day_needs, evaluate_channel, evaluate_device
from vidaudit.compliance.spans import Span
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import AudioRequirement, Branch, Channel, Device, Inventory
from vidaudit.readings import DeviceInfo, Disk, KnownFootage, RecorderReading

#: Extra day of events searched before the window so the first day's start state is known.
_EVENT_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class DeviceProbe:
    """What one device said in one probe; ``recordings`` is None when the device was not
    read far enough (offline, refused us)."""

    status: DeviceStatus
    info: DeviceInfo | None = None
    services: list[str] = field(default_factory=list)
    recordings: DeviceRecordings | None = None
    #: what a vendor API (ISAPI, Dahua) said, instead of ONVIF recordings
    reading: RecorderReading | None = None
    identity: DeviceIdentity | None = None
    #: evidence per configured channel id, when the reader derived it itself (GB/T 28181
    #: answers per channel; ONVIF answers per recording, matched in ``derive``)
    evidence: Mapping[str, ChannelEvidence] | None = None
    #: the "now" that ``evidence`` was derived at: footage reaching it is still being
    #: written and runs on to the judge's now (see ``_still_writing``)
    evidence_at: dt.datetime | None = None

    @property
    def disks(self) -> tuple[Disk, ...] | None:
        return None if self.reading is None else self.reading.disks


@dataclass(frozen=True)
class ProbeRequest:
    branch: Branch
    device: Device
    #: how far back footage and events matter for this device (its longest requirement)
    window_start: dt.datetime
    now: dt.datetime
    #: the branch's IANA zone (Dahua recorders report local time without an offset)
    timezone: str = "Asia/Shanghai"
    #: what earlier runs settled, by channel number (vendor APIs; ``collector.settled``)
    known: Mapping[int, KnownFootage] = field(default_factory=dict)

    @classmethod
    def at(
        cls,
        inventory: Inventory,
        branch: Branch,
        device: Device,
        now: dt.datetime,
        *,
        known: Mapping[int, KnownFootage] | None = None,
    ) -> Self:
        """What the collector asks of ``device`` at ``now``: footage and events back to
        its longest requirement, plus a day for the first day's start state; ``known``:
        what earlier runs settled (vendor APIs)."""
        days = max(inventory.required_days(channel) for channel in device.channels)
        return cls(
            branch,
            device,
            now - dt.timedelta(days=days) - _EVENT_MARGIN,
            now,
            timezone=branch.timezone or inventory.timezone,
            known=known or {},
        )


Prober = Callable[[ProbeRequest, SecretResolver], Awaitable[DeviceProbe]]
Progress = Callable[[str, DeviceProbe], None]
#: Receives each device's reports as soon as they are judged (see ``poll_fleet``); may
#: hold the device's slot until it has passed them on (back-pressure).
Judged = Callable[[DeviceReport, list[ChannelReport]], Awaitable[None]]


async def _probe_bounded(
    request: ProbeRequest,
    resolver: SecretResolver,
    prober: Prober,
    semaphore: asyncio.Semaphore,
    deadline_s: float,
) -> DeviceProbe:
    async with semaphore:
        device_id = request.device.id
        problem = resolver.problem(request.device)
        if problem is not None:
            return DeviceProbe(DeviceStatus(device_id, False, ErrorKind.CONFIG, problem))
        try:
            async with asyncio.timeout(deadline_s):
                return await prober(request, resolver)
        except TimeoutError:
            return DeviceProbe(
                DeviceStatus(
                    device_id,
                    False,
                    ErrorKind.TIMEOUT,
                    f"device did not finish within its {deadline_s:.0f} s deadline",
                )
            )


def judge(
    inventory: Inventory,
    branch: Branch,
    device: Device,
    probe: DeviceProbe,
    now: dt.datetime,
    verified: Mapping[str, dt.datetime] | None = None,
    pinned: DeviceIdentity | None = None,
) -> tuple[DeviceReport, list[ChannelReport]]:
    """Pure: a probe's results into a device report and one report per configured channel.

    ``verified``: per channel, the earliest footage a pulled frame proved (R1 verified).
    ``pinned``: the device's identity as first seen; if another device answered, only
    R6.identity is reported, for the device and every channel (its footage is not ours)."""
    policy = inventory.policy
    tz = inventory.branch_timezone(branch)
    info = probe.info
    stranger = (
        identity_violation(pinned, probe.identity)
        if pinned is not None and probe.identity is not None
        else None
    )
    device_report = DeviceReport(
        device_id=device.id,
        branch_id=branch.id,
        status=probe.status,
        manufacturer=info.manufacturer if info else None,
        model=info.model if info else None,
        firmware=info.firmware if info else None,
        services=probe.services,
        violations=[stranger] if stranger else evaluate_device(probe.status, policy, probe.disks),
        # a stranger's facts are not reported: only R6.identity is
        storage=probe.disks if probe.status.online and stranger is None else None,
        serial=(info.serial or None) if info else None,
        identity=probe.identity,
        unknown=dict(probe.recordings.unknown)
        if probe.recordings is not None and stranger is None
        else {},
    )
    channels = []
    # business-day spans depend only on the branch and the window: once per window length
    needs: dict[int, list[tuple[dt.date, Span]]] = {}
    for channel in device.channels:
        required = inventory.required_days(channel)
        window = Span(now - dt.timedelta(days=required), now)
        if required not in needs:
            needs[required] = business_day_needs(branch, policy, tz, window.start, now)
        settled: SettledChannel | None = None
        if stranger is not None:
            channels.append(_not_judged(branch, device, channel, required, stranger))
            continue
        if probe.reading is not None:
            evidence = evidence_from_reading(channel.id, channel.ref, probe.reading, now=now)
            settled = _settled(device, channel.ref.channel, probe.reading)
        elif probe.evidence is not None and channel.id in probe.evidence:
            evidence = _still_writing(probe.evidence[channel.id], probe.evidence_at, now)
        elif probe.recordings is not None:
            evidence = evidence_for(
                channel.id, channel.ref, probe.recordings, window=window, now=now
            )
        else:
            evidence = ChannelEvidence(channel.id, search_supported=False, recording_found=False)
        if verified and channel.id in verified:
            evidence = replace(evidence, verified_earliest=verified[channel.id])
        result = evaluate_channel(
            evidence,
            probe.status,
            branch=branch,
            policy=policy,
            tz=tz,
            required_days=required,
            audio_required=channel.audio is AudioRequirement.REQUIRED,
            now=now,
            needs=needs[required],
        )
        channels.append(
            ChannelReport(
                channel.id, device.id, branch.id, channel.role.value, evidence, result, settled
            )
        )
    return device_report, channels


def _still_writing(
    evidence: ChannelEvidence, derived_at: dt.datetime | None, now: dt.datetime
) -> ChannelEvidence:
    """A reader that derives evidence itself (GB/T 28181) runs the segment being written to
    its own now; the channel is judged a little later, at ``now``.  Carry that segment on
    to ``now``, as ONVIF's open IsDataPresent span is, or the moment between the two would
    be a business-hours gap on every recording channel."""
    footage = evidence.footage
    if (
        derived_at is None
        or evidence.recording_state is not RecordingState.RECORDING
        or not footage
        or footage[-1].end < derived_at
        or now <= footage[-1].end
    ):
        return evidence
    return replace(evidence, footage=[*footage[:-1], Span(footage[-1].start, now)])


def known_for(device: Device, settled: Mapping[str, SettledChannel]) -> dict[int, KnownFootage]:
    """By channel number, what can be built on for this device as configured now: rows
    of a channel since moved to another device, API or number are of no use."""
    out: dict[int, KnownFootage] = {}
    for channel in device.channels:
        row = settled.get(channel.id)
        if (
            row is not None
            and row.device_id == device.id
            and row.api == device.api.value
            and row.number == channel.ref.channel
        ):
            out[row.number] = row.footage
    return out


def _settled(device: Device, number: int | None, reading: RecorderReading) -> SettledChannel | None:
    footage = next((c for c in reading.channels if c.number == number), None)
    if number is None or footage is None or footage.settled is None:
        return None
    return SettledChannel(device.id, device.api.value, number, footage.settled)


def _not_judged(
    branch: Branch, device: Device, channel: Channel, required: int, why: Violation
) -> ChannelReport:
    """A channel whose footage is not judged: another device answered for its recorder."""
    evidence = ChannelEvidence(channel.id, search_supported=False, recording_found=False)
    result = ChannelResult(
        channel_id=channel.id,
        required_days=required,
        retention_days=None,
        verified=False,
        occupancy=None,
        gaps=None,
        business_days=[],
        business_hours_covered=None,
        audio=None,
        violations=[why],
    )
    return ChannelReport(channel.id, device.id, branch.id, channel.role.value, evidence, result)


async def poll_device(
    inventory: Inventory,
    branch: Branch,
    device: Device,
    resolver: SecretResolver,
    prober: Prober,
    *,
    semaphore: asyncio.Semaphore,
    device_deadline_s: float,
    clock: Callable[[], dt.datetime],
    verified: Mapping[str, dt.datetime] | None = None,
    settled: Mapping[str, SettledChannel] | None = None,
    pinned: DeviceIdentity | None = None,
) -> tuple[DeviceProbe, tuple[DeviceReport, list[ChannelReport]]]:
    """Probe one device (within its deadline, holding a ``semaphore`` slot) and judge it:
    what the fleet poll does per device, and what a distributed worker does per job.
    ``settled``: per channel, what earlier runs settled (``collector.settled``);
    ``pinned``: the device's identity pinned so far (collector/identity.py), if any."""
    known = known_for(device, settled) if settled else {}
    request = ProbeRequest.at(inventory, branch, device, clock(), known=known)
    probe = await _probe_bounded(request, resolver, prober, semaphore, device_deadline_s)
    # judged against the instant the device was read, not the end of the run
    return probe, judge(inventory, branch, device, probe, clock(), verified, pinned)


async def poll_fleet(
    inventory: Inventory,
    resolver: SecretResolver,
    prober: Prober,
    *,
    concurrency: int,
    device_deadline_s: float,
    clock: Callable[[], dt.datetime],
    branches: set[str] | None = None,
    devices: Set[str] | None = None,
    progress: Progress | None = None,
    verified: Mapping[str, dt.datetime] | None = None,
    settled: Mapping[str, SettledChannel] | None = None,
    judged: Judged | None = None,
    pins: Mapping[str, DeviceIdentity] | None = None,
) -> RunReport:
    """One run over the fleet, or the given branches and/or devices; ``clock`` is the
    collector's UTC.  With ``judged``, each device's reports go there as soon as they are
    judged and are not kept: the returned report then lists none (a helper process
    streams them to its parent instead of holding its whole share).  ``settled``: per
    channel, what earlier runs settled (``collector.settled.load_settled``)."""
    started = clock()
    semaphore = asyncio.Semaphore(concurrency)
    selected = [
        (branch, device)
        for branch, device in inventory.devices()
        if (branches is None or branch.id in branches) and (devices is None or device.id in devices)
    ]

    async def one(
        branch: Branch, device: Device
    ) -> tuple[DeviceReport, list[ChannelReport]] | None:
        probe, result = await poll_device(
            inventory,
            branch,
            device,
            resolver,
            prober,
            semaphore=semaphore,
            device_deadline_s=device_deadline_s,
            clock=clock,
            verified=verified,
            settled=settled,
            pinned=pins.get(device.id) if pins else None,
        )
        if progress is not None:
            progress(device.id, probe)
        if judged is None:
            return result
        await judged(*result)
        return None

    gathered = await asyncio.gather(*(one(branch, device) for branch, device in selected))
    results = [result for result in gathered if result is not None]
    return RunReport(
        started_at=started,
        finished_at=clock(),
        policy=inventory.policy,
        devices=[device for device, _channels in results],
        channels=[channel for _device, channels in results for channel in channels],
    )
