"""Ground truth: what a correct collector must conclude about each device and channel.

It is the simulator's own word, computed from the scenario (plan + timelines) and never
from collector code.  Format (``truth.json``)::

    {"generated_at": ISO8601,          # true UTC when the fleet was laid out
     "seed": int, "host": str, "timezone": IANA,
     "policy": {"record_before_open_min": int, "record_after_close_min": int, ...},
     "devices": {DEVICE_ID: {...}},    # see device_truth()
     "channels": {CHANNEL_ID: {...}}}  # see channel_truth()

All instants are timezone-aware ISO 8601 in UTC *on the device's own clock*, i.e. as the
device stamps footage and reports it through search (true UTC = device time minus
``clock_drift_s``).  Business days are branch-local dates.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from vidaudit.sim.plan import Api, DevicePlan, FaultKind, FleetPlan
from vidaudit.sim.rtsp.timecode import TIMECODE_VERSION
from vidaudit.sim.rtsp.video import FPS, GOP_MS, HEIGHT, WIDTH
from vidaudit.sim.scenario import env_name
from vidaudit.sim.timeline import complement

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice

#: A GB/T 28181 device's ID and its channels' IDs by channel number.
GbIds = tuple[str, dict[int, str]]

#: A "slow" device answering later than this is a timeout for any sane per-call deadline.
SLOW_IS_TIMEOUT_S = 10.0
BUSINESS_DAYS_MIN = 30


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


#: Disk states that stop a recorder recording (R6.storage).
BAD_DISKS = frozenset({"error", "unformatted", "absent"})


def storage_truth(plan: DevicePlan) -> list[dict[str, Any]]:
    """Disks as the vendor API reports them (bytes; ISAPI rounds to whole MB)."""
    mb = 1024 * 1024
    return [
        {
            "status": disk.status,
            "capacity_bytes": round(disk.capacity_gb * 1024) * mb,
            "free_bytes": round(disk.free_gb * 1024) * mb,
        }
        for disk in plan.vendor_api.disks
    ]


#: Operations that only enrich a reading of a device (docs/device-quirks.md, "Required
#: and optional calls"): a correct collector keeps a device online when only these fail,
#: with the facts they give unknown.  The simulator's own statement of that contract.
ENRICHING_OPERATIONS = frozenset(
    {
        "GetProfiles",
        "GetVideoSources",
        "GetRecordingJobs",
        "GetRecordingJobState",
        "FindEvents",
        "GetEventSearchResults",
    }
)


def enrichment_fails(plan: DevicePlan) -> bool:
    """The device's fault hits only enriching operations."""
    operations = plan.fault.operations if plan.fault is not None else None
    return operations is not None and operations <= ENRICHING_OPERATIONS


def expected_error(plan: DevicePlan) -> str | None:
    """The error kind a correct collector reports for this device (None: it works).

    Order of precedence = the order a probe meets them: the port, the transport, the
    credentials, then missing Profile G services.  A fault scoped to enriching
    operations only leaves the device readable.  A GB/T 28181 recorder that is offline
    or has the wrong password never registers: to the platform it is "unreachable".
    """
    if plan.offline:
        return "unreachable"
    if plan.api == "gb28181":
        if plan.wrong_password:
            return "unreachable"
        if plan.fault is not None and (
            plan.fault.kind is FaultKind.HANG
            or (plan.fault.kind is FaultKind.SLOW and plan.fault.delay_s >= SLOW_IS_TIMEOUT_S)
        ):
            return "timeout"
        return None
    if plan.fault is not None and not enrichment_fails(plan):
        kind = plan.fault.kind
        if kind is FaultKind.HANG:
            return "timeout"
        if kind is FaultKind.SLOW:
            return "timeout" if plan.fault.delay_s >= SLOW_IS_TIMEOUT_S else None
        if kind is FaultKind.HTTP500:
            return "device_fault"
        if kind is FaultKind.RESET:
            return "unreachable"
        return "malformed"  # malformed, truncated, xml_bomb, huge
    if plan.wrong_password:
        return "auth"
    if plan.profile_s_only and plan.api is Api.ONVIF:
        return "unsupported"  # a vendor API needs no Profile G
    return None


