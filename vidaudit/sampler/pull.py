"""Pull frames at exact instants from a channel's recordings, judge and keep them (D4, R4).

One entry point for the CLI, spot-check tasks, retention verification and the web view:
the pull is registered *before* any video is fetched (who, when, channel, range, why), the
source is chosen by the device's ``playback`` setting (ONVIF replay, Hikvision or Dahua
playback URL) or is an exported file, every frame is diagnosed, stored as content-addressed
evidence and recorded with its requested and actual instants.

Clocks: requested instants are true (collector) time.  A device stamps footage with its
own clock, so a request is moved by the device's measured drift before it is sent, and the
frame's device time is moved back before it is reported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.dahua import DahuaDevice
from vidaudit.db.models import TaskFrameRow
from vidaudit.devicehttp.client import OPTIONAL_KINDS, HttpPool, HttpSettings
from vidaudit.devicehttp.clock import fine_drift
from vidaudit.errors import DeviceError, VidauditError
from vidaudit.evidence.store import EvidenceStore
from vidaudit.gb28181.errors import GbError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Branch, Channel, Credentials, Device, Playback
from vidaudit.isapi import IsapiDevice
from vidaudit.media.errors import MediaError
from vidaudit.media.file_frames import frames_at
from vidaudit.media.jpeg import encode_jpeg
from vidaudit.media.pulled import PulledFrame
from vidaudit.media.replay import pull_replay_frames
from vidaudit.media.stretches import plan_stretches
from vidaudit.media.vendor_urls import dahua_playback_url, hikvision_playback_url
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.topology import DeviceTopology, match_recording
from vidaudit.picture.diagnostics import Diagnosis, diagnose, diagnosis_json
from vidaudit.review.register import Entry, append
from vidaudit.sampler.gb_pull import pull_gb28181
from vidaudit.sampler.gb_settings import GbPullSettings

#: Vendor playback URLs are asked for this much around the instants (keyframe before,
#: decoding slack after), and instants closer than ``_URL_STRETCH`` share one URL.
_URL_MARGIN = dt.timedelta(seconds=2)
_URL_STRETCH = dt.timedelta(seconds=20)


class PullError(VidauditError):
    """The pull could not be made at all (kind from ``vidaudit.errors``)."""


@dataclass(frozen=True)
class PullRequest:
    branch: Branch
    device: Device
    channel: Channel
    instants: Sequence[dt.datetime]
    reason: str
    actor: str
    actor_role: str
    #: an exported file instead of the device, and the true instant of its first frame
    file: Path | None = None
    file_start: dt.datetime | None = None
    task_id: int | None = None
    #: what the register needs to say why, beyond ``reason`` (the person's own words):
    #: ``{"purpose": "task" | "retention" | ..., ...}``; pages render it per language
    purpose: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 15.0
    #: a frame further than this from its instant means there is no footage at the instant
    max_delta: dt.timedelta = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class PulledEvidence:
    requested: dt.datetime
    actual: dt.datetime
    delta_ms: float
    sha256: str
    path: Path
    diagnosis: Diagnosis
    source: str


@dataclass(frozen=True)
class PullOutcome:
    register_seq: int
    frames: list[PulledEvidence]
    source_kind: str
    #: device clock − ours as measured before the pull (GetSystemDateAndTime: ±1 s); frame
    #: times were corrected by it
    device_drift_s: float


@dataclass(frozen=True)
class PlaybackView:
    """What pulling recorded video from a device needs to know first (frames and clips)."""

    #: device clock - ours, to milliseconds where the device allows
    drift: dt.timedelta
    #: the device's UTC offset as it reports it (None: not reported)
    offset: dt.timedelta | None
    #: the ONVIF replay URI (``playback: onvif-replay`` only)
    replay_uri: str | None
    #: the RTSP port vendor playback URLs use (the device's report over its API, else the
    #: inventory's ``rtsp_port``)
    rtsp_port: int


def _branch_offset(branch: Branch, at: dt.datetime) -> dt.timedelta:
    """Dahua plays back in device local time, which is the branch's time zone."""
    zone = ZoneInfo(branch.timezone or "Asia/Shanghai")
    return at.astimezone(zone).utcoffset() or dt.timedelta()


