"""Which of a device's recordings and media profiles hold a configured channel (pure, no I/O).

Devices name the same camera input several ways (video source token, media profile token,
recording job source, the channel number on the NVR's front panel), and vendors differ in
which one a recording points at; these rules are the ONVIF side of that topology.  The
collector (retention, gaps, snapshots), frame pulls (replay) and ``vidaudit probe`` all find
a channel's recording and profile here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vidaudit.onvif.models import Profile, Recording, RecordingJob, VideoSource


class ChannelRefLike(Protocol):
    """How the inventory points at a channel on its device (``inventory.schema.ChannelRef``)."""

    @property
    def recording(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def channel(self) -> int | None: ...


class Topology(Protocol):
    """What a device said about its recordings, jobs, profiles and video inputs."""

    @property
    def recordings(self) -> Sequence[Recording]: ...
    @property
    def jobs(self) -> Sequence[RecordingJob]: ...
    @property
    def profiles(self) -> Sequence[Profile]: ...
    @property
    def video_sources(self) -> Sequence[VideoSource]: ...


@dataclass(frozen=True)
class DeviceTopology:
    """A ``Topology`` read for one purpose (a frame pull reads no video sources)."""

    recordings: Sequence[Recording]
    jobs: Sequence[RecordingJob]
    profiles: Sequence[Profile]
    video_sources: Sequence[VideoSource]


def nth_input(
    number: int, profiles: Sequence[Profile], sources: Sequence[VideoSource]
) -> str | None:
    """Channel N is the device's Nth video input, in the order the device lists them
    (Hikvision/Dahua/Uniview NVRs list inputs by channel number); without GetVideoSources,
    in the order the profiles first name them."""
    inputs = [s.token for s in sources] or list(
        dict.fromkeys(p.video_source_token for p in profiles if p.video_source_token)
    )
    return inputs[number - 1] if 0 < number <= len(inputs) else None


def profile_for(
    ref: ChannelRefLike, profiles: Sequence[Profile], sources: Sequence[VideoSource]
) -> Profile | None:
    """The media profile that shows this channel: the profile named by ``ref.profile``,
    else the first profile fed by the channel's video source (``ref.source``, or for
    ``ref.channel`` N the device's Nth video input: NVRs list inputs by channel number).
    The first profile of an input is its main stream, the sharpest picture to judge."""
    if ref.profile:
        for profile in profiles:
            if profile.token == ref.profile:
                return profile
    source = ref.source
    if source is None and ref.channel is not None:
        source = nth_input(ref.channel, profiles, sources)
    if source is not None:
        for profile in profiles:
            if profile.video_source_token == source:
                return profile
    return None


def _source_tokens_for(ref: ChannelRefLike, data: Topology) -> set[str]:
    tokens: set[str] = set()
    if ref.source:
        tokens.add(ref.source)
    if ref.profile:
        tokens.add(ref.profile)  # recording jobs often name the profile as their source
        for profile in data.profiles:
            if profile.token == ref.profile and profile.video_source_token:
                tokens.add(profile.video_source_token)
    if ref.channel and (token := nth_input(ref.channel, data.profiles, data.video_sources)):
        tokens.add(token)
    # Recording jobs name profiles more often than video sources (Axis: the job's source is
    # "profile_1_h264" while the channel is known by its video source "0").
    tokens.update(p.token for p in data.profiles if p.video_source_token in tokens)
    return tokens


def match_recording(ref: ChannelRefLike, data: Topology) -> Recording | None:
    """The recording holding this channel's footage, by the first rule that finds one:

    1. ``ref.recording`` names the recording token outright;
    2. a recording whose source id is the channel's video source or profile token
       (most NVRs set RecordingSourceInformation/SourceId to the video source token);
    3. a recording job fed by that source or profile (Axis, some Uniview firmware);
    4. for ``ref.channel`` N with nothing above: the Nth recording the device lists.
    """
    by_token = {r.token: r for r in data.recordings}
    if ref.recording:
        return by_token.get(ref.recording)
    tokens = _source_tokens_for(ref, data)
    if tokens:
        for recording in data.recordings:
            if recording.source_id in tokens:
                return recording
        for job in data.jobs:
            if tokens.intersection(job.source_tokens) and job.recording_token in by_token:
                return by_token[job.recording_token]
    if ref.channel and 0 < ref.channel <= len(data.recordings):
        return data.recordings[ref.channel - 1]
    return None