def device_truth(dev: SimDevice, gb: GbIds | None = None) -> dict[str, Any]:
    """Per device:

    - ``online``: the port accepts connections (False: offline, port closed).
    - ``fault``/``fault_delay_s``/``fault_operations``: the injected misbehaviour.
    - ``expected_error``: see ``expected_error()``.
    - ``enrichment_fails``: a fault hits only enriching operations (``ENRICHING_OPERATIONS``):
      online, but the facts those calls give are unknown.
    - ``clock_drift_s``: device clock minus true time, seconds (R3).
    - ``posix_tz``/``time_report``: what GetSystemDateAndTime reports.
    - ``search_supported``/``replay_supported``: Profile G services exist.
    - ``wrong_password``: the env file's password is not the device's.
    - ``api``: what cameras.yaml reads it by (``onvif``, ``isapi``, ``dahua``, ``gb28181``);
      ``api_url`` the vendor API's base URL (Hikvision serves ISAPI and Dahua its CGIs,
      whatever ``api`` says); for GB/T 28181 recorders ``gb_id`` and ``gb_transport`` (how
      it registers: udp or tcp); ``onvif_configured``: cameras.yaml gives ``onvif_url``
      (always with api onvif; with isapi/dahua when the scenario says ``onvif: true``),
      so the collector can take live snapshots of its channels.
    - ``storage``: the disks the vendor API reports (``status``: ok, idle, error,
      unformatted, absent); ``storage_fault``: R6.storage is due (a disk in error,
      unformatted or absent, or no disk at all) when the device is read by its vendor API.
    - ``replay``: the RTSP replay server on ``rtsp_port`` (``served``: it listens; false for
      offline and Profile-S-only devices; a GB/T 28181 recorder plays back over the
      platform instead, with the same video), its video (``fps``, ``gop_ms``, ``width``,
      ``height``) and ``timecode_version``: the block time code in every frame (format in
      ``vidaudit/sim/rtsp/timecode.py``).
    """
    p = dev.plan
    f = dev.flavour
    return {
        "branch": dev.branch.id,
        "name": p.name,
        "kind": p.kind.value,
        "host": dev.host,
        "port": dev.port,
        "onvif_url": dev.device_url,
        "onvif_configured": p.onvif_configured,
        "api": p.api.value,
        "api_url": f"http://{dev.host}:{dev.port}" if dev.vendor_api else None,
        "storage": storage_truth(p),
        "storage_fault": not p.vendor_api.disks
        or any(d.status in BAD_DISKS for d in p.vendor_api.disks),
        "rtsp_port": dev.rtsp_port,
        "vendor": p.vendor,
        "manufacturer": f.manufacturer,
        "model": dev.model,
        "firmware": f.firmware,
        "serial": dev.serial,
        "username": p.username,
        "password_env": env_name(p.id),
        "online": not p.offline,
        "fault": p.fault.kind.value if p.fault else None,
        "fault_delay_s": p.fault.delay_s if p.fault and p.fault.kind is FaultKind.SLOW else None,
        "fault_operations": sorted(p.fault.operations) if p.fault and p.fault.operations else None,
        "expected_error": expected_error(p),
        "enrichment_fails": enrichment_fails(p),
        "wrong_password": p.wrong_password,
        "clock_drift_s": p.clock_drift_s,
        "posix_tz": p.posix_tz,
        "utc_offset_s": dev.tz.utc_offset.total_seconds(),
        "time_report": p.time_report.value,
        "search_supported": not p.profile_s_only,
        "replay_supported": not p.profile_s_only,
        "summary_data_from_bogus": f.summary_data_from_bogus,
        "search_earliest_bogus": f.search_earliest_bogus,
        "channels": [c.id for c in p.channels],
        "gb_id": gb[0] if gb else None,
        "gb_transport": p.gb_transport if gb else None,
        "replay": {
            "served": not p.offline and not p.profile_s_only and p.api is not Api.GB28181,
            "timecode_version": TIMECODE_VERSION,
            "fps": FPS,
            "gop_ms": GOP_MS,
            "width": WIDTH,
            "height": HEIGHT,
        },
    }


def business_days(
    fleet: FleetPlan, dev: SimDevice, ch: SimChannel, device_now: dt.datetime
) -> dict[str, Any]:
    """Each completed business day of the last max(30, required) days (branch local dates):
    ``required`` = [open - record_before_open_min, close + record_after_close_min] (policy
    margins), ``gaps`` = parts of it without footage, ``covered`` = no gaps."""
    zone = ZoneInfo(dev.branch.timezone)
    before = dt.timedelta(minutes=fleet.policy.record_before_open_min)
    after = dt.timedelta(minutes=fleet.policy.record_after_close_min)
    days = max(BUSINESS_DAYS_MIN, fleet.required_days(ch.plan))
    today = device_now.astimezone(zone).date()
    footage = ch.timeline.until(device_now)
    out: dict[str, Any] = {}
    for back in range(days, -1, -1):
        day = today - dt.timedelta(days=back)
        hours = dev.branch.hours_on(day)
        if hours is None:
            continue
        start = dt.datetime.combine(day, hours.open, zone).astimezone(dt.UTC) - before
        end = dt.datetime.combine(day, hours.close, zone).astimezone(dt.UTC) + after
        if end > device_now:
            continue  # not over yet
        gaps = complement(footage, (start, end))
        out[day.isoformat()] = {
            "required": {"start": iso(start), "end": iso(end)},
            "covered": not gaps,
            "gaps": [{"start": iso(s), "end": iso(e)} for s, e in gaps],
        }
    return out


