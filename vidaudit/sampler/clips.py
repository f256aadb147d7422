"""Short clips of recorded video as evidence (5-60 s around an instant), pulled by the same
roads as frames: ONVIF replay, the device's Hikvision/Dahua playback URL (its clock read
over ONVIF or, for ``api: isapi|dahua`` devices, the vendor's own API), or an exported
file, or GB/T 28181 playback through the SIP service (its MPEG-PS remuxed).  Like a
frame pull, a clip pull is registered *before* any video is fetched (D4), and the clip is
kept as content-addressed evidence (MP4, as recorded: remuxed, never re-encoded) with the
true instants of its first and last frames.

Clocks as in ``pull``: the range asked for is true time, moved onto the device's clock by
its measured drift; the clip's frame instants are moved back before they are reported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import TaskClipRow
from vidaudit.errors import VidauditError
from vidaudit.evidence.store import EvidenceStore
from vidaudit.gb28181.errors import GbError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Branch, Channel, Device, Playback
from vidaudit.media.clip import Clip, clip_from_file, mux_units
from vidaudit.media.errors import MediaError
from vidaudit.media.replay import pull_replay_units
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sampler.gb_pull import pull_gb28181_units
from vidaudit.sampler.gb_settings import GbPullSettings
from vidaudit.sampler.pull import PullError, device_view, register_pull, vendor_playback_url

#: a clip a reviewer may ask for: long enough to see what happened, short enough to pull
#: on the spot (vendor playback streams in real time)
MIN_SECONDS = 5
MAX_SECONDS = 60
#: a vendor playback URL carries whole seconds and the NVR starts at the keyframe before
_URL_MARGIN = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class ClipRequest:
    branch: Branch
    device: Device
    channel: Channel
    start: dt.datetime
    end: dt.datetime
    reason: str
    actor: str
    actor_role: str
    #: an exported file instead of the device, and the true instant of its first frame
    file: Path | None = None
    file_start: dt.datetime | None = None
    task_id: int | None = None
    timeout_s: float = 15.0
    #: ``{"purpose": "task", ...}`` as for frame pulls; pages render it per language
    purpose: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def around(
        cls, branch: Branch, device: Device, channel: Channel, at: dt.datetime, seconds: int,
        **rest: object,
    ) -> ClipRequest:  # fmt: skip
        """``seconds`` of footage centred on ``at``."""
        half = dt.timedelta(seconds=seconds) / 2
        return cls(branch, device, channel, at - half, at + half, **rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClipOutcome:
    register_seq: int
    clip_id: int
    sha256: str
    path: Path
    #: true instants of the first and last frames
    first: dt.datetime
    last: dt.datetime
    frames: int
    codec: str
    source_kind: str
    device_drift_s: float
    losses: int


def check_range(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("a clip's start and end must be timezone-aware")
    seconds = (end - start).total_seconds()
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"a clip is {MIN_SECONDS}-{MAX_SECONDS} s long, not {seconds:g} s")


def _register(sessions: sessionmaker[Session], request: ClipRequest, now: dt.datetime) -> int:
    seconds = round((request.end - request.start).total_seconds(), 3)
    return register_pull(
        sessions,
        request,
        action="clip_pull",
        start=request.start,
        end=request.end,
        details={"seconds": seconds},
        now=now,
    )


async def _from_device(
    request: ClipRequest, resolver: SecretResolver, settings: OnvifSettings
) -> tuple[Clip, dt.timedelta, str]:
    device, channel = request.device, request.channel
    view = await device_view(request.branch, device, channel, resolver, settings)
    drift = view.drift
    credentials = resolver.credentials(device)
    start, end = request.start + drift, request.end + drift
    seconds = (end - start).total_seconds()
    if device.playback is Playback.ONVIF_REPLAY:
        assert view.replay_uri is not None
        units = await pull_replay_units(
            view.replay_uri,
            credentials.username,
            credentials.password,
            start,
            end,
            timeout_s=request.timeout_s,
            max_wall_s=request.timeout_s * 4 + seconds,
        )
    else:
        url_start = (start - _URL_MARGIN).replace(microsecond=0)
        url = vendor_playback_url(
            request.branch, device, channel, credentials, url_start, end + _URL_MARGIN, view
        )
        units = await pull_replay_units(
            url,
            credentials.username,
            credentials.password,
            start,
            end,
            timeout_s=request.timeout_s,
            mode="npt",
            origin=url_start,
            # vendor playback runs in real time: the clip takes as long as it lasts
            max_wall_s=request.timeout_s * 4 + seconds * 1.5,
        )
    clip = await asyncio.to_thread(mux_units, units)
    return clip, drift, device.playback.value


async def _from_gb28181(
    request: ClipRequest, gb: GbPullSettings | None
) -> tuple[Clip, dt.timedelta, str]:
    if gb is None:
        raise PullError("config", "the inventory has no gb28181 section")
    zone = ZoneInfo(request.branch.timezone or gb.default_timezone)
    units, drift = await pull_gb28181_units(
        request.device,
        request.channel,
        request.start,
        request.end,
        zone,
        gb,
        timeout_s=request.timeout_s,
    )
    clip = await asyncio.to_thread(mux_units, units)
    return clip, drift, "gb28181"


def _store(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    request: ClipRequest,
    clip: Clip,
    drift: dt.timedelta,
    source_kind: str,
    register_seq: int,
    now: dt.datetime,
) -> ClipOutcome:
    first, last = clip.first - drift, clip.last - drift
    with sessions.begin() as session:
        row = store.put(
            session,
            clip.mp4,
            "video/mp4",
            {
                "channel": request.channel.id,
                "requested_start": request.start.astimezone(dt.UTC).isoformat(),
                "requested_end": request.end.astimezone(dt.UTC).isoformat(),
                "first": first.astimezone(dt.UTC).isoformat(),
                "last": last.astimezone(dt.UTC).isoformat(),
                "frames": clip.frames,
                "codec": clip.codec,
                "size": [clip.width, clip.height],
                "source": source_kind,
                "remuxed": True,
            },
            now,
        )
        found = TaskClipRow(
            task_id=request.task_id,
            channel_id=request.channel.id,
            requested_start=request.start,
            requested_end=request.end,
            first_at=first,
            last_at=last,
            frames=clip.frames,
            codec=clip.codec,
            source=source_kind,
            evidence_sha256=row.sha256,
            pulled_at=now,
            register_seq=register_seq,
        )
        session.add(found)
        session.flush()
        return ClipOutcome(
            register_seq=register_seq,
            clip_id=found.id,
            sha256=row.sha256,
            path=store.path_of(row),
            first=first,
            last=last,
            frames=clip.frames,
            codec=clip.codec,
            source_kind=source_kind,
            device_drift_s=drift.total_seconds(),
            losses=clip.losses,
        )


async def pull_clip(
    request: ClipRequest,
    *,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    resolver: SecretResolver,
    onvif_settings: OnvifSettings,
    now: dt.datetime,
    gb: GbPullSettings | None = None,
) -> ClipOutcome:
    """Register, pull, store.  Raises ``ValueError`` for a range outside 5-60 s or a file
    without its start and ``ConfigError`` for an unresolved password (nothing registered
    in either case), ``PullError`` when the footage cannot be had (the attempt stays
    registered).  ``gb``: how to reach the GB/T 28181 service, for ``api: gb28181``
    devices."""
    check_range(request.start, request.end)
    if request.file is None:
        resolver.check(request.device)
    elif request.file_start is None:
        raise ValueError("a clip from a file needs the instant its first frame shows")
    seq = await asyncio.to_thread(_register, sessions, request, now)
    try:
        if request.file is not None:
            assert request.file_start is not None  # checked before registering
            clip = await asyncio.to_thread(
                clip_from_file,
                request.file,
                request.start,
                request.end,
                file_start=request.file_start,
                timeout_s=request.timeout_s,
            )
            drift, kind = dt.timedelta(), "file"
        elif request.device.api is Api.GB28181:
            clip, drift, kind = await _from_gb28181(request, gb)
        else:
            clip, drift, kind = await _from_device(request, resolver, onvif_settings)
    except (MediaError, DeviceError, GbError) as exc:
        raise PullError(exc.kind, exc.message) from None
    except VidauditError:
        raise
    return await asyncio.to_thread(_store, sessions, store, request, clip, drift, kind, seq, now)
