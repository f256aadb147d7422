"""``vidaudit probe``: one configured device, every call the collector and sampler make.

It runs the collector's own probe (``collector.probe.probe_device``, the same calls in
the same order as ``vidaudit collect``) and then the calls the sampler and the live
snapshots add (GetReplayUri for each channel's recording, GetSnapshotUri for each
channel's profile), with each recording job's live state (GetRecordingJobState, which
the collector leaves to the search's RecordingStatus), through one ``OnvifPool`` whose
recorder keeps every request and reply.  The outcome is judged exactly as a collection
run judges it.  Without ``--capture`` the outcome is printed for a person; with it the
traffic is redacted (``capture.redact``) and written in the fixture layout
(``capture.layout``) with the conclusions, so the folder becomes a regression test.

A recorder read through its vendor API (``api: isapi | dahua``) is probed the same way
through ``collector.vendor_probe`` (the collector's calls; the sampler needs nothing
more from it than the RTSP port that reading includes), every HTTP exchange kept by the
``HttpPool``'s recorder and captured under ``isapi/`` or ``dahua/``.

The RTSP replay itself (a frame pull) is not part of a probe: it is video, not a call
to keep, and ``vidaudit frames`` does it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from vidaudit.capture.layout import Call
from vidaudit.capture.redact import Redactor
from vidaudit.collector.fleet import DeviceProbe, ProbeRequest, judge
from vidaudit.collector.model import ChannelReport, DeviceReport
from vidaudit.collector.probe import probe_device
from vidaudit.collector.vendor_probe import probe_vendor
from vidaudit.devicehttp.client import HttpExchange, HttpPool, HttpSettings
from vidaudit.errors import ConfigError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Branch, Device, Inventory
from vidaudit.onvif import schemas
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.topology import match_recording, profile_for
from vidaudit.onvif.transport import Exchange
from vidaudit.onvif.xmlsafety import UnsafeXml

#: The password a replayed capture's device is given (the real one is never kept).
REPLAY_PASSWORD_ENV = "VIDAUDIT_CAPTURE_PASSWORD"  # noqa: S105 -- a variable name


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SamplerCall:
    """One call the sampler or the snapshots make, and what came of it."""

    operation: str
    #: what was asked about: a channel id, or a recording job's token
    subject: str
    result: str | None
    error: DeviceError | None


@dataclass
class ProbeOutcome:
    branch: Branch
    device: Device
    captured_at: dt.datetime
    probe: DeviceProbe
    report: DeviceReport
    channels: list[ChannelReport]
    sampler: list[SamplerCall] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    #: the HTTP exchanges of a recorder read through its vendor API
    http_exchanges: list[HttpExchange] = field(default_factory=list)

    @property
    def calls_made(self) -> int:
        return len(self.exchanges) + len(self.http_exchanges)

    @property
    def failed(self) -> list[dict[str, str]]:
        """Every call that failed, and how (transport failures and refused replies), once
        each: a transport failure is also what left a fact unknown or a job's state."""
        out: list[dict[str, str]] = []

        def add(operation: str, kind: str, message: str, **more: str) -> None:
            entry = {"operation": operation, "kind": kind, "message": message}
            if not any(entry.items() <= seen.items() for seen in out):
                out.append(entry | more)

        for e in self.exchanges:
            if e.error is not None:
                add(e.operation or "?", e.error.kind, e.error.message)
        for h in self.http_exchanges:
            if h.error is not None:
                add(h.call, h.error.kind, h.error.message)
        status = self.report.status
        if not status.online and status.error_kind is not None:
            add("(device)", status.error_kind.value, status.error_message or "")
        for fact, why in self.report.unknown.items():
            add(why.call, why.kind, why.message, unknown=fact)
        for c in self.sampler:
            if c.error is not None:
                add(c.operation, c.error.kind, c.error.message)
        return out


