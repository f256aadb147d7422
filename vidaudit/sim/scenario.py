"""Scenario files: which branches, devices and channels the simulator plays, and how each
one misbehaves.  Validated like the inventory (unknown keys refused, numbers bounded).

A scenario either lists ``branches`` explicitly, or asks for a ``generate``d fleet
(``--nvrs/--channels/--cameras`` on the command line do the same), or both.  Settings are
layered, later wins: built-in defaults < ``device_defaults``/``channel_defaults`` < the
device's ``channel_defaults`` < the device or channel entry itself < the ``devices:`` /
``channels:`` overrides keyed by id (which also reach into a generated fleet).

Example::

    seed: 7
    generate: {nvrs: 4, channels: 8, cameras: 2}
    policy: {retention_days: 30, retention_days_by_role: {vault: 90, atm: 90}}
    gb28181: {id: "34020000002000000001", domain: "3402000000", keepalive_s: 60}
    devices:
      FY002-NVR1: {clock_drift_s: -250, posix_tz: "CST-8", time_report: local_only}
      FY003-NVR1: {fault: {kind: slow, delay_s: 3}}
      # reaches vidaudit only over GB/T 28181, registering to the platform above by TCP
      FY001-NVR2: {api: gb28181, gb_transport: tcp}
    channels:
      FY001-C02:
        pattern: business_hours_no_margin
        gaps: [{days_ago: 1, at: "10:05", minutes: 47}]
      FY001-C05: {retention_days: 12, picture: black, audio: false}
      FY001-C06: {picture: frozen}    # the camera repeats one picture, its clock included
    branches:
      - id: LAB01
        name: 实验网点
        hours: {mon: "08:30-17:00", tue: "08:30-17:00", sat: closed}
        devices:
          - id: LAB01-NVR1
            vendor: uniview
            channels:
              - {id: LAB01-C01, name: 1号柜台, role: counter, retention_days: 45}
              - {id: LAB01-C02, name: 金库, role: vault, stopped_days_ago: 3}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vidaudit.inventory.schema import ChannelRole, Identifier, OpenHours, Policy, WeekHours
from vidaudit.sim.plan import (
    Api,
    BranchPlan,
    ChannelPlan,
    DeviceKind,
    DevicePlan,
    DiskPlan,
    Fault,
    FaultKind,
    FleetPlan,
    GbPlatformPlan,
    Interval,
    IsapiTime,
    Pattern,
    Picture,
    TimeReport,
    VendorApiPlan,
)
from vidaudit.sim.posixtz import parse_posix_tz
from vidaudit.sim.vendors import FLAVOURS

MAX_SCENARIO_BYTES = 4 * 1024 * 1024
#: What a simulated GB/T 28181 recorder can do wrong (besides offline, wrong password).
GB_FAULTS = frozenset({FaultKind.HANG, FaultKind.SLOW})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GapSpec(Strict):
    """A gap: absolute (``start``/``end``, aware, device clock) or relative to generation:
    ``days_ago`` calendar days before today, or the ``business_days_ago``-th most recent
    business day before today, at branch-local ``at``, lasting ``minutes``."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    days_ago: int | None = Field(None, ge=0, le=3650)
    business_days_ago: int | None = Field(None, ge=1, le=3650)
    at: dt.time | None = None
    minutes: float | None = Field(None, gt=0, le=14 * 24 * 60)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        absolute = self.start is not None and self.end is not None
        back = (self.days_ago is not None) + (self.business_days_ago is not None)
        relative = back == 1 and self.at is not None and self.minutes is not None
        if absolute == relative:
            raise ValueError(
                "give either start and end, or (days_ago or business_days_ago), at and minutes"
            )
        if absolute:
            assert self.start is not None and self.end is not None
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a UTC offset, e.g. 2026-11-20T10:00:00+08:00")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        return self


class FaultSpec(Strict):
    kind: FaultKind
    delay_s: float = Field(30.0, ge=0, le=3600)
    size_mb: float = Field(50.0, gt=0, le=2048)
    operations: list[str] | None = None


