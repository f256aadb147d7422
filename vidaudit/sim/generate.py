"""The default fleet: realistic branches for ``--nvrs N --channels C --cameras M``.

Branches get Chinese names and the business hours county branches keep; NVRs carry the
usual role mix (counters, cash area, vault, entrance, lobby, ATM); stand-alone cameras
watch ATMs and record to their SD card.  Most of it is healthy.  A deterministic few
devices and channels (chosen by the seed, never the first device, so a demo always has a
clean reference) are not: a drifted clock, an offline recorder, a changed password, a
Profile-S-only recorder with no recording search; a channel short of retention, one with
a gap during business hours, one recording without the before-open/after-close margins,
one stopped days ago, one black picture, a counter without audio.
"""

from __future__ import annotations

import math
import random

from vidaudit.inventory.schema import ChannelRole, WeekHours
from vidaudit.sim.plan import Api, DeviceKind, FaultKind, Pattern, Picture, TimeReport
from vidaudit.sim.scenario import (
    BranchSpec,
    ChannelSpec,
    DeviceSpec,
    FaultSpec,
    GapSpec,
    GenerateSpec,
    generated_channels,
)

TOWNS = (
    "城关", "城南", "城北", "高桥", "新塘", "河口", "石门", "白沙", "龙泉", "桃源",
    "青山", "东湖", "西岭", "南岗", "北港", "金山", "长岭", "枫林", "柳溪", "梅岭",
)  # fmt: skip
KINDS = ("支行营业部", "分理处", "信用社", "储蓄所")