def conclusions(outcome: ProbeOutcome) -> dict[str, Any]:
    """What vidaudit concluded, in the form a capture's ``expected`` keeps."""
    report = outcome.report
    channels: dict[str, Any] = {}
    for channel in outcome.channels:
        evidence, result = channel.evidence, channel.result
        channels[channel.channel_id] = {
            "recording_found": evidence.recording_found,
            "search_supported": evidence.search_supported,
            "recording_state": evidence.recording_state.value,
            "earliest": None if evidence.earliest is None else evidence.earliest.isoformat(),
            "latest": None if evidence.latest is None else evidence.latest.isoformat(),
            "gaps_known": evidence.footage is not None,
            "audio": evidence.audio_track,
            "unknown": sorted(evidence.unknown),
            "rules": sorted(v.rule for v in result.violations),
        }
    device: dict[str, Any] = {
        "online": report.status.online,
        "error_kind": None if report.status.error_kind is None else report.status.error_kind.value,
        "services": list(report.services),
        "unknown": sorted(report.unknown),
        "rules": sorted(v.rule for v in report.violations),
    }
    if report.storage is not None:  # vendor APIs list the disks; ONVIF does not
        device["storage"] = [
            {"status": d.status, "capacity_bytes": d.capacity_bytes, "free_bytes": d.free_bytes}
            for d in report.storage
        ]
    return {"device": device, "channels": channels}


async def _sampler_calls(
    pool: OnvifPool, device: Device, resolver: SecretResolver, probe: DeviceProbe
) -> list[SamplerCall]:
    """The calls a frame pull and a live snapshot make beyond the collector's."""
    data = probe.recordings
    if data is None:
        return []
    calls: list[SamplerCall] = []
    async with pool.open(str(device.onvif), resolver.credentials(device)) as dev:
        try:
            await dev.services()
            # Each job's live state (``job_states`` on): the collector reads RecordingStatus
            # from the search instead, but a capture should show whether the device answers.
            jobs = await dev.recording_jobs() if dev.offers("recording") else ()
        except DeviceError as err:
            calls.append(SamplerCall("GetRecordingJobs", "", None, err))
            jobs = ()
        calls.extend(
            SamplerCall("GetRecordingJobState", job.token, job.state, job.state_error)
            for job in jobs
        )
        for channel in device.channels:
            recording = match_recording(channel.ref, data)
            if recording is not None and dev.offers("replay"):
                try:
                    replay = await dev.replay_uri(recording.token)
                    calls.append(SamplerCall("GetReplayUri", channel.id, replay.uri, None))
                except DeviceError as err:
                    calls.append(SamplerCall("GetReplayUri", channel.id, None, err))
            profile = profile_for(channel.ref, data.profiles, data.video_sources)
            if profile is not None:
                try:
                    uri = await dev.snapshot_uri(profile.token)
                    calls.append(SamplerCall("GetSnapshotUri", channel.id, uri, None))
                except DeviceError as err:
                    calls.append(SamplerCall("GetSnapshotUri", channel.id, None, err))
    return calls


def probe_user(device: Device) -> str:
    """The user the probe logs in as (ONVIF or the vendor HTTP API).  A GB/T 28181 recorder
    has none: nothing here can call it, it answers only the platform it registers to, so
    the probe refuses it in one line (``ConfigError``, exit 2) instead of failing inside a
    call."""
    if device.api is Api.GB28181 or device.username is None:
        raise ConfigError(
            f"{device.id} is a GB/T 28181 recorder (api: gb28181) and vidaudit probe speaks "
            "ONVIF, ISAPI and the Dahua HTTP API: the recorder answers only the platform it "
            "registers to. Read it through that platform: run `vidaudit gb serve` (or "
            "`vidaudit serve`), then "
            "`vidaudit collect --branch BRANCH --format json`"
        )
    return device.username


async def probe_one(
    inventory: Inventory,
    branch: Branch,
    device: Device,
    resolver: SecretResolver,
    settings: OnvifSettings,
    *,
    clock: Callable[[], dt.datetime] = _utcnow,
    http: HttpSettings | None = None,
    lookback_days: int = 400,
) -> ProbeOutcome:
    """Probe ``device`` as the collector does, then make the sampler's calls; judge.
    ``http`` and ``lookback_days``: for a recorder read through its vendor API."""
    probe_user(device)
    now = clock()
    request = ProbeRequest.at(inventory, branch, device, now)
    if device.api is not Api.ONVIF:
        recorded: list[HttpExchange] = []
        async with HttpPool(http, recorder=recorded.append, clock=clock) as http_pool:
            probe = await probe_vendor(http_pool, request, resolver, lookback_days)
        report, channels = judge(inventory, branch, device, probe, now)
        return ProbeOutcome(branch, device, now, probe, report, channels, http_exchanges=recorded)
    exchanges: list[Exchange] = []
    async with OnvifPool(settings, recorder=exchanges.append, clock=clock) as pool:
        probe = await probe_device(pool, request, resolver)
        sampler: list[SamplerCall] = []
        if probe.status.online:
            sampler_settings = settings.model_copy(update={"job_states": True})
            async with OnvifPool(
                sampler_settings, recorder=exchanges.append, clock=clock
            ) as sampler_pool:
                sampler = await _sampler_calls(sampler_pool, device, resolver, probe)
    report, channels = judge(inventory, branch, device, probe, now)
    return ProbeOutcome(branch, device, now, probe, report, channels, sampler, exchanges)