class ChannelSettings(Strict):
    name: str | None = Field(None, min_length=1, max_length=128)
    role: ChannelRole | None = None
    #: Days of footage held at generation time (default: the required days plus 10).
    retention_days: float | None = Field(None, ge=0, le=3650)
    pattern: Pattern | None = None
    record_before_open_min: int | None = Field(None, ge=0, le=720)
    record_after_close_min: int | None = Field(None, ge=0, le=720)
    stopped_since: dt.datetime | None = None
    stopped_days_ago: float | None = Field(None, ge=0, le=3650)
    gaps: list[GapSpec] | None = None
    random_gaps: int | None = Field(None, ge=0, le=1000)
    random_gap_minutes: tuple[float, float] | None = None
    audio: bool | None = None
    audio_required: bool | None = None
    #: what the camera shows: normal, night, ir (both normal at night) or a fault: black,
    #: no_signal, frozen (one picture forever, its clock included), blur, occluded,
    #: colour_cast, dark, bright, moved
    picture: Picture | None = None
    camera_offline: bool | None = None
    required_retention_days: int | None = Field(None, ge=1, le=3650)
    #: written to the inventory as an off-site ATM (D9); the simulator itself ignores it
    offsite: bool | None = None

    @field_validator("random_gap_minutes")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= 14 * 24 * 60:
            raise ValueError("expected [min, max] minutes with 0 < min <= max")
        return value


class ChannelSpec(ChannelSettings):
    id: Identifier


def _check_vendor(value: str | None) -> str | None:
    if value is not None and value not in FLAVOURS:
        raise ValueError(f"unknown vendor {value!r}; one of {', '.join(sorted(FLAVOURS))}")
    return value


def _check_posix(value: str | None) -> str | None:
    if value is not None:
        parse_posix_tz(value)
    return value


class DiskSpec(Strict):
    #: ``ok``, ``idle`` (spun down), ``error``, ``unformatted`` or ``absent``; each vendor
    #: renders its own word for it (ISAPI ``notexist``, Dahua ``Success``, ...).
    status: str = Field("ok", pattern=r"^(ok|idle|error|unformatted|absent)$")
    capacity_gb: float = Field(4000.0, gt=0, le=1_000_000)
    free_gb: float = Field(0.0, ge=0, le=1_000_000)


class VendorApiSpec(Strict):
    """The device's own HTTP API (ISAPI for Hikvision, Dahua's CGIs): quirks as options.
    Defaults: see ``plan.VendorApiPlan``."""

    file_minutes: int | None = Field(None, ge=1, le=24 * 60)
    page_cap: int | None = Field(None, ge=1, le=1000)
    namespace: str | None = Field(None, pattern=r"^(isapi|hikvision)$")
    time_format: IsapiTime | None = None
    empty_find_400: bool | None = None
    digest: str | None = Field(None, pattern=r"^(MD5|SHA-256)$")
    #: Every disk the recorder has; ``[]`` is a recorder with no disk at all.
    disks: list[DiskSpec] | None = None

    def plan(self) -> VendorApiPlan:
        values = self.model_dump(exclude_none=True)
        if self.disks is not None:
            values["disks"] = tuple(DiskPlan(**d.model_dump()) for d in self.disks)
        return VendorApiPlan(**values)


class DeviceSettings(Strict):
    name: str | None = Field(None, min_length=1, max_length=128)
    vendor: str | None = None
    username: str | None = Field(None, min_length=1, max_length=64)
    clock_drift_s: float | None = Field(None, ge=-10 * 365 * 86400, le=10 * 365 * 86400)
    posix_tz: str | None = None
    time_report: TimeReport | None = None
    offline: bool | None = None
    wrong_password: bool | None = None
    profile_s_only: bool | None = None
    fault: FaultSpec | None = None
    channel_defaults: ChannelSettings | None = None
    #: What cameras.yaml reads the device by; ``isapi`` needs a hikvision device,
    #: ``dahua`` a dahua one; ``gb28181``: the device registers to the platform
    #: (``Scenario.gb28181``) instead of serving ONVIF; faults it plays: offline,
    #: wrong_password, hang, slow
    api: Api | None = None
    vendor_api: VendorApiSpec | None = None
    gb_transport: Literal["udp", "tcp"] | None = None
    #: With ``api: isapi|dahua``: cameras.yaml gives the ONVIF address as well, which the
    #: collector uses for what the vendor API lacks (live snapshots, R4)
    onvif: bool | None = None

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, value: str | None) -> str | None:
        return _check_vendor(value)

    @field_validator("posix_tz")
    @classmethod
    def _posix(cls, value: str | None) -> str | None:
        return _check_posix(value)


class DeviceSpec(DeviceSettings):
    id: Identifier
    kind: DeviceKind = DeviceKind.NVR
    #: A number generates that many channels (roles cycle through a branch's usual mix).
    channels: Annotated[int, Field(ge=1, le=256)] | list[ChannelSpec] = 1