HOURS: tuple[dict[str, str], ...] = (
    # weekdays plus a short Saturday
    {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": "09:00-16:00"},
    {d: "08:00-16:30" for d in ("mon", "tue", "wed", "thu", "fri")},
    # 全年无休 county seat branch
    {d: "08:30-17:30" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": "08:30-12:00"},
)

NVR_VENDORS = ("hikvision", "hikvision", "dahua", "dahua", "uniview", "onvif")
#: The vendor whose recorders speak each vendor API.
API_VENDOR = {Api.ISAPI: "hikvision", Api.DAHUA: "dahua"}
CAMERA_VENDORS = ("axis", "milesight")

DEVICE_ISSUES = ("offline", "clock_drift", "wrong_password", "profile_s_only", "local_time_only")
CHANNEL_ISSUES = (
    "short_retention",
    "business_gap",
    "no_margin",
    "stopped",
    "black",
    "no_audio",
    "random_gaps",
)


def branch_name(index: int) -> str:
    # Town and kind advance at different rates so the first 80 names are all distinct.
    kind = KINDS[(index + index // len(TOWNS)) % len(KINDS)]
    name = TOWNS[index % len(TOWNS)] + kind
    rounds = index // (len(TOWNS) * len(KINDS))
    return f"{name}{rounds + 1}" if rounds else name


def _device_issue(kind: str, rng: random.Random) -> dict[str, object]:
    if kind == "offline":
        return {"offline": True}
    if kind == "clock_drift":
        # Beyond the 60 s inspection limit but inside a ±5 min WS-Security window.
        return {"clock_drift_s": rng.choice((1, -1)) * round(rng.uniform(90, 280), 1)}
    if kind == "wrong_password":
        return {"wrong_password": True}
    if kind == "profile_s_only":
        return {"profile_s_only": True}
    return {"time_report": TimeReport.LOCAL_ONLY}


def _channel_issue(kind: str, rng: random.Random) -> dict[str, object]:
    if kind == "short_retention":
        return {"retention_days": round(rng.uniform(8, 20), 2)}
    if kind == "business_gap":
        minutes = rng.randint(20, 90)
        at = f"10:{rng.randint(0, 29):02d}"
        return {"gaps": [GapSpec(business_days_ago=1, at=at, minutes=minutes)]}
    if kind == "no_margin":
        return {"pattern": Pattern.BUSINESS_HOURS_NO_MARGIN}
    if kind == "stopped":
        return {"stopped_days_ago": round(rng.uniform(2, 5), 2)}
    if kind == "black":
        return {"picture": Picture.BLACK}
    if kind == "no_audio":
        return {"audio": False}
    return {"random_gaps": 3}


def generate_branches(spec: GenerateSpec, seed: int) -> list[BranchSpec]:
    rng = random.Random(f"{seed}:fleet")
    units = spec.nvrs or spec.cameras
    n_branches = max(1, math.ceil(units * 3 / 4))
    # The first (nvrs - branches) branches get a second NVR.
    nvr_counts = [1 + (i < spec.nvrs - n_branches) for i in range(n_branches)] if spec.nvrs else []
    devices: list[list[DeviceSpec]] = [[] for _ in range(n_branches)]
    for b in range(n_branches):
        branch_id = f"FY{b + 1:03d}"
        first = 1
        for k in range(nvr_counts[b] if nvr_counts else 0):
            device_id = f"{branch_id}-NVR{k + 1}"
            # drawn whatever the api, so the rest of the fleet is the same for every api
            vendor = NVR_VENDORS[rng.randrange(len(NVR_VENDORS))]
            if spec.api is not Api.ONVIF:
                vendor = API_VENDOR[spec.api]
            channels = generated_channels(branch_id, first, spec.channels)
            first += spec.channels
            devices[b].append(
                DeviceSpec(
                    id=device_id,
                    kind=DeviceKind.NVR,
                    vendor=vendor,
                    name=("营业部主录像机" if k == 0 else f"{k + 1}号录像机"),
                    clock_drift_s=round(rng.uniform(-8, 8), 1),
                    channels=channels,
                    api=spec.api,
                )
            )
    for m in range(spec.cameras):
        b = m % n_branches
        branch_id = f"FY{b + 1:03d}"
        device_id = f"{branch_id}-CAM{m // n_branches + 1}"
        devices[b].append(
            DeviceSpec(
                id=device_id,
                kind=DeviceKind.CAMERA,
                vendor=CAMERA_VENDORS[m % len(CAMERA_VENDORS)],
                name="离行式自助银行摄像机",
                clock_drift_s=round(rng.uniform(-5, 5), 1),
                channels=[
                    ChannelSpec(
                        id=f"{branch_id}-C{90 + m // n_branches}",
                        name="离行式ATM",
                        role=ChannelRole.ATM,
                    )
                ],
            )
        )
    _assign_issues(devices, spec, rng)
    return [
        BranchSpec(
            id=f"FY{b + 1:03d}",
            name=branch_name(b),
            hours=WeekHours.model_validate(HOURS[rng.randrange(len(HOURS))]),
            devices=devices[b],
        )
        for b in range(n_branches)
    ]


def _assign_issues(devices: list[list[DeviceSpec]], spec: GenerateSpec, rng: random.Random) -> None:
    flat = [(b, i) for b, group in enumerate(devices) for i in range(len(group))]
    eligible = flat[1:]
    rng.shuffle(eligible)
    total = len(flat)
    n_issues = min(len(eligible), max(3, round(total * 0.06)))
    chosen = eligible[:n_issues]
    healthy = eligible[n_issues:]
    for j, (b, i) in enumerate(chosen):
        issue = _device_issue(DEVICE_ISSUES[j % len(DEVICE_ISSUES)], rng)
        devices[b][i] = devices[b][i].model_copy(update=issue)
    if spec.with_faults:
        for fault_kind, (b, i) in zip(FaultKind, healthy, strict=False):
            fault = FaultSpec(kind=fault_kind, delay_s=30.0)
            devices[b][i] = devices[b][i].model_copy(update={"fault": fault})
        healthy = healthy[len(FaultKind) :]
    # Channel issues live on devices that answer, so the collector can actually see them.
    candidates = [
        (b, i, c)
        for b, i in [flat[0], *healthy]
        for c, channel in enumerate(_channels(devices[b][i]))
        if (b, i, c) != (*flat[0], 0)
    ]
    rng.shuffle(candidates)
    n_channels = sum(len(_channels(devices[b][i])) for b, i in flat)
    n_ch_issues = min(len(candidates), max(len(CHANNEL_ISSUES), round(n_channels * 0.03)))
    for j, (b, i, c) in enumerate(candidates[:n_ch_issues]):
        kind = CHANNEL_ISSUES[j % len(CHANNEL_ISSUES)]
        channels = list(_channels(devices[b][i]))
        if kind == "no_audio" and channels[c].role is not ChannelRole.COUNTER:
            kind = "random_gaps"
        channels[c] = channels[c].model_copy(update=_channel_issue(kind, rng))
        devices[b][i] = devices[b][i].model_copy(update={"channels": channels})


def _channels(device: DeviceSpec) -> list[ChannelSpec]:
    assert isinstance(device.channels, list)
    return device.channels
