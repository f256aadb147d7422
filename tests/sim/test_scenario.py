"""Scenario files, flags, time zones and timelines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from vidaudit.sim import ScenarioError, load_scenario, parse_scenario, resolve
from vidaudit.sim.command import build_scenario
from vidaudit.sim.plan import Api, DeviceKind, Pattern, Picture, TimeReport
from vidaudit.sim.posixtz import parse_posix_tz
from vidaudit.sim.scenario import __doc__ as SCENARIO_DOC
from vidaudit.sim.timeline import Timeline, complement, subtract

NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)


def example_yaml() -> str:
    text = SCENARIO_DOC or ""
    block = text.split("Example::", 1)[1]
    return "\n".join(line[4:] for line in block.splitlines()[1:])


def test_documented_example_loads_and_layers(tmp_path: Path) -> None:
    file = tmp_path / "scenario.yaml"
    file.write_text(example_yaml(), encoding="utf-8")
    plan = resolve(load_scenario(file), NOW)
    devices = {d.id: d for _, d in plan.devices()}
    channels = {c.id: c for d in devices.values() for c in d.channels}
    assert devices["FY002-NVR1"].clock_drift_s == -250
    assert devices["FY002-NVR1"].time_report is TimeReport.LOCAL_ONLY
    assert devices["FY003-NVR1"].fault is not None and devices["FY003-NVR1"].fault.delay_s == 3
    assert channels["FY001-C02"].pattern is Pattern.BUSINESS_HOURS_NO_MARGIN
    assert len(channels["FY001-C02"].gaps) == 1
    assert channels["FY001-C05"].retention_days == 12
    assert channels["FY001-C05"].picture is Picture.BLACK
    assert channels["LAB01-C02"].stopped_since == NOW - dt.timedelta(days=3)
    assert devices["LAB01-NVR1"].vendor == "uniview"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"branches": [], "colour": 1}, "colour"),
        ({"generate": {"nvrs": 1}, "device_defaults": {"posix_tz": "Shanghai"}}, "POSIX"),
        ({"generate": {"nvrs": 1}, "devices": {"NOPE": {"offline": True}}}, "NOPE"),
        ({"generate": {"nvrs": 1}, "device_defaults": {"vendor": "sony"}}, "vendor"),
        ({"generate": {"nvrs": 1}, "channel_defaults": {"gaps": [{"days_ago": 1}]}}, "gaps"),
        ({}, "branches"),
        # onvif: adds an ONVIF address beside a vendor API only
        ({"generate": {"nvrs": 1}, "device_defaults": {"onvif": True}}, "has one always"),
        (
            {
                "gb28181": {},
                "branches": [
                    {
                        "id": "GB01",
                        "name": "国标网点",
                        "hours": {"mon": "08:30-17:00"},
                        "devices": [{"id": "GB01-NVR", "api": "gb28181", "onvif": True}],
                    }
                ],
            },
            "answers only its platform",
        ),
    ],
)
def test_bad_scenarios_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        resolve(parse_scenario(data), NOW)


def test_flags_layer_over_a_file(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("seed: 4\nchannels: {}\ngenerate: {nvrs: 1, channels: 2}\n", encoding="utf-8")
    scenario = build_scenario(file, nvrs=3, channels=4, cameras=1, seed=None, with_faults=False)
    assert scenario.seed == 4 and scenario.generate is not None
    assert (scenario.generate.nvrs, scenario.generate.channels, scenario.generate.cameras) == (
        3,
        4,
        1,
    )
    with pytest.raises(ScenarioError):
        build_scenario(None, nvrs=0, channels=4, cameras=0, seed=None, with_faults=False)


def test_with_faults_gives_each_fault_once() -> None:
    scenario = build_scenario(None, nvrs=12, channels=2, cameras=0, seed=1, with_faults=True)
    kinds = [d.fault.kind.value for _, d in resolve(scenario, NOW).devices() if d.fault]
    assert sorted(kinds) == sorted(
        ["hang", "slow", "http500", "malformed", "truncated", "xml_bomb", "huge", "reset"]
    )


@pytest.mark.parametrize(("api", "vendor"), [(Api.ISAPI, "hikvision"), (Api.DAHUA, "dahua")])
def test_generated_nvrs_read_through_one_vendor_api(api: Api, vendor: str) -> None:
    """``--api isapi`` (the benchmark's all-ISAPI fleet): every NVR is that vendor's and
    read through its API; cameras stay ONVIF; everything else is the ONVIF fleet's."""
    onvif = resolve(
        build_scenario(None, nvrs=8, channels=2, cameras=2, seed=3, with_faults=False), NOW
    )
    vendor_fleet = resolve(
        build_scenario(None, nvrs=8, channels=2, cameras=2, seed=3, with_faults=False, api=api),
        NOW,
    )
    nvrs = [d for _, d in vendor_fleet.devices() if d.kind is DeviceKind.NVR]
    cameras = [d for _, d in vendor_fleet.devices() if d.kind is DeviceKind.CAMERA]
    assert len(nvrs) == 8 and len(cameras) == 2
    assert {(d.vendor, d.api) for d in nvrs} == {(vendor, api)}
    assert {d.api for d in cameras} == {Api.ONVIF}
    assert [(d.id, d.clock_drift_s, [c.id for c in d.channels]) for _, d in onvif.devices()] == [
        (d.id, d.clock_drift_s, [c.id for c in d.channels]) for _, d in vendor_fleet.devices()
    ]


def test_posix_tz() -> None:
    assert parse_posix_tz("CST-8").utc_offset == dt.timedelta(hours=8)
    assert parse_posix_tz("BRT3").utc_offset == dt.timedelta(hours=-3)
    assert parse_posix_tz("<+0530>-5:30").utc_offset == dt.timedelta(hours=5, minutes=30)
    assert parse_posix_tz("EST5EDT,M3.2.0,M11.1.0").has_dst
    with pytest.raises(ValueError, match="POSIX"):
        parse_posix_tz("Asia/Shanghai")


def test_timeline_operations() -> None:
    t = [dt.datetime(2026, 1, 1, h, tzinfo=dt.UTC) for h in range(10)]
    assert subtract([(t[0], t[5])], (t[1], t[2])) == [(t[0], t[1]), (t[2], t[5])]
    assert complement([(t[1], t[2]), (t[3], t[4])], (t[0], t[5])) == [
        (t[0], t[1]),
        (t[2], t[3]),
        (t[4], t[5]),
    ]
    line = Timeline(((t[1], t[3]), (t[5], t[9])))
    assert line.recording_at(t[1]) and not line.recording_at(t[3])
    assert line.transitions(t[0], t[9], now=t[6]) == [(t[1], True), (t[3], False), (t[5], True)]
    assert line.gaps(t[6]) == [(t[3], t[5])]
    assert line.latest(t[6]) == t[6] and line.earliest == t[1]
