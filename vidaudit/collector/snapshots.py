"""Live snapshots for the daily check (R4) and the video-wall patrol (D8).

For each chosen channel: GetSnapshotUri through the ONVIF layer, an HTTP GET of the JPEG
with the device's credentials (HTTP digest, or basic when the device asks for basic), a
decode with OpenCV, ``diagnose`` against the channel's previous snapshot (the frozen
check), and a ``SnapshotRow`` with the picture kept as content-addressed evidence.  A
snapshot that cannot be taken still leaves a row, with ``error`` saying why, so the
patrol and the daily check show a hole instead of an old picture.  A recorder read
through ISAPI or Dahua's API is snapshotted through its ``onvif:`` address when the
inventory gives one; without it each channel gets an ``unsupported`` row.

Bounds: the run's ONVIF settings bound the SOAP calls, every GET has a total timeout and
a size limit (a camera answering with a video stream or garbage must not fill memory),
and the whole device shares the collector's per-device deadline.  Decoding, diagnosing
and the database run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.collector.model import ChannelReport, RunReport
from vidaudit.compliance.model import Violation
from vidaudit.compliance.picture import evaluate_picture
from vidaudit.db.models import EvidenceRow, SnapshotRow
from vidaudit.errors import VidauditError
from vidaudit.evidence.store import EvidenceCorrupt, EvidenceStore
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import (
    Api,
    Branch,
    Channel,
    ChannelRole,
    Credentials,
    Device,
    Inventory,
)
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import VideoSource
from vidaudit.onvif.topology import profile_for
from vidaudit.picture.analysis_frame import Image, to_analysis_size
from vidaudit.picture.diagnostics import Diagnosis, diagnose, diagnosis_json
from vidaudit.private_files import private_dir

logger = logging.getLogger(__name__)

#: 现金区、加钞间、库房等重点部位 (bank notice) plus the counters: what the patrol cycles
#: through and what the daily check looks at when not every channel is wanted.
PRIORITY_ROLES: frozenset[ChannelRole] = frozenset(
    {ChannelRole.VAULT, ChannelRole.CASH_AREA, ChannelRole.COUNTER, ChannelRole.ATM}
)
#: A 4K JPEG is 1–3 MB; anything much larger is not a snapshot.
MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class SnapshotOptions:
    #: roles whose channels are snapshotted; None means every channel
    roles: frozenset[ChannelRole] | None = PRIORITY_ROLES
    max_bytes: int = MAX_SNAPSHOT_BYTES
    #: a previous snapshot younger than this is not used for the frozen check: cameras
    #: (and the simulator) stamp the time overlay per second or per minute, so two
    #: pictures seconds apart may be identical without the picture being frozen
    frozen_min_interval: dt.timedelta = dt.timedelta(minutes=1)
    #: a previous snapshot older than this says nothing about the picture being frozen now
    frozen_max_age: dt.timedelta = dt.timedelta(days=2)

    def wants(self, channel: Channel) -> bool:
        return self.roles is None or channel.role in self.roles


class SnapshotError(VidauditError):
    """A snapshot that could not be taken (kind from ``vidaudit.errors``)."""


@dataclass(frozen=True)
class _Fetched:
    branch_id: str
    device_id: str
    channel_id: str
    taken_at: dt.datetime
    jpeg: bytes | None
    error: str | None


@dataclass(frozen=True)
class TakenSnapshot:
    snapshot_id: int
    branch_id: str
    device_id: str
    channel_id: str
    taken_at: dt.datetime
    evidence_sha256: str | None
    diagnostics: dict[str, Any]
    error: str | None
    violations: list[Violation] = field(default_factory=list)


# -- HTTP -----------------------------------------------------------------------------


def _where(url: str) -> str:
    # Never the whole URL in a message: some devices put credentials in snapshot URIs.
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


async def _get(
    http: aiohttp.ClientSession,
    url: str,
    *,
    middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = (),
    auth: aiohttp.BasicAuth | None = None,
    client_timeout: aiohttp.ClientTimeout,
    max_bytes: int,
) -> tuple[int, str, bytes]:
    async with http.get(
        url, middlewares=middlewares, auth=auth, timeout=client_timeout, allow_redirects=False
    ) as response:
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status != 200:
            return response.status, challenge, b""
        if response.content_length is not None and response.content_length > max_bytes:
            raise SnapshotError(
                "malformed", f"snapshot of {response.content_length} bytes exceeds {max_bytes}"
            )
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body.extend(chunk)
            if len(body) > max_bytes:
                raise SnapshotError("malformed", f"snapshot larger than {max_bytes} bytes")
        return 200, challenge, bytes(body)


async def fetch_jpeg(
    http: aiohttp.ClientSession,
    url: str,
    credentials: Credentials,
    *,
    timeout_s: float,
    connect_timeout_s: float,
    max_bytes: int = MAX_SNAPSHOT_BYTES,
) -> bytes:
    """The picture at a snapshot URI.  HTTP digest first (what ONVIF devices use); basic
    only when the device's challenge asks for it, so a password is never sent in clear
    to a device that did not ask for it that way."""
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
    secret = credentials.password.get_secret_value()
    where = _where(url)
    try:
        status, challenge, body = await _get(
            http,
            url,
            middlewares=(aiohttp.DigestAuthMiddleware(credentials.username, secret),),
            client_timeout=timeout,
            max_bytes=max_bytes,
        )
        if status == 401 and challenge.lower().startswith("basic"):
            status, challenge, body = await _get(
                http,
                url,
                auth=aiohttp.BasicAuth(credentials.username, secret),
                client_timeout=timeout,
                max_bytes=max_bytes,
            )
    except TimeoutError:
        raise SnapshotError("timeout", f"no snapshot from {where} within {timeout_s:g} s") from None
    except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
        raise SnapshotError("unreachable", f"{where}: {type(exc).__name__}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise SnapshotError("malformed", f"{where}: {type(exc).__name__}") from None
    except aiohttp.ClientError as exc:
        raise SnapshotError("unreachable", f"{where}: {type(exc).__name__}") from None
    if status in (401, 403):
        raise SnapshotError("auth", f"{where} refused the credentials (HTTP {status})")
    if status in (404, 405, 501):
        raise SnapshotError("unsupported", f"{where} has no snapshot there (HTTP {status})")
    if status != 200:
        raise SnapshotError("device_fault", f"{where} answered HTTP {status}")
    if not body:
        raise SnapshotError("malformed", f"{where} sent an empty snapshot")
    return body


# -- one device -----------------------------------------------------------------------


async def _device_snapshots(
    pool: OnvifPool,
    http: aiohttp.ClientSession,
    branch: Branch,
    device: Device,
    channels: Sequence[Channel],
    credentials: Credentials,
    options: SnapshotOptions,
    clock: Callable[[], dt.datetime],
) -> list[_Fetched]:
    settings = pool.settings
    out: list[_Fetched] = []

    def failed(channel: Channel, kind: str, message: str) -> None:
        out.append(_Fetched(branch.id, device.id, channel.id, clock(), None, f"{kind}: {message}"))

    async with pool.open(str(device.onvif), credentials) as dev:
        try:
            profiles = await dev.profiles()
            sources: tuple[VideoSource, ...] = ()
            if any(p.video_source_token is None for p in profiles):
                sources = await dev.video_sources()
        except DeviceError as err:
            for channel in channels:
                failed(channel, err.kind, err.message)
            return out
        for channel in channels:
            profile = profile_for(channel.ref, profiles, sources)
            if profile is None:
                failed(channel, "not_found", "no media profile matches the channel's ref")
                continue
            try:
                uri = await dev.snapshot_uri(profile.token)
                jpeg = await fetch_jpeg(
                    http,
                    uri,
                    credentials,
                    timeout_s=settings.call_timeout_s,
                    connect_timeout_s=settings.connect_timeout_s,
                    max_bytes=options.max_bytes,
                )
            except DeviceError as err:
                failed(channel, err.kind, err.message)
                if err.kind in ("timeout", "unreachable"):
                    # The device's deadline is spent or it went away: the remaining
                    # channels would only wait for the same answer.
                    for rest in channels[channels.index(channel) + 1 :]:
                        failed(rest, err.kind, "not tried: " + err.message)
                    break
                continue
            except SnapshotError as err:
                failed(channel, err.kind, err.message)
                continue
            out.append(_Fetched(branch.id, device.id, channel.id, clock(), jpeg, None))
    return out


async def _bounded(
    semaphore: asyncio.Semaphore,
    deadline_s: float,
    work: Callable[[], Awaitable[list[_Fetched]]],
    fallback: Callable[[str], list[_Fetched]],
) -> list[_Fetched]:
    async with semaphore:
        try:
            async with asyncio.timeout(deadline_s):
                return await work()
        except TimeoutError:
            return fallback(f"timeout: snapshots did not finish within {deadline_s:.0f} s")


# -- judging and storing --------------------------------------------------------------


def _decode(jpeg: bytes) -> Image | None:
    data = np.frombuffer(jpeg, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def _previous_image(
    session: Session,
    store: EvidenceStore,
    channel_id: str,
    taken_at: dt.datetime,
    options: SnapshotOptions,
) -> Image | None:
    """The channel's last good picture, if it is far enough back to judge frozen-ness."""
    row = session.execute(
        select(EvidenceRow)
        .join(SnapshotRow, SnapshotRow.evidence_sha256 == EvidenceRow.sha256)
        .where(
            SnapshotRow.channel_id == channel_id,
            SnapshotRow.taken_at <= taken_at - options.frozen_min_interval,
            SnapshotRow.taken_at >= taken_at - options.frozen_max_age,
        )
        .order_by(SnapshotRow.taken_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    try:
        image = _decode(store.path_of(row).read_bytes())
    except OSError as exc:
        # A missing evidence file is `vidaudit evidence verify`'s to report; here it only
        # means the frozen check is skipped for this picture.
        logger.warning("previous snapshot of %s unreadable: %s", channel_id, exc)
        return None
    # diagnose compares at its analysis size; the gray picture is all the frozen check uses
    return None if image is None else to_analysis_size(image)[1]


def _store(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    fetched: Sequence[_Fetched],
    run_id: int | None,
    options: SnapshotOptions,
) -> list[TakenSnapshot]:
    taken: list[TakenSnapshot] = []
    with sessions.begin() as session:
        for item in fetched:
            sha: str | None = None
            diagnostics: dict[str, Any] = {}
            error = item.error
            diagnosis: Diagnosis | None = None
            if item.jpeg is not None:
                image = _decode(item.jpeg)
                if image is None:
                    error = "malformed: the snapshot is not a picture OpenCV can decode"
                else:
                    previous = _previous_image(
                        session, store, item.channel_id, item.taken_at, options
                    )
                    diagnosis = diagnose(image, previous=previous)
                    diagnostics = diagnosis_json(diagnosis)
                    try:
                        sha = store.put(
                            session,
                            item.jpeg,
                            "image/jpeg",
                            {
                                "channel": item.channel_id,
                                "taken_at": item.taken_at.astimezone(dt.UTC).isoformat(),
                                "source": "snapshot",
                                "run_id": run_id,
                            },
                            item.taken_at,
                        ).sha256
                    except EvidenceCorrupt as exc:
                        error = f"evidence: {exc}"
            row = SnapshotRow(
                channel_id=item.channel_id,
                taken_at=item.taken_at,
                run_id=run_id,
                evidence_sha256=sha,
                diagnostics=diagnostics,
                error=error,
            )
            session.add(row)
            session.flush()
            violations = (
                evaluate_picture(
                    diagnostics,
                    taken_at=item.taken_at.astimezone(dt.UTC).isoformat(),
                    evidence_sha256=sha,
                )
                if diagnosis is not None
                else []
            )
            taken.append(
                TakenSnapshot(
                    row.id,
                    item.branch_id,
                    item.device_id,
                    item.channel_id,
                    item.taken_at,
                    sha,
                    diagnostics,
                    error,
                    violations,
                )
            )
    return taken


# -- the run --------------------------------------------------------------------------


async def take_snapshots(
    pool: OnvifPool,
    inventory: Inventory,
    resolver: SecretResolver,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    *,
    run_id: int | None = None,
    options: SnapshotOptions | None = None,
    branches: set[str] | None = None,
    down: Mapping[str, str] | None = None,
    concurrency: int = 16,
    device_deadline_s: float = 60.0,
    clock: Callable[[], dt.datetime],
) -> list[TakenSnapshot]:
    """Snapshot the chosen channels of every device, concurrently, and store them.

    ``down`` maps device ids the poll found down to why: those are not contacted again
    (a hanging device would cost another deadline) and their channels get error rows.
    """
    options = options or SnapshotOptions()
    down = down or {}
    semaphore = asyncio.Semaphore(max(concurrency, 1))
    jobs: list[Awaitable[list[_Fetched]]] = []
    skipped: list[_Fetched] = []

    async with aiohttp.ClientSession(
        # As the ONVIF pool: no cookies shared between devices, no environment proxy.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        connector=aiohttp.TCPConnector(limit=max(concurrency, 1), ssl=pool.settings.verify_tls),
    ) as http:
        for branch, device in inventory.devices():
            if branches is not None and branch.id not in branches:
                continue
            channels = [c for c in device.channels if options.wants(c)]
            if not channels or device.api is Api.GB28181:
                # a GB/T 28181 recorder answers only the platform it registers to and has
                # no snapshot URL; its pictures are checked on recorded frames instead
                continue

            def errors(
                why: str, b: Branch = branch, d: Device = device, cs: Iterable[Channel] = channels
            ) -> list[_Fetched]:
                return [_Fetched(b.id, d.id, c.id, clock(), None, why) for c in cs]

            if device.id in down:
                skipped.extend(errors(f"device down: {down[device.id]}"))
                continue
            if device.onvif is None:
                # Read through ISAPI/Dahua only: live pictures come through ONVIF
                # snapshots; give onvif: as well to have them (R4).  An error row, not a
                # skip, so the wall and the daily check show the hole and its cause.
                skipped.extend(errors("unsupported: live snapshots need onvif:"))
                continue
            problem = resolver.problem(device)
            if problem is not None:
                skipped.extend(errors(f"config: {problem}"))
                continue
            credentials = resolver.credentials(device)

            def work(
                b: Branch = branch,
                d: Device = device,
                cs: list[Channel] = channels,
                cr: Credentials = credentials,
            ) -> Awaitable[list[_Fetched]]:
                return _device_snapshots(pool, http, b, d, cs, cr, options, clock)

            jobs.append(_bounded(semaphore, device_deadline_s, work, errors))
        results = await asyncio.gather(*jobs)
    fetched = [item for batch in results for item in batch] + skipped
    private_dir(store.root)
    return await asyncio.to_thread(_store, sessions, store, fetched, run_id, options)


def picture_violations(
    taken: Sequence[TakenSnapshot],
) -> tuple[frozenset[str], dict[str, list[Violation]]]:
    """The channels whose live picture was judged, and each one's R4 violations."""
    by_channel: dict[str, list[Violation]] = {}
    for snap in taken:
        if snap.violations:
            by_channel.setdefault(snap.channel_id, []).extend(snap.violations)
    return frozenset(snap.channel_id for snap in taken if snap.diagnostics), by_channel


def with_picture_violations(report: RunReport, taken: Sequence[TakenSnapshot]) -> RunReport:
    """The run's report with each snapshotted channel's R4 violations added (as they are
    added to the stored observations: ``store.add_picture_violations``)."""
    judged, by_channel = picture_violations(taken)
    report = replace(report, pictures_checked=report.pictures_checked | judged)
    if not by_channel:
        return report
    channels: list[ChannelReport] = []
    for channel in report.channels:
        extra = by_channel.get(channel.channel_id)
        if extra:
            result = replace(channel.result, violations=[*channel.result.violations, *extra])
            channel = replace(channel, result=result)
        channels.append(channel)
    return replace(report, channels=channels)