class BranchSpec(Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=128)
    #: written to the inventory (the security department's grouping of branches)
    region: str | None = Field(None, min_length=1, max_length=64)
    timezone: str | None = None
    hours: WeekHours
    closed_dates: list[dt.date] = Field(default_factory=list)
    special_days: dict[dt.date, str] = Field(default_factory=dict)
    devices: list[DeviceSpec] = Field(min_length=1, max_length=256)


class GenerateSpec(Strict):
    nvrs: int = Field(0, ge=0, le=5000)
    channels: int = Field(16, ge=1, le=256)
    cameras: int = Field(0, ge=0, le=5000)
    #: Give one device per fault kind (hang, slow, http500, ...).
    with_faults: bool = False
    #: What every generated NVR is read by: ``onvif`` (a vendor mix), or ``isapi`` /
    #: ``dahua`` (every NVR of that vendor, read through its own API: the benchmark's
    #: all-ISAPI fleet).  Stand-alone cameras stay ONVIF.
    api: Api = Api.ONVIF

    @field_validator("api")
    @classmethod
    def _not_gb(cls, value: Api) -> Api:
        if value is Api.GB28181:
            raise ValueError(
                "generated NVRs are read by onvif, isapi or dahua; give GB/T "
                "28181 recorders in branches: with api: gb28181"
            )
        return value


class GbPlatformSpec(Strict):
    """The platform GB/T 28181 recorders register to; its password is drawn from the seed."""

    id: str = Field("34020000002000000001", pattern=r"^[0-9]{20}$")
    domain: str = Field("3402000000", pattern=r"^[0-9]{10}$")
    keepalive_s: float = Field(60.0, gt=0, le=3600)


