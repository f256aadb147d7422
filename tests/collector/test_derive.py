"""Matching recordings to channels and reading footage and gaps, vendor quirks included."""

from __future__ import annotations

import datetime as dt

from vidaudit.collector.derive import (
    DeviceRecordings,
    evidence_for,
    footage_from_events,
)
from vidaudit.compliance.model import RecordingState
from vidaudit.compliance.spans import Span
from vidaudit.inventory.schema import ChannelRef
from vidaudit.onvif.models import (
    PLAUSIBLE_SINCE,
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    ReportedTime,
    Track,
    VideoSource,
)
from vidaudit.onvif.topology import match_recording

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
WINDOW = Span(NOW - dt.timedelta(days=30), NOW)


def rt(value: dt.datetime) -> ReportedTime:
    return ReportedTime(raw=value, plausible=value >= PLAUSIBLE_SINCE)


def recording(
    token: str,
    source: str,
    start: dt.datetime,
    end: dt.datetime = NOW,
    audio: bool = False,
    status: str | None = "Recording",
) -> Recording:
    tracks = [Track("VIDEO001", "Video", "video", rt(start), rt(end))]
    if audio:
        tracks.append(Track("AUDIO001", "Audio", "audio", rt(start), rt(end)))
    return Recording(
        token=token,
        source_id=source,
        source_name=token,
        source_location="",
        source_description="",
        source_address="",
        content="",
        earliest=rt(start),
        latest=rt(end),
        tracks=tuple(tracks),
        status=status,
        max_retention=None,
        origin="search",
    )


def profile(token: str, source: str) -> Profile:
    return Profile(
        token=token,
        name=token,
        video_source_token=source,
        video_source_config_token=None,
        video_encoder_token=None,
        encoding="H264",
        width=1920,
        height=1080,
        framerate_limit=25,
        has_audio=False,
    )


def data(
    recordings: list[Recording],
    *,
    jobs: list[RecordingJob] = (),  # type: ignore[assignment]
    events: list[RecordingEvent] | None = None,
    drift_s: float = 0,
    sources: list[str] = ("VS1", "VS2", "VS3"),
) -> DeviceRecordings:  # type: ignore[assignment]
    return DeviceRecordings(
        search_supported=True,
        recordings=recordings,
        jobs=list(jobs),
        profiles=[profile(f"Profile_{i + 1}", s) for i, s in enumerate(sources)],
        video_sources=[VideoSource(s, 1920, 1080, 25) for s in sources],
        events=events,
        drift=dt.timedelta(seconds=drift_s),
    )


def event(
    at: dt.datetime,
    present: bool,
    rec: str = "R1",
    track: str = "VIDEO001",
    start_state: bool = False,
) -> RecordingEvent:
    return RecordingEvent(
        time=rt(at),
        recording_token=rec,
        track_token=track,
        topic="tns1:RecordingHistory/Track/State",
        name="IsDataPresent",
        value=present,
        start_state=start_state,
    )


START = NOW - dt.timedelta(days=31)
RECS = [recording("R1", "VS1", START), recording("R2", "VS2", START), recording("R3", "VS3", START)]


def test_match_by_recording_token_source_profile_and_channel_number() -> None:
    d = data(RECS)
    assert match_recording(ChannelRef(recording="R2"), d) is RECS[1]
    assert match_recording(ChannelRef(source="VS3"), d) is RECS[2]
    assert match_recording(ChannelRef(profile="Profile_2"), d) is RECS[1]
    assert match_recording(ChannelRef(channel=3), d) is RECS[2]
    assert match_recording(ChannelRef(channel=9), d) is None
    assert match_recording(ChannelRef(recording="nope"), d) is None