async def _vendor_view(
    branch: Branch, device: Device, resolver: SecretResolver, settings: OnvifSettings
) -> tuple[dt.timedelta, dt.timedelta | None, int | None]:
    """(drift, device UTC offset, RTSP port the device reports) through the recorder's
    own API (ISAPI, Dahua): vendor playback URLs need no ONVIF at all."""
    http_settings = HttpSettings(
        call_timeout_s=settings.call_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        device_deadline_s=settings.device_deadline_s,
        max_response_bytes=settings.max_response_bytes,
    )
    zone = ZoneInfo(branch.timezone or "Asia/Shanghai")
    async with (
        HttpPool(http_settings) as pool,
        pool.open(str(device.url), resolver.credentials(device)) as http,
    ):
        reader: IsapiDevice | DahuaDevice = (
            IsapiDevice(http) if device.api is Api.ISAPI else DahuaDevice(http, zone)
        )
        clock = await reader.clock()
        # a frame's instant is evidence: the clock to milliseconds, not to the second
        fine = await fine_drift(reader.clock, http.now)
        try:
            port = await reader.rtsp_port()
        except DeviceError as err:
            if err.kind not in OPTIONAL_KINDS:
                raise
            port = None
    offset = clock.local_offset if device.api is Api.ISAPI else None
    drift = fine if fine is not None else clock.drift
    return drift or dt.timedelta(), offset, port


async def _onvif_view(
    device: Device, channel: Channel, resolver: SecretResolver, settings: OnvifSettings
) -> tuple[dt.timedelta, dt.timedelta | None, str | None]:
    """(drift, device UTC offset, replay URI or None) read from the device over ONVIF."""
    credentials = resolver.credentials(device)
    async with (
        OnvifPool(settings) as pool,
        pool.open(str(device.onvif), credentials) as dev,
    ):
        clock = await dev.clock()
        # a frame's instant is evidence: read the clock to milliseconds, not to the second
        drift = await dev.fine_drift() or clock.drift or dt.timedelta()
        offset = clock.observed_offset or clock.tz_offset
        if device.playback is not Playback.ONVIF_REPLAY:
            return drift, offset, None
        recordings = await dev.recordings()
        profiles = await dev.profiles() if dev.offers("media") else ()
        jobs = await dev.recording_jobs() if dev.offers("recording") else ()
        topology = DeviceTopology(recordings, jobs, profiles, ())
        recording = match_recording(channel.ref, topology)
        if recording is None:
            raise PullError("not_found", f"no recording on the device for {channel.id}")
        return drift, offset, (await dev.replay_uri(recording.token)).uri


async def device_view(
    branch: Branch,
    device: Device,
    channel: Channel,
    resolver: SecretResolver,
    settings: OnvifSettings,
) -> PlaybackView:
    """The device's clock and where its recordings play back from: through the vendor's
    own API for ``api: isapi|dahua`` devices with vendor playback URLs, else over ONVIF.
    (GB/T 28181 devices are reached through the SIP service instead: ``gb_pull``.)"""
    if device.api is Api.GB28181:
        raise PullError("config", f"{device.id}: a GB/T 28181 device plays back via gb28181")
    if device.api is not Api.ONVIF and device.playback is not Playback.ONVIF_REPLAY:
        drift, offset, reported = await _vendor_view(branch, device, resolver, settings)
        return PlaybackView(drift, offset, None, reported or device.rtsp_port)
    drift, offset, replay_uri = await _onvif_view(device, channel, resolver, settings)
    return PlaybackView(drift, offset, replay_uri, device.rtsp_port)


def vendor_playback_url(
    branch: Branch,
    device: Device,
    channel: Channel,
    credentials: Credentials,
    start: dt.datetime,
    end: dt.datetime,
    view: PlaybackView,
) -> str:
    """The device's Hikvision or Dahua playback URL for [start, end] (device clock)."""
    number = channel.ref.channel
    if number is None:
        raise PullError("config", f"{channel.id}: vendor playback needs ref.channel")
    host = urlsplit(device.address).hostname or ""
    secret = credentials.password.get_secret_value()
    if device.playback is Playback.HIKVISION_URL:
        return hikvision_playback_url(
            host,
            number,
            start,
            end,
            port=view.rtsp_port,
            username=credentials.username,
            password=secret,
        )
    return dahua_playback_url(
        host,
        number,
        start,
        end,
        device_tz=view.offset or _branch_offset(branch, start),
        port=view.rtsp_port,
        username=credentials.username,
        password=secret,
    )


