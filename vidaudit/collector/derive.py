"""From what a device said to what we know about each configured channel (pure, no I/O).

Two questions, each with vendor quirks behind it (which recording is a channel's is
the device's topology: ``vidaudit.onvif.topology.match_recording``):
1. Since when and until when is there footage, on the collector's clock?  (``evidence_for``)
2. Where are the gaps?  (``footage_from_events``)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vidaudit.compliance.model import ChannelEvidence, FailedCall, RecordingState
from vidaudit.compliance.spans import Span, merge
from vidaudit.inventory.schema import ChannelRef
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import (
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    ReportedTime,
    VideoSource,
)
from vidaudit.onvif.topology import match_recording
from vidaudit.readings import RecorderReading

#: A device clock may run a little ahead of ours between the drift reading and the search;
#: footage stamped later than now + drift + this is not believable.
FUTURE_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class DeviceRecordings:
    """Everything a device told us about its recordings in one probe."""

    search_supported: bool
    recordings: Sequence[Recording]
    jobs: Sequence[RecordingJob]
    profiles: Sequence[Profile]
    video_sources: Sequence[VideoSource]
    #: Track/State and Recording/State events over the window; None when the device has
    #: no event search (gaps then are unknown, not absent).
    events: Sequence[RecordingEvent] | None
    #: Device UTC − collector UTC; device timestamps are shifted back by this.
    drift: dt.timedelta
    #: Optional calls that failed, by what they give (``media``, ``jobs``, ``job_states``,
    #: ``events``; see ``collector.probe.OPTIONAL_CALLS``) -> why: those facts are
    #: unknown, not absent.
    unknown: Mapping[str, FailedCall] = field(default_factory=dict)


def _believable(
    reported: ReportedTime | None, now: dt.datetime, drift: dt.timedelta
) -> dt.datetime | None:
    """A device timestamp on the collector's clock, or None when it cannot be true."""
    if reported is None or reported.value is None:
        return None
    value = reported.value
    if value > now + drift + FUTURE_SLACK:
        return None
    return value - drift


def _video_tracks(recording: Recording) -> list[str]:
    return [t.token for t in recording.tracks if t.type == "Video"]


def footage_from_events(
    events: Sequence[RecordingEvent],
    recording: Recording,
    window: Span,
    drift: dt.timedelta,
) -> list[Span] | None:
    """Spans with data, from IsDataPresent transitions of the recording's video track.

    Falls back to Recording/State ``IsRecording`` events when the device sends no track
    events.  None when the device sent no usable event for this recording at all: then
    the gaps are unknown, which is different from "no gaps".
    """
    mine = [e for e in events if e.recording_token == recording.token and e.value is not None]
    present = [e for e in mine if e.name == "IsDataPresent"]
    if present:
        # One video track is what counts: the first the recording lists that has events.
        seen = {e.track_token for e in present}
        track = next((t for t in _video_tracks(recording) if t in seen), None)
        if track is None:
            track = min((t for t in seen if t), default=None)
        chosen = [e for e in present if e.track_token == track]
    else:
        chosen = [e for e in mine if e.name == "IsRecording"]
    if not chosen:
        return None
    spans: list[Span] = []
    open_at: dt.datetime | None = None
    state_known = False
    for event in sorted(chosen, key=lambda e: (e.time.raw, not e.start_state)):
        at = min(max(event.time.raw - drift, window.start), window.end)
        if event.value:
            if open_at is None:
                open_at = at
        elif open_at is not None:
            spans.append(Span(open_at, at))
            open_at = None
        elif not state_known and not event.start_state:
            # the first event ends data we had no start state for: data ran from the start
            spans.append(Span(window.start, at))
        state_known = True
    if open_at is not None:
        spans.append(Span(open_at, window.end))
    return merge(spans)


def _from_text(value: str | None) -> RecordingState:
    state = (value or "").lower()
    if state in ("active", "partiallyactive", "recording"):
        return RecordingState.RECORDING
    if state in ("idle", "error", "stopped", "removed", "removing"):
        return RecordingState.STOPPED
    return RecordingState.UNKNOWN


def failed_call(err: DeviceError) -> FailedCall:
    """What a failed optional device call leaves unknown, and why (stored: bounded)."""
    return FailedCall(err.operation or "?", err.kind, err.message[:300])


