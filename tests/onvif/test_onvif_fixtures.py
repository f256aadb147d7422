"""Real captured device responses served over loopback: what the layer derives.

Each captured body from ../shared/fixtures/onvif/ex_onvif is served for its operation
by a real HTTP server that also checks the WS-UsernameToken against its clock.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.onvif_testkit import FakeDevice, fault, soap
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import DeviceError, OnvifSettings, open_device

UTC = dt.UTC

FIXTURE_FOR = {
    "GetSystemDateAndTime": "get_system_date_and_time.xml",
    "GetDeviceInformation": "get_device_information.xml",
    "GetRecordingSummary": "get_recording_summary.xml",
    "FindRecordings": "find_recordings.xml",
    "GetRecordingSearchResults": "get_recording_search_results.xml",
    "GetRecordings": "get_recordings.xml",
    "GetRecordingJobs": "get_recording_jobs.xml",
    "GetReplayUri": "get_replay_uri.xml",
    "FindEvents": "find_events.xml",
}
#: The Axis clock fixture says 2024-07-09T19:49:06Z; the fake device's clock runs from
#: there, so every authenticated call below only passes if WS-Security ``Created``
#: was built from the device clock (the real clock is years away).
FIXTURE_UTC = dt.datetime(2024, 7, 9, 19, 49, 6, tzinfo=UTC)


@pytest.fixture
def captured(fake: FakeDevice, ex_onvif: Path) -> FakeDevice:
    for operation, name in FIXTURE_FOR.items():
        fake.replies[operation] = (ex_onvif / name).read_bytes()
    fake.clock_offset = FIXTURE_UTC - dt.datetime.now(UTC)
    return fake


async def test_clock_brt3_is_utc_minus_3(captured: FakeDevice, creds: Credentials) -> None:
    async with open_device(captured.url, creds) as device:
        clock = await device.clock()
    assert clock.utc == FIXTURE_UTC
    assert clock.utc_source == "utc"
    assert clock.tz == "BRT3"
    assert clock.tz_offset == dt.timedelta(hours=-3)  # POSIX sign inverted
    assert clock.observed_offset == dt.timedelta(hours=-3)
    assert clock.local == dt.datetime(
        2024, 7, 9, 16, 49, 6, tzinfo=dt.timezone(dt.timedelta(hours=-3))
    )
    assert clock.local_wall == "2024-07-09T16:49:06"
    assert clock.time_source == "Manual"
    assert clock.daylight_savings is True
    assert clock.sent_at <= clock.received_at
    assert clock.sent_at.tzinfo is not None
    # drift = device UTC - midpoint: the fixture is from 2024, so years negative.
    assert clock.drift is not None and clock.drift < -dt.timedelta(days=300)


async def test_device_info_milesight(captured: FakeDevice, creds: Credentials) -> None:
    async with open_device(captured.url, creds) as device:
        info = await device.info()
    assert info.manufacturer == "Milesight Technology Co.,Ltd."
    assert info.model == "MS-C8165-PE"
    assert info.firmware == "61.8.0.3-r8"
    assert info.serial == "EM82V102329001403"
    assert info.hardware_id == "V1.0"
    # The device clock was read first so the token's Created matched the device.
    assert captured.calls[:2] == ["GetSystemDateAndTime", "GetDeviceInformation"]


async def test_uniview_summary_1970_is_flagged(captured: FakeDevice, creds: Credentials) -> None:
    async with open_device(captured.url, creds) as device:
        summary = await device.recording_summary()
    assert summary.number_recordings == 8
    assert summary.data_from is not None
    assert summary.data_from.raw == dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert summary.data_from.plausible is False
    assert summary.data_from.value is None  # unknown, never "55 years of retention"
    assert summary.data_until is not None
    assert summary.data_until.value == dt.datetime(2024, 12, 13, 8, 8, 49, tzinfo=UTC)


async def test_milesight_search_earliest_1970(captured: FakeDevice, creds: Credentials) -> None:
    async with open_device(captured.url, creds) as device:
        recordings = await device.recordings()
    assert [r.token for r in recordings] == ["OnvifRecordingToken_1"]
    recording = recordings[0]
    assert recording.origin == "search"
    assert recording.status == "Stopped"
    assert recording.source_id == "SourceId_1"
    assert recording.source_name == "IpCamera_1"
    assert recording.earliest is not None
    assert recording.earliest.raw == dt.datetime(1970, 1, 1, 0, 3, 15, tzinfo=UTC)
    assert not recording.earliest.plausible
    assert recording.latest is not None
    assert recording.latest.value == dt.datetime(2025, 3, 15, 16, 28, tzinfo=UTC)
    assert [(t.token, t.type) for t in recording.tracks] == [
        ("videotracktoken_1", "Video"),
        ("audiotracktoken_1", "Audio"),
        ("metadatatracktoken_1", "Metadata"),
    ]
    video = recording.tracks[0]
    assert video.data_from is not None and video.data_from.value is None
    assert video.data_to is not None and video.data_to.value == dt.datetime(
        2025, 3, 15, 16, 28, tzinfo=UTC
    )
    # FindRecordings -> GetRecordingSearchResults (Completed at once) -> EndSearch.
    tail = captured.calls[-3:]
    assert tail == ["FindRecordings", "GetRecordingSearchResults", "EndSearch"]


async def test_axis_sd_disk_recordings_without_search(
    captured: FakeDevice, creds: Credentials
) -> None:
    captured.services = ("devicemgmt", "media", "recording", "replay")  # Axis: no search
    async with open_device(captured.url, creds) as device:
        recordings = await device.recordings()
        jobs = await device.recording_jobs()
    assert [r.token for r in recordings] == [
        "SD_DISK_20200422_123501_A2388AB3",
        "SD_DISK_20200422_132613_45A883F5",
        "SD_DISK_20200422_132655_67086B52",
    ]
    first = recordings[0]
    assert first.origin == "recording"
    assert first.source_name == "paolo"
    assert first.content == "beta cam 1"
    assert first.max_retention == dt.timedelta(hours=1)
    assert first.earliest is None and first.latest is None  # GetRecordings has no times
    assert [t.type for t in first.tracks] == ["Video", "Audio", "Metadata"]
    assert "FindRecordings" not in captured.calls

    assert len(jobs) == 1
    job = jobs[0]
    assert job.token == "SD_DISK_20241120_211729_9C896594"
    assert job.recording_token == "SD_DISK_20241120_211729_9C896594"
    assert job.mode == "Active"
    assert job.priority == 9
    assert job.source_tokens == ("profile_1_h264",)
    assert job.state is None  # GetRecordingJobState: ActionNotSupported on this device


async def test_job_state_read_when_supported(captured: FakeDevice, creds: Credentials) -> None:
    captured.replies["GetRecordingJobState"] = soap(
        "<trc:GetRecordingJobStateResponse><trc:State>"
        "<tt:RecordingToken>SD_DISK_20241120_211729_9C896594</tt:RecordingToken>"
        "<tt:State>Active</tt:State></trc:State></trc:GetRecordingJobStateResponse>"
    )
    async with open_device(captured.url, creds) as device:
        jobs = await device.recording_jobs()
    assert jobs[0].state == "Active"


async def test_axis_replay_uri_keeps_vendor_query(captured: FakeDevice, creds: Credentials) -> None:
    async with open_device(captured.url, creds) as device:
        replay = await device.replay_uri("SD_DISK_20200422_132655_67086B52")
    assert replay.recording_token == "SD_DISK_20200422_132655_67086B52"
    assert replay.uri == (
        "rtsp://192.168.1.136/onvif-media/record/play.amp?"
        "onvifreplayid=SD_DISK_20200422_132655_67086B52&onvifreplayext=1"
        "&streamtype=unicast&session_timeout=30"
    )


def _event(time: str, topic: str, item: str, value: str, *, start: bool = False) -> str:
    return (
        "<tt:Result><tt:RecordingToken>REC1</tt:RecordingToken><tt:TrackToken>VIDEO001</tt:TrackToken>"
        f"<tt:Time>{time}</tt:Time><tt:Event><wsnt:Topic Dialect="
        '"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        f'{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="{time}"><tt:Source>'
        '<tt:SimpleItem Name="RecordingToken" Value="REC1"/></tt:Source><tt:Data>'
        f'<tt:SimpleItem Name="{item}" Value="{value}"/></tt:Data></tt:Message></wsnt:Message>'
        f"</tt:Event><tt:StartStateEvent>{'true' if start else 'false'}</tt:StartStateEvent>"
        "</tt:Result>"
    )


async def test_uniview_find_events_paged_until_completed(
    captured: FakeDevice, creds: Credentials
) -> None:
    # find_events.xml (Uniview) answers FindEvents with token "SearchToken[1]"; the pages
    # below are ours, served in two parts to exercise paging.
    pages = [
        (
            "Searching",
            _event(
                "2025-03-01T00:00:00Z",
                "tns1:RecordingHistory/Track/State",
                "IsDataPresent",
                "true",
                start=True,
            ),
        ),
        (
            "Completed",
            _event(
                "2025-03-01T02:00:00Z",
                "tns1:RecordingHistory/Track/State",
                "IsDataPresent",
                "false",
            )
            + _event("2025-03-01T02:00:01Z", "tns1:VideoSource/MotionAlarm", "State", "true")
            + _event(
                "2025-03-01T03:00:00Z",
                "tns1:RecordingHistory/Recording/State",
                "IsRecording",
                "true",
            ),
        ),
    ]
    asked: list[bytes] = []

    def results(device: FakeDevice, envelope: object) -> bytes:
        from lxml import etree

        asked.append(etree.tostring(envelope))
        state, body = pages[len(asked) - 1]
        return soap(
            "<tse:GetEventSearchResultsResponse><tse:ResultList>"
            f"<tt:SearchState>{state}</tt:SearchState>{body}</tse:ResultList>"
            "</tse:GetEventSearchResultsResponse>"
        )

    captured.replies["GetEventSearchResults"] = results
    start, end = dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 2, tzinfo=UTC)
    async with open_device(captured.url, creds) as device:
        events = await device.track_events("REC1", start, end)

    assert all(b"SearchToken[1]" in body for body in asked)
    assert captured.calls[-4:] == [
        "FindEvents",
        "GetEventSearchResults",
        "GetEventSearchResults",
        "EndSearch",
    ]
    assert [(e.time.value, e.name, e.value, e.start_state) for e in events] == [
        (dt.datetime(2025, 3, 1, 0, 0, tzinfo=UTC), "IsDataPresent", True, True),
        (dt.datetime(2025, 3, 1, 2, 0, tzinfo=UTC), "IsDataPresent", False, False),
        (dt.datetime(2025, 3, 1, 3, 0, tzinfo=UTC), "IsRecording", True, False),
    ]
    assert events[0].topic == "tns1:RecordingHistory/Track/State"
    assert events[0].recording_token == "REC1" and events[0].track_token == "VIDEO001"


async def test_end_search_sent_when_paging_fails(captured: FakeDevice, creds: Credentials) -> None:
    captured.replies["GetRecordingSearchResults"] = (500, b"<html>internal error</html>")
    async with open_device(captured.url, creds) as device:
        with pytest.raises(DeviceError) as caught:
            await device.recordings()
    assert caught.value.kind == "device_fault"
    assert captured.calls[-1] == "EndSearch"


async def test_captured_soap_fault_is_device_fault(
    captured: FakeDevice, creds: Credentials, ex_onvif: Path
) -> None:
    # soap_fault.xml: env:Sender / ter:InvalidArgVal / ter:NoProfile.
    captured.replies["GetSnapshotUri"] = (400, (ex_onvif / "soap_fault.xml").read_bytes())
    async with open_device(captured.url, creds) as device:
        with pytest.raises(DeviceError) as caught:
            await device.snapshot_uri("nope")
    assert caught.value.kind == "device_fault"
    assert "InvalidArgVal/NoProfile" in caught.value.message
    assert caught.value.operation == "GetSnapshotUri"


async def test_not_authorized_fault_is_auth(captured: FakeDevice, creds: Credentials) -> None:
    captured.replies["GetDeviceInformation"] = (
        400,
        fault("ter:NotAuthorized", "Sender not Authorized"),
    )
    async with open_device(captured.url, creds) as device:
        with pytest.raises(DeviceError) as caught:
            await device.info()
    assert caught.value.kind == "auth"


async def test_unsupported_search_is_reported(captured: FakeDevice, creds: Credentials) -> None:
    captured.services = ("devicemgmt", "media")
    async with open_device(captured.url, creds, OnvifSettings()) as device:
        with pytest.raises(DeviceError) as caught:
            await device.recording_summary()
    assert caught.value.kind == "unsupported"
    assert "GetRecordingSummary" not in captured.calls  # decided from GetServices
