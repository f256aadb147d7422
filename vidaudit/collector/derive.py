"""From what a device said to what we know about each configured channel (pure, no I/O).

Two questions, each with vendor quirks behind it (which recording is a channel's is
the device's topology: ``vidaudit.onvif.topology.match_recording``):
1. Since when and until when is there footage, on the collector's clock?  (``evidence_for``)
2. Where are the gaps?  (``footage_from_events``)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from vidaudit.compliance.model import ChannelEvidence, RecordingState
from vidaudit.compliance.spans import Span, merge
from vidaudit.inventory.schema import ChannelRef
from vidaudit.onvif.models import (
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    ReportedTime,
    VideoSource,
)
from vidaudit.onvif.topology import match_recording

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


def _state(recording: Recording, jobs: Sequence[RecordingJob]) -> RecordingState:
    """Live state first (job state, then the search's RecordingStatus), configuration last
    (a job's Mode says Active even while the job is in Error)."""
    mine = [job for job in jobs if job.recording_token == recording.token]
    for value in (
        *(job.state for job in mine),
        recording.status,
        *(job.mode for job in mine),
    ):
        state = _from_text(value)
        if state is not RecordingState.UNKNOWN:
            return state
    return RecordingState.UNKNOWN


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
            channel_id, search_supported=data.search_supported, recording_found=False
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
    return ChannelEvidence(
        channel_id,
        search_supported=data.search_supported,
        recording_found=True,
        recording_state=_state(recording, data.jobs),
        earliest=earliest,
        latest=latest,
        footage=footage,
        audio_track=audio,
    )