async def _pull_from_gb28181(
    request: PullRequest, gb: GbPullSettings | None
) -> tuple[list[PulledFrame], dt.timedelta, str]:
    if gb is None:
        raise PullError("config", "the inventory has no gb28181 section")
    zone = ZoneInfo(request.branch.timezone or gb.default_timezone)
    frames, drift = await pull_gb28181(
        request.device,
        request.channel,
        request.instants,
        zone,
        gb,
        timeout_s=request.timeout_s,
        max_delta=request.max_delta,
    )
    return frames, drift, "gb28181"


async def _pull_from_device(
    request: PullRequest,
    resolver: SecretResolver,
    settings: OnvifSettings,
    gb: GbPullSettings | None = None,
) -> tuple[list[PulledFrame], dt.timedelta, str]:
    if request.device.api is Api.GB28181:
        return await _pull_from_gb28181(request, gb)
    view = await device_view(request.branch, request.device, request.channel, resolver, settings)
    drift, replay_uri = view.drift, view.replay_uri
    credentials = resolver.credentials(request.device)
    on_device = [instant + drift for instant in request.instants]
    playback = request.device.playback
    if playback is Playback.ONVIF_REPLAY:
        assert replay_uri is not None
        frames = await pull_replay_frames(
            replay_uri,
            credentials.username,
            credentials.password,
            on_device,
            timeout_s=request.timeout_s,
            max_wall_s=request.timeout_s * 4,
            # a replay server starts at the next footage when asked inside a gap or before
            # the oldest footage: a frame from hours away is not evidence of the instant
            max_delta=request.max_delta,
        )
        return frames, drift, "onvif-replay"
    found: list[PulledFrame | None] = [None] * len(on_device)
    # Vendor playback streams in real time, so each stretch of nearby instants gets its own
    # short URL instead of one URL spanning them all.
    for stretch in plan_stretches(on_device, _URL_STRETCH):
        # playback URLs carry whole seconds; the stream's first frame is at that second
        start = (stretch[0][1] - _URL_MARGIN).replace(microsecond=0)
        end = stretch[-1][1] + _URL_MARGIN
        url = vendor_playback_url(
            request.branch, request.device, request.channel, credentials, start, end, view
        )
        # Our RTSP client rather than FFmpeg's: an NVR starts playback at the keyframe at or
        # before starttime, and only the RTP side (the 0xABAC NTP time, else RTP-Info and
        # Range) says which instant the first frame really is; FFmpeg assumes starttime.
        pulled = await pull_replay_frames(
            url,
            credentials.username,
            credentials.password,
            [instant for _i, instant in stretch],
            timeout_s=request.timeout_s,
            mode="npt",
            origin=start,
            max_wall_s=request.timeout_s * 4,
            max_delta=request.max_delta,
        )
        for (index, _instant), frame in zip(stretch, pulled, strict=True):
            found[index] = frame
    return [frame for frame in found if frame is not None], drift, playback.value


def source_name(device: Device) -> str:
    """How the register names where a device's footage came from."""
    return "gb28181" if device.api is Api.GB28181 else device.playback.value