# -- the capture ------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("vidaudit")
    except PackageNotFoundError:
        return "unknown"


def schema_problems(reply: bytes | None) -> tuple[str, ...]:
    """What the ONVIF schemas say against a reply (a fault or no reply: nothing)."""
    if reply is None:
        return ()
    try:
        return tuple(str(p) for p in schemas.problems_in_reply(reply))
    except UnsafeXml as exc:
        return (f"not a SOAP message: {exc}",)


def capture_inventory(outcome: ProbeOutcome, inventory: Inventory, redactor: Redactor) -> Any:
    """The inventory reduced to this branch and device, with nothing secret in it."""
    document = inventory.model_dump(mode="json", exclude_none=True)
    branch = next(b for b in document["branches"] if b["id"] == outcome.branch.id)
    device = next(d for d in branch["devices"] if d["id"] == outcome.device.id)
    device.pop("password_file", None)
    device["password"] = "${" + REPLAY_PASSWORD_ENV + "}"
    for address in ("onvif", "url"):
        if address in device:
            device[address] = redactor.text(str(device[address]))
    device["username"] = redactor.text(device["username"])
    device.pop("name", None)
    branch["devices"] = [device]
    branch["name"] = branch["id"]
    # Opening hours as cameras.yaml writes them ("08:30-17:00", "closed").
    hours = outcome.branch.hours
    branch["hours"] = {
        day: "closed" if getattr(hours, day) is None else str(getattr(hours, day))
        for day in type(hours).model_fields
    }
    branch["special_days"] = {
        day.isoformat(): str(opening) for day, opening in outcome.branch.special_days.items()
    }
    document["branches"] = [branch]
    document.pop("env_file", None)
    return document


def capture(
    outcome: ProbeOutcome, inventory: Inventory, password: str
) -> tuple[dict[str, Any], list[Call]]:
    """The redacted calls and the manifest of ``outcome`` (see ``capture.layout``)."""
    info = outcome.probe.info
    redactor = Redactor(secrets=[password], names=[probe_user(outcome.device)])
    if info is not None and info.serial:
        redactor.value("SERIAL", info.serial)
    for address in (outcome.device.onvif, outcome.device.url):
        if address is not None and address.host:
            redactor.host(address.host)
    calls = [
        Call(
            protocol="onvif",
            operation=e.operation or "unknown",
            request=redactor.bytes(e.request),
            reply=None if e.reply is None else redactor.bytes(e.reply),
            status=e.status,
            error=None
            if e.error is None
            else {"kind": e.error.kind, "message": redactor.text(e.error.message)},
            schema=tuple(redactor.text(p) for p in schema_problems(e.reply)),
        )
        for e in outcome.exchanges
    ]
    calls += [
        Call(
            protocol=outcome.device.api.value,
            operation=h.call,
            request=redactor.bytes(h.request),
            reply=None if h.reply is None else redactor.bytes(h.reply),
            status=h.status,
            error=None
            if h.error is None
            else {"kind": h.error.kind, "message": redactor.text(h.error.message)},
        )
        for h in outcome.http_exchanges
    ]
    manifest = {
        "vidaudit_version": _version(),
        "captured_at": outcome.captured_at.astimezone(dt.UTC).isoformat(),
        "device": {
            "manufacturer": info.manufacturer if info else None,
            "model": info.model if info else None,
            "firmware": info.firmware if info else None,
            "kind": outcome.device.kind.value,
            "vendor": outcome.device.vendor.value,
            "clock_drift_s": outcome.report.status.clock_drift_s,
        },
        "inventory": capture_inventory(outcome, inventory, redactor),
        "failed": [
            {k: redactor.text(str(v)) for k, v in entry.items()} for entry in outcome.failed
        ],
        "expected": conclusions(outcome),
    }
    return manifest, calls


def elapsed_clock(start: dt.datetime) -> Callable[[], dt.datetime]:
    """A UTC clock that reads ``start`` now and runs at the real pace (capture replay)."""
    origin = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - origin)