class Scenario(Strict):
    seed: int = 0
    gb28181: GbPlatformSpec = GbPlatformSpec()
    timezone: str = "Asia/Shanghai"
    policy: Policy = Policy(
        retention_days_by_role={ChannelRole.VAULT: 90, ChannelRole.ATM: 90},
    )
    device_defaults: DeviceSettings = DeviceSettings()
    channel_defaults: ChannelSettings = ChannelSettings()
    generate: GenerateSpec | None = None
    branches: list[BranchSpec] = Field(default_factory=list)
    devices: dict[str, DeviceSettings] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.generate is None and not self.branches:
            raise ValueError("a scenario needs 'branches', 'generate', or --nvrs/--cameras flags")
        if self.generate is not None and self.generate.nvrs + self.generate.cameras == 0:
            raise ValueError("generate: ask for at least one NVR or camera")
        return self


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str()`` names the file and every problem."""


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"])
            lines.append(f"{source}: {loc}: {error['msg']}")
        raise ScenarioError("\n".join(lines)) from None


def load_scenario(path: Path | str) -> Scenario:
    file = Path(path)
    if file.stat().st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{file}: larger than {MAX_SCENARIO_BYTES} bytes")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not valid YAML: {exc}") from None
    return parse_scenario(data if data is not None else {}, str(file))


# --------------------------------------------------------------------------- resolution

#: Roles of a typical branch NVR, in channel order; the mix repeats past 16 channels.
_R = ChannelRole
ROLE_CYCLE: tuple[ChannelRole, ...] = (
    _R.COUNTER, _R.COUNTER, _R.COUNTER, _R.CASH_AREA, _R.VAULT, _R.ENTRANCE,
    _R.LOBBY, _R.ATM, _R.COUNTER, _R.COUNTER, _R.CASH_AREA, _R.LOBBY,
    _R.ENTRANCE, _R.DUTY_ROOM, _R.VAULT, _R.ATM,
)  # fmt: skip

ROLE_NAMES: dict[ChannelRole, str] = {
    ChannelRole.COUNTER: "号柜台",
    ChannelRole.CASH_AREA: "现金区",
    ChannelRole.VAULT: "金库门",
    ChannelRole.ATM: "自助银行ATM",
    ChannelRole.ENTRANCE: "营业厅大门",
    ChannelRole.LOBBY: "客户等候区",
    ChannelRole.DUTY_ROOM: "值班室",
    ChannelRole.OTHER: "其他",
}


def channel_name(role: ChannelRole, ordinal: int) -> str:
    """``1号柜台`` for counters, the plain place name (numbered when repeated) otherwise."""
    if role is ChannelRole.COUNTER:
        return f"{ordinal}{ROLE_NAMES[role]}"
    return ROLE_NAMES[role] if ordinal == 1 else f"{ROLE_NAMES[role]}{ordinal}"


def generated_channels(prefix: str, first: int, count: int) -> list[ChannelSpec]:
    """``count`` channels with the usual role mix, ids ``<prefix>-Cnn`` numbered from ``first``."""
    seen: dict[ChannelRole, int] = {}
    out = []
    for i in range(count):
        role = ROLE_CYCLE[i % len(ROLE_CYCLE)]
        seen[role] = seen.get(role, 0) + 1
        out.append(
            ChannelSpec(
                id=f"{prefix}-C{first + i:02d}", name=channel_name(role, seen[role]), role=role
            )
        )
    return out


def device_password(seed: int, device_id: str) -> str:
    """Deterministic per seed and device, never the same across devices."""
    digest = hashlib.sha256(f"vidaudit-sim:{seed}:{device_id}".encode()).hexdigest()
    return f"Sim-{digest[:12]}"


def env_name(device_id: str) -> str:
    """``FY001-NVR1`` -> ``VIDAUDIT_PW_FY001_NVR1``."""
    return "VIDAUDIT_PW_" + "".join(c if c.isalnum() else "_" for c in device_id.upper())


def _merged(*layers: BaseModel | None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        for key in layer.model_dump(exclude_unset=True, exclude_none=True):
            if key not in skip:
                out[key] = getattr(layer, key)
    return out


def _gap_interval(gap: GapSpec, branch: BranchPlan, now: dt.datetime) -> Interval:
    if gap.start is not None and gap.end is not None:
        return gap.start.astimezone(dt.UTC), gap.end.astimezone(dt.UTC)
    assert gap.at is not None and gap.minutes is not None
    zone = ZoneInfo(branch.timezone)
    day = now.astimezone(zone).date()
    if gap.days_ago is not None:
        day -= dt.timedelta(days=gap.days_ago)
    else:
        assert gap.business_days_ago is not None
        remaining = gap.business_days_ago
        for _ in range(3650):
            day -= dt.timedelta(days=1)
            remaining -= branch.hours_on(day) is not None
            if remaining == 0:
                break
    start = dt.datetime.combine(day, gap.at, zone).astimezone(dt.UTC)
    return start, start + dt.timedelta(minutes=gap.minutes)


def _channel_plan(
    number: int,
    spec: ChannelSpec,
    layers: list[BaseModel | None],
    policy: Policy,
    branch: BranchPlan,
    device_now: dt.datetime,
) -> ChannelPlan:
    values = _merged(*layers, spec, skip=("id",))
    role: ChannelRole = values.get("role", ChannelRole.OTHER)
    required = values.get("required_retention_days") or policy.retention_days_by_role.get(
        role, policy.retention_days
    )
    stopped: dt.datetime | None = values.get("stopped_since")
    if stopped is None and "stopped_days_ago" in values:
        stopped = device_now - dt.timedelta(days=values["stopped_days_ago"])
    if stopped is not None and stopped.tzinfo is None:
        raise ScenarioError(f"channel {spec.id}: stopped_since needs a UTC offset")
    gaps = tuple(_gap_interval(g, branch, device_now) for g in values.get("gaps", []))
    before = values.get("record_before_open_min", policy.record_before_open_min + 15)
    after = values.get("record_after_close_min", policy.record_after_close_min + 15)
    return ChannelPlan(
        id=spec.id,
        name=values.get("name", channel_name(role, number)),
        role=role,
        number=number,
        retention_days=float(values.get("retention_days", required + 10)),
        pattern=values.get("pattern", Pattern.CONTINUOUS),
        record_before_open_min=before,
        record_after_close_min=after,
        stopped_since=stopped.astimezone(dt.UTC) if stopped else None,
        gaps=gaps,
        random_gaps=values.get("random_gaps", 0),
        random_gap_minutes=values.get("random_gap_minutes", (3.0, 90.0)),
        audio=values.get("audio", role is ChannelRole.COUNTER),
        audio_required=values.get("audio_required", role is ChannelRole.COUNTER),
        picture=values.get("picture", Picture.NORMAL),
        camera_offline=bool(values.get("camera_offline", False)),
        required_retention_days=values.get("required_retention_days"),
        offsite=bool(values.get("offsite", False)),
    )


def resolve(scenario: Scenario, now: dt.datetime | None = None) -> FleetPlan:
    """The concrete fleet for a scenario, anchored at ``now`` (true UTC, default: the clock)."""
    from vidaudit.sim.generate import generate_branches  # the generator builds on this module

    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    branch_specs = list(scenario.branches)
    if scenario.generate is not None:
        branch_specs = generate_branches(scenario.generate, scenario.seed) + branch_specs
    seen: set[str] = set()
    branches = []
    for b in branch_specs:
        zone_name = b.timezone or scenario.timezone
        shell = BranchPlan(
            id=b.id,
            name=b.name,
            region=b.region,
            timezone=zone_name,
            hours=b.hours,
            closed_dates=tuple(b.closed_dates),
            special_days={day: OpenHours.parse(text) for day, text in b.special_days.items()},
        )
        devices = []
        for d in b.devices:
            values = _merged(
                scenario.device_defaults,
                d,
                scenario.devices.get(d.id),
                skip=("id", "kind", "channels"),
            )
            drift = float(values.get("clock_drift_s", 0.0))
            device_now = now + dt.timedelta(seconds=drift)
            specs = (
                generated_channels(d.id, 1, d.channels)
                if isinstance(d.channels, int)
                else d.channels
            )
            channels = []
            for number, c in enumerate(specs, start=1):
                layers: list[BaseModel | None] = [
                    scenario.channel_defaults,
                    values.get("channel_defaults"),
                ]
                merged_spec = ChannelSpec.model_validate(
                    _merged(c, scenario.channels.get(c.id)) | {"id": c.id}
                )
                channels.append(
                    _channel_plan(number, merged_spec, layers, scenario.policy, shell, device_now)
                )
            for ident in [d.id, *(c.id for c in channels)]:
                if ident in seen:
                    raise ScenarioError(f"duplicate id {ident!r}")
                seen.add(ident)
            password = device_password(scenario.seed, d.id)
            fault_spec: FaultSpec | None = values.get("fault")
            fault = (
                Fault(
                    kind=fault_spec.kind,
                    delay_s=fault_spec.delay_s,
                    size_mb=fault_spec.size_mb,
                    operations=frozenset(fault_spec.operations) if fault_spec.operations else None,
                )
                if fault_spec
                else None
            )
            vendor = values.get("vendor", "onvif")
            api: Api = values.get("api", Api.ONVIF)
            wanted_vendor = {Api.ISAPI: "hikvision", Api.DAHUA: "dahua"}.get(api)
            if wanted_vendor is not None and vendor != wanted_vendor:
                raise ScenarioError(
                    f"device {d.id}: api {api.value} needs vendor {wanted_vendor}, not {vendor}"
                )
            if api is Api.GB28181 and fault is not None and fault.kind not in GB_FAULTS:
                raise ScenarioError(
                    f"device {d.id}: a GB/T 28181 recorder plays only the faults "
                    f"{sorted(k.value for k in GB_FAULTS)}"
                )
            onvif: bool | None = values.get("onvif")
            if onvif is not None and api not in (Api.ISAPI, Api.DAHUA):
                raise ScenarioError(
                    f"device {d.id}: onvif: gives an ONVIF address beside a vendor API "
                    f"(api: isapi or dahua); api {api.value} "
                    + ("has one always" if api is Api.ONVIF else "answers only its platform")
                )
            onvif_too = bool(onvif)
            vendor_api: VendorApiSpec = values.get("vendor_api") or VendorApiSpec()
            devices.append(
                DevicePlan(
                    id=d.id,
                    name=values.get("name", d.id),
                    kind=d.kind,
                    vendor=vendor,
                    username=values.get("username", "audit"),
                    password=password + "-rotated" if values.get("wrong_password") else password,
                    configured_password=password,
                    clock_drift_s=drift,
                    posix_tz=values.get("posix_tz", "CST-8"),
                    time_report=values.get("time_report", TimeReport.BOTH),
                    offline=bool(values.get("offline", False)),
                    profile_s_only=bool(values.get("profile_s_only", False)),
                    fault=fault,
                    channels=tuple(channels),
                    api=api,
                    vendor_api=vendor_api.plan(),
                    gb_transport=values.get("gb_transport", "udp"),
                    onvif_too=onvif_too,
                )
            )
        if b.id in seen:
            raise ScenarioError(f"duplicate id {b.id!r}")
        seen.add(b.id)
        branches.append(dataclasses.replace(shell, devices=tuple(devices)))
    unknown = (set(scenario.devices) | set(scenario.channels)) - seen
    if unknown:
        raise ScenarioError(f"overrides name ids that are not in the fleet: {sorted(unknown)}")
    gb = scenario.gb28181
    return FleetPlan(
        seed=scenario.seed,
        timezone=scenario.timezone,
        policy=scenario.policy,
        branches=tuple(branches),
        now=now,
        gb28181=GbPlatformPlan(
            gb.id, gb.domain, device_password(scenario.seed, "gb28181-platform"), gb.keepalive_s
        ),
    )
