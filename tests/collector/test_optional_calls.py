"""One bad optional reply does not take a device down (collector/probe.py, OPTIONAL_CALLS).

Each device of the simulated fleet below breaks one optional call (or two that back each
other up), the way the simulator's faults break a reply: garbage XML, a truncated body,
HTTP 500.  The device must stay online; the facts that call gives become unknown with the
reason; only the rules that need them say ``unverifiable``; everything else is judged
exactly as on a healthy twin with the same channels.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.collector.test_collect_fixtures import captured, run_probe  # noqa: F401
from tests.collector.test_collect_sim import collect_fleet
from tests.onvif_testkit import FakeDevice, soap
from vidaudit.collector.model import ChannelReport, DeviceReport
from vidaudit.collector.run import CollectResult
from vidaudit.compliance.model import RecordingState
from vidaudit.sim import parse_scenario

pytestmark = pytest.mark.timeout(120)

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CHANNELS = [
    {"role": "counter", "gaps": [{"business_days_ago": 2, "at": "10:00", "minutes": 30}]},
    {"role": "vault", "stopped_days_ago": 1.5},
]
#: device id -> (vendor, fault).  "onvif" devices are matched by profile token, Hikvision
#: ones by channel number (vidaudit/sim/inventory_out.py).
BROKEN: dict[str, tuple[str, dict[str, Any]]] = {
    "JOBS": ("onvif", {"kind": "malformed", "operations": ["GetRecordingJobs"]}),
    "JOBSTATE": ("onvif", {"kind": "malformed", "operations": ["GetRecordingJobState"]}),
    "EVENTS": ("onvif", {"kind": "malformed", "operations": ["FindEvents"]}),
    "EVENTPAGE": ("onvif", {"kind": "truncated", "operations": ["GetEventSearchResults"]}),
    "PROFILES": ("onvif", {"kind": "http500", "operations": ["GetProfiles"]}),
    "MEDIA": ("hikvision", {"kind": "http500", "operations": ["GetProfiles", "GetVideoSources"]}),
    "NOMATCH": ("onvif", {"kind": "malformed", "operations": ["GetProfiles", "GetRecordingJobs"]}),
}


def _device(device_id: str, vendor: str, fault: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": device_id,
        "vendor": vendor,
        "channels": [{"id": f"{device_id}-C{i + 1}", **c} for i, c in enumerate(CHANNELS)],
    }
    if fault is not None:
        entry["fault"] = fault
    return entry


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> tuple[CollectResult, dict[str, Any]]:
    import asyncio

    devices = [_device(d, vendor, fault) for d, (vendor, fault) in BROKEN.items()]
    devices += [_device(f"TWIN-{vendor}", vendor, None) for vendor in ("onvif", "hikvision")]
    scenario = parse_scenario(
        {
            "seed": 3,
            "branches": [{"id": "OPT", "name": "可选网点", "hours": ALL_DAYS, "devices": devices}],
        }
    )
    result, truth, _settings = asyncio.run(collect_fleet(scenario, tmp_path_factory.mktemp("opt")))
    return result, truth


def _reports(result: CollectResult, device_id: str) -> tuple[DeviceReport, list[ChannelReport]]:
    device = next(d for d in result.report.devices if d.device_id == device_id)
    channels = [c for c in result.report.channels if c.device_id == device_id]
    return device, channels


def _rules(channels: list[ChannelReport]) -> list[list[str]]:
    return [sorted(v.rule for v in c.result.violations) for c in channels]


def test_truth_says_these_devices_are_readable(
    polled: tuple[CollectResult, dict[str, Any]],
) -> None:
    _result, truth = polled
    for device_id in BROKEN:
        assert truth["devices"][device_id]["expected_error"] is None, device_id
        assert truth["devices"][device_id]["enrichment_fails"] is True, device_id


@pytest.mark.parametrize("device_id", sorted(BROKEN))
def test_device_stays_online(polled: tuple[CollectResult, dict[str, Any]], device_id: str) -> None:
    result, _truth = polled
    device, channels = _reports(result, device_id)
    assert device.status.online, device.status
    assert device.violations == [], device.violations
    assert device.manufacturer and device.services
    assert all(c.evidence.search_supported for c in channels)


@pytest.mark.parametrize("device_id", ["JOBS", "JOBSTATE", "PROFILES", "MEDIA"])
def test_state_and_match_still_known_judged_as_the_twin(
    polled: tuple[CollectResult, dict[str, Any]], device_id: str
) -> None:
    # The search's RecordingStatus still says recording/stopped; the recording is still
    # found (by job source, by the remaining media call, or by channel number): nothing is
    # unknown for the channels, and the verdicts equal the healthy twin's.  (JOBSTATE: the
    # collector does not ask job states at all -- Settings.onvif() -- so a device that
    # garbles them costs it nothing; test_failed_job_state_is_unknown_not_the_configured_mode
    # is what happens where they are asked.)
    result, _truth = polled
    vendor = BROKEN[device_id][0]
    _device, channels = _reports(result, device_id)
    _twin, twins = _reports(result, f"TWIN-{vendor}")
    assert [c.evidence.unknown for c in channels] == [{}, {}]
    assert [c.evidence.recording_state for c in channels] == [
        RecordingState.RECORDING,
        RecordingState.STOPPED,
    ]
    assert _rules(channels) == _rules(twins)
    assert "R6.not_recording" in _rules(channels)[1]  # the stopped vault, as on the twin


@pytest.mark.parametrize("device_id", ["EVENTS", "EVENTPAGE"])
def test_failed_event_search_makes_gaps_unknown(
    polled: tuple[CollectResult, dict[str, Any]], device_id: str
) -> None:
    result, _truth = polled
    _device, channels = _reports(result, device_id)
    _twin, twins = _reports(result, "TWIN-onvif")
    operation = BROKEN[device_id][1]["operations"][0]
    for channel, twin in zip(channels, twins, strict=True):
        assert channel.evidence.footage is None and twin.evidence.footage is not None
        why = channel.evidence.unknown["footage"]
        assert (why.call, why.kind) == (operation, "malformed"), why
        assert channel.result.gaps is None and channel.result.business_hours_covered is None
        rules = sorted(v.rule for v in channel.result.violations)
        # The twin's gap rules become one R2.unverifiable; every other verdict stands.
        expected = [
            r for r in (v.rule for v in twin.result.violations)
            if r not in ("R1.missing_days", "R2.business_hours")
        ]  # fmt: skip
        assert rules == sorted([*expected, "R2.unverifiable"])
        unverifiable = next(v for v in channel.result.violations if v.rule == "R2.unverifiable")
        assert unverifiable.evidence["message"] == why.message
        assert unverifiable.evidence["fact"] == "footage"
        assert unverifiable.evidence["call"] == operation
    assert "R2.business_hours" in _rules(twins)[0]  # the twin's gap was found


def test_failed_profiles_and_jobs_leave_the_recording_unidentified(
    polled: tuple[CollectResult, dict[str, Any]],
) -> None:
    # Matched by profile token: without GetProfiles (video source) and GetRecordingJobs
    # (job source) nothing ties the channel to a recording.  That is not "no recording".
    result, _truth = polled
    _device, channels = _reports(result, "NOMATCH")
    for channel in channels:
        assert not channel.evidence.recording_found
        why = channel.evidence.unknown["recording"]
        assert (why.call, why.kind) == ("GetProfiles", "malformed")
        assert [v.rule for v in channel.result.violations] == ["R6.unverifiable"]


# -- the issue's example: recording state unknown is never a guessed "stopped" ------------

#: The captured Axis SD card's one recording (``../shared/fixtures/onvif/ex_onvif``).
AXIS_SD_RECORDING = "SD_DISK_20200422_123501_A2388AB3"


async def _probe_axis_sd_card(device: FakeDevice, *, job_item: str) -> tuple[Any, Any]:
    """Probe the captured Axis SD card through its recording service, its one job J1
    answering with ``job_item`` after the token, for the channel on its one recording."""
    device.services = ("devicemgmt", "media", "recording")
    device.replies["GetRecordingJobs"] = soap(
        "<trc:GetRecordingJobsResponse><trc:JobItem><tt:JobToken>J1</tt:JobToken>"
        f"{job_item}</trc:JobItem></trc:GetRecordingJobsResponse>"
    )
    report, (channel,) = await run_probe(device, {"recording": AXIS_SD_RECORDING})
    return report, channel


async def test_malformed_jobs_on_a_device_without_search_time(
    captured: FakeDevice,  # noqa: F811
) -> None:
    # Axis SD card through the recording service (captured replies): GetRecordings has no
    # times, so the job is the only word on whether the channel records.  A malformed
    # GetRecordingJobs (a job without JobConfiguration) leaves that unknown.
    device, channel = await _probe_axis_sd_card(captured, job_item="")
    assert device.status.online
    assert channel.evidence.recording_state is RecordingState.UNKNOWN
    why = channel.evidence.unknown["recording_state"]
    assert (why.call, why.kind) == ("GetRecordingJobs", "malformed")
    assert "JobConfiguration" in why.message
    rules = [v.rule for v in channel.result.violations]
    assert rules == ["R1.unverifiable", "R6.unverifiable"]
    assert "R6.not_recording" not in rules


async def test_failed_job_state_is_unknown_not_the_configured_mode(
    captured: FakeDevice,  # noqa: F811
) -> None:
    # The same Axis SD card with a job recording the configured channel's recording, asked
    # for each job's live state (the library's default; the collector leaves it to
    # RecordingStatus) and answering 500.  The job's Mode says Active, but Mode is
    # configuration (a job in Error says Active too): the state is unknown with that call
    # as the reason, not "recording".
    captured.replies["GetRecordingJobState"] = (500, b"internal error")
    device, channel = await _probe_axis_sd_card(
        captured,
        job_item=f"<tt:JobConfiguration><tt:RecordingToken>{AXIS_SD_RECORDING}"
        "</tt:RecordingToken><tt:Mode>Active</tt:Mode><tt:Priority>1</tt:Priority>"
        "</tt:JobConfiguration>",
    )
    assert device.status.online
    why = device.unknown["job_states"]
    assert (why.call, why.kind) == ("GetRecordingJobState", "device_fault")
    assert channel.evidence.recording_state is RecordingState.UNKNOWN
    assert channel.evidence.unknown == {"recording_state": why}
    r6 = next(v for v in channel.result.violations if v.rule.startswith("R6."))
    assert r6.rule == "R6.unverifiable"
    assert r6.evidence == {
        "fact": "recording_state",
        "call": "GetRecordingJobState",
        "error_kind": "device_fault",
        "message": why.message,
    }


def test_truth_keeps_required_call_faults_fatal(tmp_path: Path) -> None:
    from vidaudit.sim.scenario import resolve
    from vidaudit.sim.truth import expected_error

    scenario = parse_scenario(
        {
            "branches": [
                {
                    "id": "B",
                    "name": "网点",
                    "hours": ALL_DAYS,
                    "devices": [
                        _device(
                            "REQ", "onvif", {"kind": "malformed", "operations": ["GetServices"]}
                        ),
                        _device(
                            "MIX",
                            "onvif",
                            {"kind": "malformed", "operations": ["FindEvents", "FindRecordings"]},
                        ),
                    ],
                }
            ]
        }
    )
    plan = resolve(scenario, dt.datetime.now(dt.UTC))
    assert [expected_error(d) for _b, d in plan.devices()] == ["malformed", "malformed"]