def test_match_through_recording_job_axis_style() -> None:
    # Axis: SD_DISK recordings whose SourceId says nothing; the job names the source
    sd = recording("SD_DISK_20261101_1", "", START)
    job = RecordingJob(
        token="J1",
        recording_token="SD_DISK_20261101_1",
        mode="Active",
        priority=1,
        source_tokens=("Profile_1",),
        state="Active",
    )
    d = data([sd], jobs=[job], sources=["0"])
    assert match_recording(ChannelRef(profile="Profile_1"), d) is sd


def test_channel_number_falls_back_to_list_order_without_sources() -> None:
    recs = [recording("A", "x", START), recording("B", "y", START)]
    d = DeviceRecordings(True, recs, [], [], [], None, dt.timedelta())
    assert match_recording(ChannelRef(channel=2), d) is recs[1]


def test_1970_data_from_is_unknown_not_56_years() -> None:
    bogus = recording("R1", "VS1", dt.datetime(1970, 1, 1, 0, 3, 15, tzinfo=dt.UTC))
    ev = evidence_for("C", ChannelRef(channel=1), data([bogus]), window=WINDOW, now=NOW)
    assert ev.recording_found and ev.earliest is None and ev.latest == NOW


def test_future_latest_is_refused_but_drift_is_corrected() -> None:
    ahead = dt.timedelta(hours=2)
    rec = recording("R1", "VS1", START + ahead, NOW + ahead)
    fine = evidence_for(
        "C", ChannelRef(channel=1), data([rec], drift_s=7200), window=WINDOW, now=NOW
    )
    assert fine.earliest == START and fine.latest == NOW  # device clock +2 h, corrected
    lying = evidence_for("C", ChannelRef(channel=1), data([rec]), window=WINDOW, now=NOW)
    assert lying.latest is None  # 2 h in the future with no drift to explain it


def test_state_from_job_then_status_and_audio_tracks() -> None:
    rec = recording("R1", "VS1", START, audio=True, status="Stopped")
    ev = evidence_for("C", ChannelRef(channel=1), data([rec]), window=WINDOW, now=NOW)
    assert ev.recording_state is RecordingState.STOPPED and ev.audio_track is True
    job = RecordingJob("J", "R1", "Active", None, ("VS1",), "Active")
    ev = evidence_for("C", ChannelRef(channel=1), data([rec], jobs=[job]), window=WINDOW, now=NOW)
    assert ev.recording_state is RecordingState.RECORDING
    no_audio = evidence_for("C", ChannelRef(channel=2), data(RECS), window=WINDOW, now=NOW)
    assert no_audio.audio_track is False


def test_gaps_from_track_events_with_start_state() -> None:
    g1 = (NOW - dt.timedelta(days=2, hours=5), NOW - dt.timedelta(days=2, hours=4))
    events = [
        event(WINDOW.start, True, start_state=True),
        event(g1[0], False),
        event(g1[1], True),
        event(NOW - dt.timedelta(minutes=10), False),
    ]
    spans = footage_from_events(events, RECS[0], WINDOW, dt.timedelta())
    assert spans == [Span(WINDOW.start, g1[0]), Span(g1[1], NOW - dt.timedelta(minutes=10))]


def test_first_event_false_without_start_state_means_data_before() -> None:
    end = NOW - dt.timedelta(days=1)
    spans = footage_from_events([event(end, False)], RECS[0], WINDOW, dt.timedelta())
    assert spans == [Span(WINDOW.start, end)]


def test_events_of_other_recordings_and_no_events() -> None:
    other = [event(NOW - dt.timedelta(days=1), False, rec="R2")]
    assert footage_from_events(other, RECS[0], WINDOW, dt.timedelta()) is None
    ev = evidence_for("C", ChannelRef(channel=1), data(RECS, events=None), window=WINDOW, now=NOW)
    assert ev.footage is None  # unknown, not "no gaps"


def test_no_search_support() -> None:
    d = DeviceRecordings(False, [], [], [], [], None, dt.timedelta())
    ev = evidence_for("C", ChannelRef(channel=1), d, window=WINDOW, now=NOW)
    assert not ev.search_supported and not ev.recording_found
