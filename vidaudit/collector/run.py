"""One collection run end to end: sync the inventory, poll, judge, store as devices
finish, then finish the run from storage."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Set
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.collector.fleet import DeviceProbe, Prober, ProbeRequest, Progress, poll_fleet
from vidaudit.collector.gb_probe import (
    GbProbeSettings,
    GbReader,
    registered_ids,
    unavailable_reader,
)
from vidaudit.collector.heap import run_heap
from vidaudit.collector.identity import load_pins
from vidaudit.collector.model import ChannelReport, DeviceReport, RunReport, SettledChannel
from vidaudit.collector.probe import dispatching_prober
from vidaudit.collector.settled import load_settled
from vidaudit.collector.shard import (
    ShardFailed,
    ShardJob,
    plan_shares,
    poll_in_helper,
    process_count,
    share_of,
)
from vidaudit.collector.store import (
    Judged,
    TicketChanges,
    add_picture_violations,
    finish_run,
    start_run,
    store_observations,
)
from vidaudit.collector.verified import verified_for
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.compliance.model import ErrorKind, Violation
from vidaudit.db.models import CollectionRunRow
from vidaudit.devicehttp.client import HttpPool
from vidaudit.evidence.store import EvidenceStore
from vidaudit.gb28181.control import ControlClient
from vidaudit.gb28181.errors import GbError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.onvif.client import OnvifPool
from vidaudit.settings import Settings

if TYPE_CHECKING:
    from vidaudit.collector.snapshots import SnapshotOptions, TakenSnapshot

logger = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CollectResult:
    run_id: int
    #: With ``keep_report=False`` its device and channel lists are empty: the run is in
    #: storage (``collector.stored.stored_report_json`` reads it back).
    report: RunReport
    tickets: TicketChanges


def _begin(
    sessions: sessionmaker[Session],
    inventory: Inventory,
    path: Path,
    now: dt.datetime,
    full_read_every: dt.timedelta,
) -> tuple[int, dict[str, dt.datetime], dict[str, SettledChannel], dict[str, DeviceIdentity]]:
    """The new run's id, the retention proofs (pulled frames) standing at ``now``, what
    earlier runs settled about channels read through vendor APIs, and the device
    identities pinned so far."""
    with sessions.begin() as session:
        # Observations point at channel rows, so the inventory is synced before each run.
        sync_inventory(session, inventory, source=str(path.resolve()), now=now)
        return (
            start_run(session, now, inventory.policy),
            verified_for(session, now),
            load_settled(session, now, full_read_every),
            load_pins(session),
        )


def _finish(
    sessions: sessionmaker[Session],
    run_id: int,
    finished_at: dt.datetime,
    pictures_checked: frozenset[str],
) -> TicketChanges:
    with sessions.begin() as session:
        return finish_run(
            session, run_id, finished_at=finished_at, pictures_checked=pictures_checked
        )


def _abort(sessions: sessionmaker[Session], run_id: int) -> None:
    with sessions.begin() as session:
        run = session.get(CollectionRunRow, run_id)
        if run is not None:
            run.status = "aborted"
            run.finished_at = utcnow()


class RunWriter:
    """Stores each judged device as it arrives, in batches, off the event loop.

    Holds at most one batch being written and one filling: a device that fills the batch
    waits (keeping its polling slot) while the previous one is written, so memory does not
    grow with the fleet.  What it keeps for the run is small: who was delivered and which
    devices were down (the live-picture pass skips those).  ``keep=True`` also keeps every
    report, for callers that want the run in memory (tests, small fleets)."""

    #: Channels per write: ~250 bytes of row each, a few hundred kB of parameters.
    BATCH_CHANNELS = 2_000

    def __init__(
        self,
        sessions: sessionmaker[Session],
        run_id: int,
        *,
        keep: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self._sessions = sessions
        self._run_id = run_id
        self._keep = keep
        self._progress = progress
        self._pending: list[Judged] = []
        self._pending_channels = 0
        self._writing = asyncio.Lock()
        self.delivered: set[str] = set()
        self.down: dict[str, str] = {}
        self.devices: list[DeviceReport] = []
        self.channels: list[ChannelReport] = []

    async def __call__(self, device: DeviceReport, channels: list[ChannelReport]) -> None:
        self.delivered.add(device.device_id)
        if not device.status.online:
            self.down[device.device_id] = (device.status.error_kind or ErrorKind.UNREACHABLE).value
        if self._keep:
            self.devices.append(device)
            self.channels.extend(channels)
        if self._progress is not None:
            self._progress(device.device_id, DeviceProbe(device.status))
        self._pending.append((device, channels, utcnow()))
        self._pending_channels += max(len(channels), 1)
        if self._pending_channels >= self.BATCH_CHANNELS:
            await self.flush()

    async def flush(self) -> None:
        async with self._writing:
            batch, self._pending, self._pending_channels = self._pending, [], 0
            if batch:
                await asyncio.to_thread(self._store, batch)

    def _store(self, batch: list[Judged]) -> None:
        with self._sessions.begin() as session:
            store_observations(session, self._run_id, batch)


@asynccontextmanager
async def gb_service(
    settings: Settings, registered: frozenset[str] | None = None
) -> AsyncIterator[GbReader]:
    """The GB/T 28181 service on this host, its registrations read now (or ``registered``,
    read earlier); when it is not running here, a reader that finds every recorder
    unreachable, saying why (``reader.client`` is then None)."""
    gb_settings = GbProbeSettings(settings.gb_query_timeout_s, settings.gb_oldest_search_days)
    async with contextlib.AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(ControlClient.open(settings.gb_control_file))
            if registered is None:
                registered = await registered_ids(client)
            reader = GbReader(client, registered, gb_settings)
        except GbError as exc:
            # the service is down: every GB/T 28181 recorder is unreachable, with this reason
            reader = unavailable_reader(gb_settings, exc)
        yield reader


@asynccontextmanager
async def gb_reader(settings: Settings, inventory: Inventory) -> AsyncIterator[GbReader | None]:
    """The run's view of the GB/T 28181 service; None when no device uses it."""
    if not any(device.api is Api.GB28181 for _b, device in inventory.devices()):
        yield None
        return
    async with gb_service(settings) as reader:
        yield reader


