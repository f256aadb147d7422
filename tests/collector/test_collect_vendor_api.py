"""A mixed fleet (ONVIF, ISAPI, Dahua) collected end to end: the same per-channel answers
as the simulator's truth.json, R6.storage and missing days included, with the vendor
recorders read through their own APIs only (their inventory entries have no onvif:).

Collected twice: the second run builds on what the first settled (``collector.settled``:
new footage and the oldest footage only) and must reach the same answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.collector.test_collect_sim import (
    _assert_same_spans,
    assert_day_as_truth,
    collect_fleet_runs,
    on_our_clock,
)
from tests.sim.vendor_lab import VENDOR_LAB
from vidaudit.collector.report import report_json
from vidaudit.collector.run import CollectResult
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import SettledFootageRow
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario

pytestmark = pytest.mark.timeout(180)


def mixed_scenario() -> Any:
    lab = dict(VENDOR_LAB)
    branch = dict(lab["branches"][0])
    branch["devices"] = [
        *branch["devices"],
        {"id": "ONV", "vendor": "uniview", "channels": [{"id": "ONV-C1", "role": "counter"}]},
        {"id": "HIKOFF", "vendor": "hikvision", "api": "isapi", "offline": True, "channels": 1},
        {"id": "DAHPW", "vendor": "dahua", "api": "dahua", "wrong_password": True, "channels": 1},
        {
            "id": "HIKBAD",
            "vendor": "hikvision",
            "api": "isapi",
            "fault": {"kind": "xml_bomb", "operations": ["deviceInfo"]},
            "channels": 1,
        },
    ]
    lab["branches"] = [branch]
    return parse_scenario(lab)


@pytest.fixture(scope="module")
def mixed_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[CollectResult], dict[str, Any], Path, Settings]:
    import asyncio

    tmp = tmp_path_factory.mktemp("mixed")
    results, truth, settings = asyncio.run(collect_fleet_runs(mixed_scenario(), tmp, runs=2))
    return results, truth, tmp, settings


@pytest.fixture(params=["first run", "second run"])
def mixed(
    request: pytest.FixtureRequest,
    mixed_runs: tuple[list[CollectResult], dict[str, Any], Path, Settings],
) -> tuple[CollectResult, dict[str, Any], Path]:
    results, truth, tmp, _settings = mixed_runs
    return results[0 if request.param == "first run" else 1], truth, tmp


def test_the_second_run_builds_on_the_first(
    mixed_runs: tuple[list[CollectResult], dict[str, Any], Path, Settings],
) -> None:
    results, truth, _tmp, settings = mixed_runs
    read = {
        channel_id
        for channel_id, expected in truth["channels"].items()
        if truth["devices"][expected["device"]]["api"] != "onvif"
        and truth["devices"][expected["device"]]["expected_error"] is None
    }
    with make_sessionmaker(make_engine(settings)).begin() as session:
        rows = {row.channel_id: row for row in session.execute(select(SettledFootageRow)).scalars()}
    assert set(rows) == read  # every channel read through a vendor API, nothing else
    first, second = results
    for run in results:
        for device in run.report.devices:
            expected = truth["devices"][device.device_id]["expected_error"]
            got = device.status.error_kind
            assert (got and got.value) == expected, (device.device_id, device.status)
    for row in rows.values():
        # settled in the first run, carried (not renewed) by the second
        assert first.report.started_at <= row.read_in_full_at <= second.report.started_at, (
            row.channel_id
        )
        # stored with the second run's observations of it, as its device finished
        assert second.report.started_at <= row.updated_at <= second.report.finished_at, (
            row.channel_id
        )
    continued = {
        c.channel_id: c.settled is not None and c.settled.footage.read_in_full_at
        for c in second.report.channels
    }
    assert all(continued[channel_id] for channel_id in read)


def test_vendor_devices_are_configured_without_onvif(mixed: Any) -> None:
    _result, _truth, tmp = mixed
    inventory = load_inventory(tmp / "cameras.sim.yaml")
    apis = {d.id: (d.api.value, d.onvif) for _b, d in inventory.devices()}
    assert apis["HIK"] == ("isapi", None) and apis["DAH"] == ("dahua", None)
    assert apis["ONV"][0] == "onvif"


def test_devices_error_kinds_drift_and_storage_match_truth(mixed: Any) -> None:
    result, truth, _tmp = mixed
    seen = {d.device_id: d for d in result.report.devices}
    for device_id, expected in truth["devices"].items():
        report = seen[device_id]
        kind = report.status.error_kind.value if report.status.error_kind else None
        assert kind == expected["expected_error"], device_id
        rules = {v.rule for v in report.violations}
        if kind is None:
            assert abs(report.status.clock_drift_s - expected["clock_drift_s"]) <= 1.5
            vendor = expected["api"] != "onvif"
            assert ("R6.storage" in rules) == (vendor and expected["storage_fault"]), device_id
            if vendor:
                assert report.serial and report.serial.endswith(expected["serial"])
                assert report.storage is not None
                assert [d.capacity_bytes for d in report.storage] == [
                    d["capacity_bytes"] for d in expected["storage"]
                ]
    document = report_json(result.report, {"VLAB": ZoneInfo("Asia/Shanghai")})
    storage = {d["id"]: d["storage"] for d in document["devices"]}
    assert storage["DAH"] == [] and storage["ONV"] is None
    assert [d["status"] for d in storage["HIKOLD"]] == ["ok", "error"]


def test_channels_match_truth_through_vendor_apis(mixed: Any) -> None:
    result, truth, _tmp = mixed
    checked = 0
    for report in result.report.channels:
        expected = truth["channels"][report.channel_id]
        device = truth["devices"][expected["device"]]
        if device["expected_error"] is not None:
            assert [v.rule for v in report.result.violations] == ["R6.offline"]
            continue
        drift = device["clock_drift_s"]
        evidence, judged = report.evidence, report.result
        assert evidence.recording_found, report.channel_id
        if expected["earliest"] is None or expected["latest"] is None:
            continue
        window_start = result.report.finished_at - dt.timedelta(days=judged.required_days)
        truth_latest = (
            result.report.finished_at
            if expected["latest"] == "now"
            else on_our_clock(expected["latest"], drift)
        )
        if truth_latest < window_start:
            # nothing in the window: every business day missing, not recording
            rules = {v.rule for v in judged.violations}
            assert {"R1.missing_days", "R6.not_recording"} <= rules, report.channel_id
            checked += 1
            continue
        assert evidence.earliest is not None
        assert abs(evidence.earliest - on_our_clock(expected["earliest"], drift)) <= dt.timedelta(
            seconds=2
        ), report.channel_id
        assert judged.retention_days == pytest.approx(expected["retention_days"], abs=0.01)
        assert (evidence.recording_state.value == "recording") == expected["recording"]
        ours = [(g.start, g.end) for g in judged.gaps or []]
        theirs = []
        for g in expected["gaps"]:
            start = max(on_our_clock(g["start"], drift), window_start)
            end = on_our_clock(g["end"], drift)
            if end > start:
                theirs.append((start, end))
        if expected["latest"] != "now":
            theirs.append((on_our_clock(expected["latest"], drift), result.report.finished_at))
        _assert_same_spans(ours, theirs, report.channel_id)
        by_date = {d.date.isoformat(): d for d in judged.business_days}
        for date, day in expected["business_days"].items():
            if date in by_date and on_our_clock(day["required"]["start"], drift) > window_start:
                earliest = on_our_clock(expected["earliest"], drift)
                where = (report.channel_id, date)
                assert_day_as_truth(by_date[date], day["required"], theirs, earliest, where)
        rules = {v.rule for v in judged.violations}
        assert ("R1.retention" in rules) == (
            expected["retention_days"] < expected["required_retention_days"] - 1 / 24
        ), report.channel_id
        assert evidence.camera_online in (None, expected["camera_online"])
        checked += 1
    assert checked >= 8
