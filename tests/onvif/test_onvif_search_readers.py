"""The hand-written lxml readers for the paged search results (``convert``).

Each reply goes through ``xmlsafety.check_reply`` first, exactly as the transport does,
and the reader gets its ``payload``.  The zeep comparisons at the end check that the
readers give what zeep's schema-driven deserialisation of the same bytes gives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from zeep.loader import parse_xml

from tests.onvif_testkit import FakeDevice, fault, soap
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import (
    RECORDING_TOPICS,
    DeviceError,
    OnvifSettings,
    Recording,
    ReportedTime,
    open_device,
)
from vidaudit.onvif.convert import event_search_page, recording_search_page
from vidaudit.onvif.timeparse import reported
from vidaudit.onvif.xmlsafety import check_reply
from vidaudit.onvif.zeepclient import SERVICES, ZEEP_SETTINGS, load_document, service_proxy

UTC = dt.UTC
TRACK = "tns1:RecordingHistory/Track/State"
RECORDING = "tns1:RecordingHistory/Recording/State"
DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


def _result(
    *,
    topic: str = TRACK,
    time: str | None = "2025-03-01T02:00:00Z",
    track: str | None = "VIDEO001",
    item: str = "IsDataPresent",
    value: str = "true",
    start: str | None = "false",
) -> str:
    """One tt:Result shaped like the simulator's and Uniview's (optional parts)."""
    return (
        "<tt:Result><tt:RecordingToken>REC1</tt:RecordingToken>"
        + ("" if track is None else f"<tt:TrackToken>{track}</tt:TrackToken>")
        + ("" if time is None else f"<tt:Time>{time}</tt:Time>")
        + f'<tt:Event><wsnt:Topic Dialect="{DIALECT}">{topic}</wsnt:Topic>'
        '<wsnt:Message><tt:Message UtcTime="2025-03-01T02:00:00Z" PropertyOperation="Changed">'
        '<tt:Source><tt:SimpleItem Name="RecordingToken" Value="REC1"/>'
        '<tt:SimpleItem Name="Track" Value="VIDEO001"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="{item}" Value="{value}"/></tt:Data>'
        "</tt:Message></wsnt:Message></tt:Event>"
        + ("" if start is None else f"<tt:StartStateEvent>{start}</tt:StartStateEvent>")
        + "</tt:Result>"
    )


def _events_reply(*results: str, state: str = "Completed") -> bytes:
    return soap(
        "<tse:GetEventSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{''.join(results)}"
        "</tse:ResultList></tse:GetEventSearchResultsResponse>"
    )


def _payload(body: bytes) -> Any:
    checked = check_reply(body)
    assert checked.fault is None and checked.payload is not None
    return checked.payload


def _events(*results: str, state: str = "Completed") -> tuple[Any, bool]:
    return event_search_page(_payload(_events_reply(*results, state=state)), RECORDING_TOPICS)


# -- events ------------------------------------------------------------------------------


def test_track_event_with_track_token() -> None:
    events, completed = _events(_result())
    assert completed is True
    [event] = events
    assert event.time == ReportedTime(raw=dt.datetime(2025, 3, 1, 2, tzinfo=UTC), plausible=True)
    assert event.recording_token == "REC1"
    assert event.track_token == "VIDEO001"
    assert event.topic == TRACK
    assert (event.name, event.value, event.start_state) == ("IsDataPresent", True, False)


@pytest.mark.parametrize("track", ["", None])
def test_event_without_track_token(track: str | None) -> None:
    # Recording/State events have no track: the element is empty (simulator, Hikvision)
    # or absent.
    [event], _ = _events(_result(topic=RECORDING, track=track, item="IsRecording"))
    assert event.track_token is None
    assert (event.name, event.value) == ("IsRecording", True)


def test_start_state_event() -> None:
    [event], _ = _events(_result(start="true", value="false"))
    assert event.start_state is True and event.value is False


@pytest.mark.parametrize(("start", "expected"), [("1", True), ("0", False), (None, False)])
def test_start_state_spellings(start: str | None, expected: bool) -> None:
    [event], _ = _events(_result(start=start))
    assert event.start_state is expected


def test_recording_state_is_recording() -> None:
    [event], _ = _events(_result(topic=RECORDING, track="", item="IsRecording", value="false"))
    assert event.topic == RECORDING
    assert (event.name, event.value, event.track_token) == ("IsRecording", False, None)


@pytest.mark.parametrize("value", ["maybe", "", "yes"])
def test_non_boolean_value_is_none(value: str) -> None:
    [event], _ = _events(_result(value=value))
    assert event.name == "IsDataPresent" and event.value is None


def test_unrelated_data_item_gives_no_name() -> None:
    [event], _ = _events(_result(item="Something"))
    assert (event.name, event.value) == (None, None)


def test_time_with_offset_and_naive_time() -> None:
    offset, naive = _events(
        _result(time="2025-03-01T05:00:00+03:00"), _result(time="2025-03-01T02:00:00")
    )[0]
    assert offset.time.raw == dt.datetime(2025, 3, 1, 2, tzinfo=UTC)
    assert offset.time.assumed_utc is False
    assert naive.time.raw == dt.datetime(2025, 3, 1, 2, tzinfo=UTC)
    assert naive.time.assumed_utc is True


def test_implausible_time_is_kept_but_flagged() -> None:
    [event], _ = _events(_result(time="1970-01-01T00:00:00Z"))
    assert event.time.plausible is False and event.time.value is None


@pytest.mark.parametrize("time", [None, "", "not-a-time"])
def test_missing_or_unreadable_time_is_malformed(time: str | None) -> None:
    with pytest.raises(DeviceError) as caught:
        _events(_result(time=time))
    assert caught.value.kind == "malformed"
    assert caught.value.operation == "GetEventSearchResults"


def test_non_recording_topic_is_skipped() -> None:
    # Firmware that ignores the topic filter: other events are dropped before their
    # content is judged (this one even lacks a Time).
    events, _ = _events(
        _result(topic="tns1:VideoSource/MotionAlarm", item="State", time=None),
        _result(topic=RECORDING, track="", item="IsRecording"),
    )
    assert [e.topic for e in events] == [RECORDING]


def test_device_order_and_searching_state() -> None:
    events, completed = _events(
        _result(time="2025-03-01T03:00:00Z"),
        _result(time="2025-03-01T01:00:00Z", start="true"),
        state="Searching",
    )
    assert completed is False
    assert [e.time.raw.hour for e in events] == [3, 1]


def test_empty_page() -> None:
    assert _events(state="Completed") == ((), True)


def test_topic_text_is_stripped() -> None:
    [event], _ = _events(_result(topic=f"\n  {TRACK}  \n"))
    assert event.topic == TRACK


def test_missing_result_list_is_malformed() -> None:
    body = soap("<tse:GetEventSearchResultsResponse/>")
    with pytest.raises(DeviceError) as caught:
        event_search_page(_payload(body), RECORDING_TOPICS)
    assert caught.value.kind == "malformed"


def test_wrong_namespace_results_are_not_read() -> None:
    # Same local names in another namespace are not ONVIF results (as with zeep).
    body = _events_reply(_result()).replace(
        b'xmlns:tt="http://www.onvif.org/ver10/schema"', b'xmlns:tt="urn:example:not-onvif"'
    )
    assert event_search_page(_payload(body), RECORDING_TOPICS) == ((), False)


# -- recordings --------------------------------------------------------------------------


def _info(*, token: str = "REC1", tracks: str | None = None, earliest: str = "") -> str:
    if tracks is None:
        tracks = (
            "<tt:Track><tt:TrackToken>VIDEO001</tt:TrackToken><tt:TrackType>Video</tt:TrackType>"
            "<tt:Description>main</tt:Description><tt:DataFrom>2025-01-01T00:00:00Z</tt:DataFrom>"
            "<tt:DataTo>2025-03-01T00:00:00Z</tt:DataTo></tt:Track>"
        )
    return (
        "<tt:RecordingInformation>"
        + (f"<tt:RecordingToken>{token}</tt:RecordingToken>" if token else "")
        + "<tt:Source><tt:SourceId>VS1</tt:SourceId><tt:Name>Lobby</tt:Name>"
        "<tt:Location>Branch 7</tt:Location><tt:Description>d</tt:Description>"
        "<tt:Address>a</tt:Address></tt:Source>"
        + (f"<tt:EarliestRecording>{earliest}</tt:EarliestRecording>" if earliest else "")
        + "<tt:LatestRecording>2025-03-01T00:00:00Z</tt:LatestRecording>"
        f"<tt:Content>c</tt:Content>{tracks}"
        "<tt:RecordingStatus>Recording</tt:RecordingStatus></tt:RecordingInformation>"
    )


def _recordings(*infos: str, state: str = "Completed") -> tuple[tuple[Recording, ...], bool]:
    body = soap(
        "<tse:GetRecordingSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{''.join(infos)}"
        "</tse:ResultList></tse:GetRecordingSearchResultsResponse>"
    )
    return recording_search_page(_payload(body))


def test_recording_information() -> None:
    [rec], completed = _recordings(_info(earliest="1970-01-01T00:03:15Z"))
    assert completed is True
    assert rec.token == "REC1" and rec.origin == "search" and rec.status == "Recording"
    assert (rec.source_id, rec.source_name, rec.source_location) == ("VS1", "Lobby", "Branch 7")
    assert rec.earliest is not None and rec.earliest.plausible is False
    assert rec.latest == reported(dt.datetime(2025, 3, 1, tzinfo=UTC))
    [track] = rec.tracks
    assert (track.token, track.type, track.description) == ("VIDEO001", "Video", "main")
    assert track.data_from == reported(dt.datetime(2025, 1, 1, tzinfo=UTC))
    assert rec.max_retention is None


def test_recording_optional_parts_absent() -> None:
    [rec], completed = _recordings(_info(tracks=""), state="Searching")
    assert completed is False
    assert rec.tracks == () and rec.earliest is None


def test_unknown_track_type() -> None:
    tracks = (
        "<tt:Track><tt:TrackToken>X</tt:TrackToken><tt:TrackType>Thermal</tt:TrackType></tt:Track>"
    )
    [rec], _ = _recordings(_info(tracks=tracks))
    assert rec.tracks[0].type == "Unknown" and rec.tracks[0].data_from is None


@pytest.mark.parametrize(
    "info",
    [
        _info(token=""),
        _info(tracks="<tt:Track><tt:TrackType>Video</tt:TrackType></tt:Track>"),
    ],
    ids=["no RecordingToken", "no TrackToken"],
)
def test_recording_without_required_token_is_malformed(info: str) -> None:
    with pytest.raises(DeviceError) as caught:
        _recordings(info)
    assert caught.value.kind == "malformed"
    assert caught.value.operation == "GetRecordingSearchResults"


# -- the same bytes through zeep ------------------------------------------------------------


async def _zeep_reply(operation: str, body: bytes) -> Any:
    document = await load_document(SERVICES["search"], asyncio.Lock())
    proxy = service_proxy(document, SERVICES["search"], "http://127.0.0.1/", None, None)
    envelope = parse_xml(body, None, settings=ZEEP_SETTINGS)
    return proxy._binding.get(operation).process_reply(envelope)


async def test_events_match_zeep() -> None:
    body = _events_reply(
        _result(start="true"),
        _result(topic=RECORDING, track="", item="IsRecording", value="false"),
        _result(time="2025-03-01T05:00:00+03:00", value="0"),
        _result(time="2010-01-01-00:00:00"),  # the library's FastDateTime leniency
    )
    ours, _ = event_search_page(_payload(body), RECORDING_TOPICS)
    theirs = (await _zeep_reply("GetEventSearchResults", body)).Result
    assert [(e.time, e.recording_token, e.track_token, e.start_state, e.value) for e in ours] == [
        (
            reported(r.Time),
            r.RecordingToken,
            r.TrackToken or None,
            r.StartStateEvent,
            r.Event.Message._value_1.Data.SimpleItem[0].Value in ("true", "1"),
        )
        for r in theirs
    ]


def _zeep_recording(info: Any) -> tuple[Any, ...]:
    source = info.Source
    return (
        info.RecordingToken,
        (source.SourceId, source.Name, source.Location, source.Description, source.Address),
        info.Content,
        reported(info.EarliestRecording),
        reported(info.LatestRecording),
        [
            (t.TrackToken, t.TrackType, t.Description, reported(t.DataFrom), reported(t.DataTo))
            for t in info.Track
        ],
        info.RecordingStatus,
    )


def _our_recording(rec: Recording) -> tuple[Any, ...]:
    return (
        rec.token,
        (
            rec.source_id,
            rec.source_name,
            rec.source_location,
            rec.source_description,
            rec.source_address,
        ),
        rec.content,
        rec.earliest,
        rec.latest,
        [(t.token, t.type, t.description, t.data_from, t.data_to) for t in rec.tracks],
        rec.status,
    )


async def test_captured_recording_results_match_zeep(ex_onvif: Path) -> None:
    body = (ex_onvif / "get_recording_search_results.xml").read_bytes()
    ours, completed = recording_search_page(_payload(body))
    theirs = await _zeep_reply("GetRecordingSearchResults", body)
    assert completed is (theirs.SearchState == "Completed")
    assert [_our_recording(r) for r in ours] == [
        _zeep_recording(i) for i in theirs.RecordingInformation
    ]


# -- through a device: the raw path keeps the transport's checks ----------------------------

_FIND_EVENTS = soap(
    "<tse:FindEventsResponse><tse:SearchToken>S1</tse:SearchToken></tse:FindEventsResponse>"
)
_START, _END = dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 2, tzinfo=UTC)


async def test_events_read_through_device(fake: FakeDevice, creds: Credentials) -> None:
    # The fake refuses any request without a valid UsernameToken: the raw proxy signs too.
    fake.replies["FindEvents"] = _FIND_EVENTS
    fake.replies["GetEventSearchResults"] = _events_reply(
        _result(start="true"), _result(topic="tns1:VideoSource/MotionAlarm", item="State")
    )
    async with open_device(fake.url, creds) as device:
        events = await device.track_events(["REC1", "REC2"], _START, _END)
    assert [(e.track_token, e.start_state) for e in events] == [("VIDEO001", True)]
    assert fake.calls[-3:] == ["FindEvents", "GetEventSearchResults", "EndSearch"]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        # another operation's response element (strict_response_element)
        (soap("<tse:GetRecordingSearchResultsResponse/>"), "malformed"),
        (_events_reply(_result()).replace(b"</env:Envelope>", b""), "malformed"),  # truncated
        (b'<!DOCTYPE x [<!ENTITY a "b">]>' + _events_reply(_result()), "malformed"),
        ((500, fault("ter:InvalidArgVal", "bad token", code="env:Sender")), "device_fault"),
        (_events_reply(_result(time=None)), "malformed"),  # required Time missing
    ],
    ids=["wrong element", "truncated", "dtd", "fault", "no Time"],
)
async def test_raw_event_pages_keep_every_check(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings, reply: Any, kind: str
) -> None:
    fake.replies["FindEvents"] = _FIND_EVENTS
    fake.replies["GetEventSearchResults"] = reply
    async with open_device(fake.url, creds, fast) as device:
        with pytest.raises(DeviceError) as caught:
            await device.track_events("REC1", _START, _END)
    assert caught.value.kind == kind
    assert caught.value.operation == "GetEventSearchResults"
    assert fake.calls[-1] == "EndSearch"


async def test_oversized_event_page_is_refused(fake: FakeDevice, creds: Credentials) -> None:
    fake.replies["FindEvents"] = _FIND_EVENTS
    fake.replies["GetEventSearchResults"] = _events_reply(*[_result()] * 200)
    settings = OnvifSettings(max_response_bytes=64 * 1024)
    async with open_device(fake.url, creds, settings) as device:
        with pytest.raises(DeviceError) as caught:
            await device.track_events("REC1", _START, _END)
    assert caught.value.kind == "malformed" and "limit" in caught.value.message