def channel_truth(
    fleet: FleetPlan, dev: SimDevice, ch: SimChannel, gb: GbIds | None = None
) -> dict[str, Any]:
    """Per channel (device clock, see module doc):

    - ``earliest``: oldest footage held; ``latest``: newest, or ``"now"`` while recording.
    - ``recording``: recording at generation time.
    - ``retention_days``: (device now - earliest) in days at generation time.
    - ``required_retention_days``: what the inventory policy demands (R1).
    - ``gaps``: every no-footage period between earliest and latest (nights included
      for business-hours schedules) - exactly what FindEvents reports.
    - ``business_days``: see ``business_days()`` (R2).
    - ``audio``: an audio track is recorded; ``audio_required``: the inventory says so (R5).
    - ``summary_data_from_bogus``: the device's GetRecordingSummary DataFrom is 1970.
    - ``search_earliest_bogus``: FindRecordings/GetRecordingInformation give 1970 as
      EarliestRecording and track DataFrom; the truth is ``earliest`` (and FindEvents).
    """
    device_now = fleet.now + dt.timedelta(seconds=dev.plan.clock_drift_s)
    earliest = ch.timeline.earliest
    latest = ch.timeline.latest(device_now)
    recording = ch.timeline.recording_at(device_now)
    p = ch.plan
    return {
        "device": dev.plan.id,
        "branch": dev.branch.id,
        "name": p.name,
        "role": p.role.value,
        "number": p.number,
        "profile_token": ch.tokens.profile,
        "source_token": ch.tokens.source,
        "recording_token": ch.tokens.recording,
        "job_token": ch.tokens.job,
        "track_tokens": [token for token, _ in ch.tracks],
        "track_types": [kind for _, kind in ch.tracks],
        "earliest": iso(earliest) if earliest else None,
        "latest": "now" if recording else (iso(latest) if latest else None),
        "recording": recording,
        "retention_days": round((device_now - earliest).total_seconds() / 86400, 4)
        if earliest
        else 0.0,
        "required_retention_days": fleet.required_days(p),
        "pattern": p.pattern.value,
        "stopped_since": iso(p.stopped_since) if p.stopped_since else None,
        "audio": p.audio,
        "audio_required": p.audio_required,
        "picture": p.picture.value,
        "camera_online": not p.camera_offline,
        "gaps": [{"start": iso(s), "end": iso(e)} for s, e in ch.timeline.gaps(device_now)],
        "business_days": business_days(fleet, dev, ch, device_now),
        "summary_data_from_bogus": dev.flavour.summary_data_from_bogus,
        "search_earliest_bogus": dev.flavour.search_earliest_bogus,
        "gb_id": gb[1][p.number] if gb else None,
        "replay_uri": None
        if dev.plan.profile_s_only or dev.plan.api is Api.GB28181
        else dev.replay_uri(ch),
        "snapshot_url": dev.snapshot_url(ch),
    }


def build_truth(
    fleet: FleetPlan,
    devices: list[SimDevice],
    host: str,
    gb: dict[str, GbIds] | None = None,
    gb_platform: tuple[str, int] | None = None,
) -> dict[str, Any]:
    ids = gb or {}
    return {
        "generated_at": iso(fleet.now),
        "clock": "instants are UTC on each device's own clock (true UTC + clock_drift_s)",
        "seed": fleet.seed,
        "host": host,
        "timezone": fleet.timezone,
        "policy": fleet.policy.model_dump(mode="json"),
        "gb28181": None
        if gb_platform is None or fleet.gb28181 is None
        else {
            "id": fleet.gb28181.id,
            "domain": fleet.gb28181.domain,
            "listen": f"{gb_platform[0]}:{gb_platform[1]}",
            "keepalive_s": fleet.gb28181.keepalive_s,
        },
        "devices": {d.plan.id: device_truth(d, ids.get(d.plan.id)) for d in devices},
        "channels": {
            ch.plan.id: channel_truth(fleet, d, ch, ids.get(d.plan.id))
            for d in devices
            for ch in d.channels
        },
    }