class FootageRequest(Protocol):
    """What the register needs of a frame or clip pull (``PullRequest``, ``ClipRequest``)."""

    @property
    def branch(self) -> Branch: ...
    @property
    def device(self) -> Device: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def reason(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def actor_role(self) -> str: ...
    @property
    def file(self) -> Path | None: ...
    @property
    def task_id(self) -> int | None: ...
    @property
    def purpose(self) -> Mapping[str, Any]: ...


def register_pull(
    sessions: sessionmaker[Session],
    request: FootageRequest,
    *,
    action: str,
    start: dt.datetime,
    end: dt.datetime,
    details: Mapping[str, Any],
    now: dt.datetime,
) -> int:
    """The register entry made before any footage is fetched (so a failed attempt is on the
    register too): who, why, which channel and stretch, and where the footage comes from.
    One place for frames and clips, so both kinds of pull are recorded alike."""
    with sessions.begin() as session:
        entry = append(
            session,
            Entry(
                actor=request.actor,
                actor_role=request.actor_role,
                action=action,
                reason=request.reason,
                branch_id=request.branch.id,
                channel_id=request.channel.id,
                range_start=start,
                range_end=end,
                details={
                    **request.purpose,
                    **details,
                    "source": "file" if request.file else source_name(request.device),
                    "task_id": request.task_id,
                },
            ),
            now,
        )
        return entry.seq


def _register(sessions: sessionmaker[Session], request: PullRequest, now: dt.datetime) -> int:
    instants = [i.astimezone(dt.UTC).isoformat() for i in request.instants]
    return register_pull(
        sessions,
        request,
        action="frame_pull",
        start=min(request.instants),
        end=max(request.instants),
        details={"instants": instants},
        now=now,
    )


def _store(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    request: PullRequest,
    frames: Sequence[PulledFrame],
    drift: dt.timedelta,
    source_kind: str,
    register_seq: int,
    now: dt.datetime,
) -> list[PulledEvidence]:
    out: list[PulledEvidence] = []
    previous: Diagnosis | None = None
    with sessions.begin() as session:
        for requested, frame in zip(request.instants, frames, strict=True):
            actual = frame.actual
            assert isinstance(actual, dt.datetime)
            actual = actual - drift
            diagnosis = diagnose(frame.image, previous=previous)
            previous = diagnosis
            jpeg = encode_jpeg(frame.image)
            delta_ms = (actual - requested) / dt.timedelta(milliseconds=1)
            row = store.put(
                session,
                jpeg,
                "image/jpeg",
                {
                    "channel": request.channel.id,
                    "requested": requested.astimezone(dt.UTC).isoformat(),
                    "actual": actual.astimezone(dt.UTC).isoformat(),
                    "source": source_kind,
                },
                now,
            )
            session.add(
                TaskFrameRow(
                    task_id=request.task_id,
                    channel_id=request.channel.id,
                    requested=requested,
                    actual=actual,
                    delta_ms=delta_ms,
                    evidence_sha256=row.sha256,
                    diagnostics=diagnosis_json(diagnosis),
                    error=None,
                    pulled_at=now,
                    register_seq=register_seq,
                )
            )
            out.append(
                PulledEvidence(
                    requested,
                    actual,
                    delta_ms,
                    row.sha256,
                    store.path_of(row),
                    diagnosis,
                    frame.source,
                )
            )
    return out


async def pull_frames(
    request: PullRequest,
    *,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    resolver: SecretResolver,
    onvif_settings: OnvifSettings,
    now: dt.datetime,
    gb: GbPullSettings | None = None,
) -> PullOutcome:
    """``gb``: how to reach the GB/T 28181 service, for ``api: gb28181`` devices."""
    for index, instant in enumerate(request.instants):
        if instant.tzinfo is None:
            raise ValueError(f"instant {index} must be timezone-aware")
    if not request.instants:
        raise ValueError("give at least one instant")
    if request.file is None:
        # A password reference that does not resolve is our configuration, not an attempt
        # to view footage: ConfigError before anything is registered.
        resolver.check(request.device)
    # Registered first: an attempt to view footage is on the record even if it fails.
    seq = await asyncio.to_thread(_register, sessions, request, now)
    try:
        if request.file is not None:
            file, start = request.file, request.file_start
            frames = await asyncio.to_thread(
                frames_at,
                file,
                list(request.instants),
                file_start=start,
                timeout_s=request.timeout_s,
            )
            drift, kind = dt.timedelta(), "file"
        else:
            frames, drift, kind = await _pull_from_device(request, resolver, onvif_settings, gb)
    except MediaError as exc:
        raise PullError(exc.kind, exc.message) from None
    except (DeviceError, GbError) as exc:
        raise PullError(exc.kind, exc.message) from None
    stored = await asyncio.to_thread(
        _store, sessions, store, request, frames, drift, kind, seq, now
    )
    return PullOutcome(seq, stored, kind, drift.total_seconds())