def _dispatch(direct: Prober, gb: GbReader | None, inventory: Inventory) -> Prober:
    """GB/T 28181 recorders through the service; every other one ``direct`` (ONVIF or its
    vendor HTTP API)."""

    async def prober(request: ProbeRequest, resolver: SecretResolver) -> DeviceProbe:
        if request.device.api is Api.GB28181:
            assert gb is not None
            return await gb.probe(request, inventory.branch_timezone(request.branch))
        return await direct(request, resolver)

    return prober


async def _poll(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    resolver: SecretResolver,
    prober: Prober,
    branches: set[str] | None,
    verified: dict[str, dt.datetime],
    settled: dict[str, SettledChannel],
    pins: dict[str, DeviceIdentity],
    writer: RunWriter,
) -> None:
    """Poll and judge, in this process and for a large run in helper processes too; each
    device's reports go to ``writer`` as soon as they are judged."""
    selected = [
        device.id
        for branch, device in inventory.devices()
        if branches is None or branch.id in branches
    ]
    processes = process_count(settings.collector_processes, len(selected))
    shares = plan_shares(inventory, branches, processes)
    # The concurrency setting bounds the whole run: each process takes its part.
    concurrency = max(1, -(-settings.collector_concurrency // len(shares)))
    common: dict[str, Any] = {
        "concurrency": concurrency,
        "device_deadline_s": settings.collector_device_deadline_s,
        "clock": utcnow,
        "verified": verified,
        "settled": settled,
        "pins": pins,
        "judged": writer,
    }

    async def here(share: Set[str]) -> None:
        await poll_fleet(inventory, resolver, prober, devices=share, **common)

    async def elsewhere(share: frozenset[str]) -> None:
        part = share_of(inventory, share)
        channels = {channel.id for _b, _d, channel in part.channels()}
        job = ShardJob(
            inventory=part,
            inventory_path=inventory_path,
            devices=share,
            onvif=settings.onvif(),
            http=settings.device_http(),
            lookback_days=settings.collector_lookback_days,
            concurrency=concurrency,
            device_deadline_s=settings.collector_device_deadline_s,
            verified={key: at for key, at in verified.items() if key in channels},
            settled={key: known for key, known in settled.items() if key in channels},
            pins={key: pin for key, pin in pins.items() if key in share},
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        try:
            await poll_in_helper(job, writer)
        except ShardFailed as err:
            # Never lose a device to a helper's failure: poll what it did not deliver here.
            rest = share - writer.delivered
            logger.warning(
                "collector helper failed, polling its %d devices here: %s", len(rest), err
            )
            await here(rest)

    helpers = [asyncio.create_task(elsewhere(share)) for share in shares[1:]]
    try:
        await here(shares[0])
        await asyncio.gather(*helpers)
    finally:
        for helper in helpers:
            helper.cancel()
    await writer.flush()


async def collect(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    sessions: sessionmaker[Session],
    *,
    branches: set[str] | None = None,
    progress: Progress | None = None,
    snapshots: SnapshotOptions | None = None,
    keep_report: bool = True,
) -> CollectResult:
    """One run: every judged device is stored as it finishes, then the run is finished
    from storage.  ``keep_report=False`` holds nothing per device in memory (the CLI and
    large fleets); ``True`` also returns every report."""
    with run_heap():
        return await _collect(
            settings,
            inventory,
            inventory_path,
            sessions,
            branches=branches,
            progress=progress,
            snapshots=snapshots,
            keep_report=keep_report,
        )


async def _collect(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    sessions: sessionmaker[Session],
    *,
    branches: set[str] | None,
    progress: Progress | None,
    snapshots: SnapshotOptions | None,
    keep_report: bool,
) -> CollectResult:
    started = utcnow()
    # Database work runs in a thread: it must not stall device I/O on the event loop.
    run_id, verified, settled, pins = await asyncio.to_thread(
        _begin,
        sessions,
        inventory,
        inventory_path,
        started,
        dt.timedelta(hours=settings.collector_full_read_hours),
    )
    resolver = SecretResolver(inventory, inventory_path)
    writer = RunWriter(sessions, run_id, keep=keep_report, progress=progress)
    pictures: frozenset[str] = frozenset()
    taken: list[TakenSnapshot] = []
    try:
        async with (
            OnvifPool(settings.onvif()) as pool,
            HttpPool(settings.device_http()) as http_pool,
            gb_reader(settings, inventory) as gb,
        ):
            prober = _dispatch(
                dispatching_prober(pool, http_pool, settings.collector_lookback_days), gb, inventory
            )
            await _poll(
                settings,
                inventory,
                inventory_path,
                resolver,
                prober,
                branches,
                verified,
                settled,
                pins,
                writer,
            )
            if snapshots is not None:
                # Imported here: live-picture checks need OpenCV and numpy (~40 MB), which
                # a plain collection run has no use for.
                from vidaudit.collector.snapshots import picture_violations, take_snapshots

                # R4: live pictures of the devices the poll could read, judged and added
                # to their stored observations before the run finishes, so their
                # violations open tickets like any other.
                taken = await take_snapshots(
                    pool,
                    inventory,
                    resolver,
                    sessions,
                    EvidenceStore(settings.evidence_dir),
                    run_id=run_id,
                    options=snapshots,
                    branches=branches,
                    down=writer.down,
                    concurrency=settings.collector_concurrency,
                    device_deadline_s=settings.collector_device_deadline_s,
                    clock=utcnow,
                )
                pictures, violations = picture_violations(taken)
                await asyncio.to_thread(_add_pictures, sessions, run_id, violations)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_abort, sessions, run_id))
        raise
    finished = utcnow()
    tickets = await asyncio.to_thread(_finish, sessions, run_id, finished, pictures)
    report = _in_memory(writer, inventory, started, finished, pictures, taken)
    return CollectResult(run_id, report, tickets)


def _add_pictures(
    sessions: sessionmaker[Session], run_id: int, violations: dict[str, list[Violation]]
) -> None:
    with sessions.begin() as session:
        add_picture_violations(session, run_id, violations)


def _in_memory(
    writer: RunWriter,
    inventory: Inventory,
    started: dt.datetime,
    finished: dt.datetime,
    pictures: frozenset[str],
    taken: list[TakenSnapshot],
) -> RunReport:
    """The run as ``RunReport``: in inventory order, with the picture violations added."""
    order = {device.id: index for index, (_b, device) in enumerate(inventory.devices())}
    report = RunReport(
        started_at=started,
        finished_at=finished,
        policy=inventory.policy,
        devices=sorted(writer.devices, key=lambda d: order[d.device_id]),
        channels=sorted(writer.channels, key=lambda c: order[c.device_id]),
        pictures_checked=pictures,
    )
    if taken and writer.channels:
        from vidaudit.collector.snapshots import with_picture_violations

        report = with_picture_violations(report, taken)
    return report