def _state(
    recording: Recording, jobs: Sequence[RecordingJob]
) -> tuple[RecordingState, FailedCall | None]:
    """Live state first (job state, then the search's RecordingStatus), configuration last
    (a job's Mode says Active even while the job is in Error).  When a job's live state was
    asked and the call failed, its Mode does not stand in for the answer: the state is
    unknown, and the failed call says why."""
    mine = [job for job in jobs if job.recording_token == recording.token]
    for value in (*(job.state for job in mine), recording.status):
        state = _from_text(value)
        if state is not RecordingState.UNKNOWN:
            return state, None
    for job in mine:
        if job.state_error is not None:
            return RecordingState.UNKNOWN, failed_call(job.state_error)
    for job in mine:
        state = _from_text(job.mode)
        if state is not RecordingState.UNKNOWN:
            return state, None
    return RecordingState.UNKNOWN, None


def _unknown_facts(
    data: DeviceRecordings,
    recording: Recording | None,
    state: RecordingState,
    state_failure: FailedCall | None = None,
) -> dict[str, FailedCall]:
    """Which of this channel's facts a failed optional call left unknown, and why."""
    unknown: dict[str, FailedCall] = {}
    if recording is None:
        # Matching by profile, source or channel number needs the profiles; matching
        # through a job (Axis) needs the jobs.
        reasons = [data.unknown[k] for k in ("media", "jobs") if k in data.unknown]
        if reasons:
            unknown["recording"] = reasons[0]
        return unknown
    if state is RecordingState.UNKNOWN and (why := state_failure or data.unknown.get("jobs")):
        unknown["recording_state"] = why
    if data.events is None and "events" in data.unknown:
        unknown["footage"] = data.unknown["events"]
    return unknown


def evidence_for(
    channel_id: str,
    ref: ChannelRef,
    data: DeviceRecordings,
    *,
    window: Span,
    now: dt.datetime,
) -> ChannelEvidence:
    recording = match_recording(ref, data)
    if recording is None:
        return ChannelEvidence(
            channel_id,
            search_supported=data.search_supported,
            recording_found=False,
            unknown=_unknown_facts(data, None, RecordingState.UNKNOWN),
        )
    video = [t for t in recording.tracks if t.type == "Video"] or list(recording.tracks)
    starts = [_believable(t.data_from, now, data.drift) for t in video]
    ends = [_believable(t.data_to, now, data.drift) for t in video]
    earliest = min((s for s in starts if s is not None), default=None)
    latest = max((e for e in ends if e is not None), default=None)
    if earliest is None:
        earliest = _believable(recording.earliest, now, data.drift)
    if latest is None:
        latest = _believable(recording.latest, now, data.drift)
    footage = (
        None
        if data.events is None
        else footage_from_events(data.events, recording, window, data.drift)
    )
    audio: bool | None = None
    if recording.tracks:
        audio = any(t.type == "Audio" for t in recording.tracks)
    state, state_failure = _state(recording, data.jobs)
    return ChannelEvidence(
        channel_id,
        search_supported=data.search_supported,
        recording_found=True,
        recording_state=state,
        earliest=earliest,
        latest=latest,
        footage=footage,
        audio_track=audio,
        unknown=_unknown_facts(data, recording, state, state_failure),
    )


#: Footage that ends this close to the moment the recorder was searched is still being
#: recorded: it runs on to "now" (an in-progress file ends at the search instant).
_STILL_RECORDING = dt.timedelta(minutes=2)
_STALE = dt.timedelta(minutes=15)


def evidence_from_reading(
    channel_id: str, ref: ChannelRef, reading: RecorderReading, *, now: dt.datetime
) -> ChannelEvidence:
    """A channel's evidence from a vendor API reading (ISAPI, Dahua): its recorded
    segments moved onto the collector's clock by the measured drift."""
    footage = next((c for c in reading.channels if c.number == ref.channel), None)
    if footage is None or not footage.exists:
        return ChannelEvidence(channel_id, search_supported=True, recording_found=False)
    drift = reading.clock.drift or dt.timedelta()
    spans = [Span(s - drift, e - drift) for s, e in footage.segments]
    latest = None if footage.latest is None else footage.latest - drift
    if spans and footage.searched_to - spans[-1].end - drift <= _STILL_RECORDING:
        spans[-1] = Span(spans[-1].start, max(now, spans[-1].end))
    if footage.recording is not None:
        state = RecordingState.RECORDING if footage.recording else RecordingState.STOPPED
    elif latest is not None and footage.searched_to - drift - latest <= _STALE:
        state = RecordingState.RECORDING
    else:
        state = RecordingState.STOPPED
    return ChannelEvidence(
        channel_id,
        search_supported=True,
        recording_found=True,
        recording_state=state,
        earliest=None if footage.earliest is None else footage.earliest - drift,
        latest=latest,
        footage=merge(spans),
        audio_track=None,
        camera_online=footage.camera_online,
    )
