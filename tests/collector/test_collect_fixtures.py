"""The collector against real captured device responses, served over loopback HTTP with
real WS-Security: the right conclusions, quirks included (../shared/fixtures/onvif)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import yaml

from tests.conftest import shared_path
from tests.onvif_testkit import FakeDevice, soap, start
from vidaudit.collector.fleet import ProbeRequest, judge
from vidaudit.collector.probe import probe_device
from vidaudit.compliance.model import RecordingState
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.settings import OnvifSettings

# The captured GetSystemDateAndTime says 2024-07-09T19:49:06Z (BRT3, Manual): the fake
# device's clock is set there so every authenticated call only passes if our
# WS-Security Created follows the device clock.
CAPTURED_NOW = dt.datetime(2024, 7, 9, 19, 49, 6, tzinfo=dt.UTC)
NO_EVENTS = soap(
    "<tse:GetEventSearchResultsResponse><tse:ResultList>"
    "<tt:SearchState>Completed</tt:SearchState></tse:ResultList>"
    "</tse:GetEventSearchResultsResponse>"
)


def fixture(name: str) -> bytes:
    return (shared_path("fixtures", "onvif", "ex_onvif") / name).read_bytes()


def inventory_for(url: str, ref: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "branches": [
                {
                    "id": "B1",
                    "name": "测试网点",
                    "hours": {"mon": "08:30-17:00", "tue": "08:30-17:00"},
                    "devices": [
                        {
                            "id": "DEV",
                            "kind": "camera",
                            "onvif": url,
                            "username": "admin",
                            "password": "${PW}",
                            "channels": [
                                {
                                    "id": "CH",
                                    "name": "柜台",
                                    "role": "counter",
                                    "ref": ref,
                                    "audio": "required",
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        allow_unicode=True,
    )


async def run_probe(device: FakeDevice, ref: dict[str, str]):  # type: ignore[no-untyped-def]
    inventory = parse_inventory(inventory_for(device.url, ref))
    branch = inventory.branches[0]
    resolver = SecretResolver(inventory, None, environ={"PW": device.password})
    now = dt.datetime.now(dt.UTC)
    request = ProbeRequest(branch, branch.devices[0], now - dt.timedelta(days=31), now)
    settings = OnvifSettings(call_timeout_s=5, device_deadline_s=20)
    async with OnvifPool(settings) as pool:
        probe = await probe_device(pool, request, resolver)
    return judge(inventory, branch, branch.devices[0], probe, now)


@pytest.fixture
async def captured() -> AsyncIterator[FakeDevice]:
    device = FakeDevice(
        password="Cam-pw-9!",
        clock_offset=CAPTURED_NOW - dt.datetime.now(dt.UTC),
        replies={
            "GetSystemDateAndTime": fixture("get_system_date_and_time.xml"),
            "GetDeviceInformation": fixture("get_device_information.xml"),
            "FindRecordings": fixture("find_recordings.xml"),
            "GetRecordingSearchResults": fixture("get_recording_search_results.xml"),
            "GetRecordings": fixture("get_recordings.xml"),
            "GetRecordingJobs": fixture("get_recording_jobs.xml"),
            "FindEvents": fixture("find_events.xml"),
            "GetEventSearchResults": NO_EVENTS,
        },
    )
    runner = await start(device)
    try:
        yield device
    finally:
        await runner.cleanup()


async def test_milesight_recording_1970_and_future_dates_are_not_believed(
    captured: FakeDevice,
) -> None:
    device_report, (channel,) = await run_probe(captured, {"recording": "OnvifRecordingToken_1"})
    # online, and its Manual clock is ~2 years behind ours: R3
    assert device_report.status.online
    drift = device_report.status.clock_drift_s
    assert drift is not None
    expected = (CAPTURED_NOW - dt.datetime.now(dt.UTC)).total_seconds()
    assert abs(drift - expected) < 5
    assert [v.rule for v in device_report.violations] == ["R3.clock"]
    assert device_report.manufacturer and device_report.model
    assert {"search", "recording"} <= set(device_report.services)
    # EarliestRecording/DataFrom 1970-01-01T00:03:15Z: unknown, never 56 years of footage;
    # LatestRecording 2025-03-15 is after the device's own 2024 clock: not believed either.
    evidence = channel.evidence
    assert evidence.recording_found and evidence.earliest is None and evidence.latest is None
    assert evidence.recording_state is RecordingState.STOPPED
    assert evidence.audio_track is True  # the recording has an audio track
    assert evidence.footage is None  # the device listed no state events: gaps unknown
    assert channel.result.retention_days is None
    assert [v.rule for v in channel.result.violations] == ["R1.unverifiable", "R6.not_recording"]
    assert "FindRecordings" in captured.calls and "EndSearch" in captured.calls


async def test_axis_sd_card_without_search_is_unverifiable(captured: FakeDevice) -> None:
    captured.services = ("devicemgmt", "media", "recording")
    _device, (channel,) = await run_probe(
        captured, {"recording": "SD_DISK_20200422_123501_A2388AB3"}
    )
    assert channel.evidence.recording_found and not channel.evidence.search_supported
    assert channel.evidence.audio_track is True
    assert [v.rule for v in channel.result.violations] == ["R1.unverifiable"]
    assert "does not support recording search" in channel.result.violations[0].detail
    assert "FindRecordings" not in captured.calls


async def test_wrong_password_is_auth_on_this_device_only(captured: FakeDevice) -> None:
    captured.password = "changed-by-the-branch"
    inventory = parse_inventory(inventory_for(captured.url, {"channel": "1"}))
    branch = inventory.branches[0]
    resolver = SecretResolver(inventory, None, environ={"PW": "Cam-pw-9!"})
    now = dt.datetime.now(dt.UTC)
    async with OnvifPool(OnvifSettings(call_timeout_s=5)) as pool:
        probe = await probe_device(
            pool, ProbeRequest(branch, branch.devices[0], now, now), resolver
        )
    assert not probe.status.online and probe.status.error_kind == "auth"
    assert "Cam-pw-9!" not in (probe.status.error_message or "")
