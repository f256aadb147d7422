"""Distributed collection: rounds deferred as jobs to workers on many machines, through
procrastinate (a job queue on PostgreSQL: LISTEN/NOTIFY, ``FOR UPDATE SKIP LOCKED``,
retries, locks; nothing else to operate).

- One job per recorder per round (``collector:poll_device``), carrying only ids: the
  round and the device.  A worker reads everything else from its own inventory and the
  database, so a job never holds a password or a report.  It judges by the round's
  policy, the branch calendars (hours, closed and special days, time zone) and the
  recorders' channels (which, how found, role, required retention, audio, off-site) the
  database holds, not by its own cameras.yaml's (``RoundStanding``, ``round_hours``,
  ``round_channels``); its file says how to reach the recorders.
- The job's ``lock`` and ``queueing_lock`` are the device: procrastinate never runs two
  jobs of one device at once, nor queues a second one while one waits (an NVR tolerates
  few sessions, and two polls of it would compete for them).
- A device that times out or is unreachable is tried again with back-off
  (``DeviceRetry``), as long as the next try can end before the round's deadline; its
  last answer is what is stored.
- Workers write observations in batches (``BatchWriter``); each device's
  ``pending -> reported`` change commits with its observations (``rounds.record_devices``),
  so a job retried after its worker was killed stores nothing twice.
- A killed worker stops sending heartbeats; any worker or scheduler retries its jobs
  once it has been silent for ``worker_stalled_after_s`` (``keep_rounds``).  A worker
  that only lost the database retries its own jobs as soon as it is back
  (``WorkerLedger``).
- Rounds finish when complete, or at their deadline with the rest late, by whoever sees
  it first; finishing is idempotent (``rounds.finish_round``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryDecision
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from procrastinate.retry import BaseRetryStrategy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.collector.fleet import DeviceProbe, Prober, ProbeRequest, poll_device
from vidaudit.collector.heap import settle, worker_heap
from vidaudit.collector.identity import load_pins
from vidaudit.collector.model import SettledChannel
from vidaudit.collector.probe import dispatching_prober
from vidaudit.collector.queue_pool import queue_pool
from vidaudit.collector.round_channels import RoundChannels, under_stored_channels
from vidaudit.collector.round_hours import RoundHours, under_stored_calendars
from vidaudit.collector.rounds import (
    LOCAL_SERVICE_QUEUES,
    FinishedRound,
    OpenedRound,
    Reported,
    device_turn,
    finish_round,
    has_pending,
    inventory_version,
    record_devices,
    round_policy,
    rounds_to_finish,
    stored_branches,
    stored_channels,
)
from vidaudit.collector.run import gb_service
from vidaudit.collector.settled import load_settled
from vidaudit.collector.verified import verified_for
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.compliance.model import ErrorKind
from vidaudit.devicehttp.client import HttpPool
from vidaudit.errors import ConfigError
from vidaudit.inventory.load import SecretResolver, inventory_digest
from vidaudit.inventory.schema import Api, Branch, Device, Inventory, Policy
from vidaudit.inventory.watch import InventoryWatch, Reloaded
from vidaudit.onvif.client import OnvifPool
from vidaudit.settings import Settings

logger = logging.getLogger(__name__)

NAMESPACE = "collector"
#: The queue of GB/T 28181 recorders' jobs (``rounds.queue_for``).
GB_QUEUE = LOCAL_SERVICE_QUEUES[Api.GB28181.value]
TASK_NAME = f"{NAMESPACE}:poll_device"
#: A device that answered nothing is tried again; any other answer is the answer.
RETRY_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE})
#: How often a keeper (every worker, every waiting scheduler) looks for stalled jobs and
#: rounds to finish.
KEEP_EVERY_S = 2.0
#: A worker that lost the database tries to connect again this often: a refused
#: connection costs PostgreSQL nothing, and the worker is back within this long of it.
RECONNECT_EVERY_S = 1.0
#: Longest wait for a connection from the job queue's pool.  While the database is
#: down the pool's own tries grow apart (1, 2, 4, 8 s ...), so a worker waiting on it
#: could come back long after the database; past this it counts the database as gone
#: and reconnects (``RECONNECT_EVERY_S``).  Queue queries take milliseconds.
POOL_TIMEOUT_S = 10.0
#: Run once a round's jobs are queued.  Every worker takes each job through
#: ``procrastinate_fetch_job_v2``, one call per job, whose plan follows the job table's
#: statistics; autovacuum refreshes them at the earliest a minute after a round's
#: thousands of rows arrived.  With 3,125 jobs queued on a table last analysed when every
#: job was done (the round before had finished), a fetch took 1.4 s; on a table analysed
#: before any job existed, 6.7 ms; analysed once the jobs were queued, 0.8-0.9 ms
#: (``bench/queue_fetch.py``).  A worker fetches one job at a time.  ANALYZE samples at
#: most 30,000 rows and takes no lock that a worker's updates wait for; run by a role that
#: does not own the table it only warns.
ANALYZE_JOBS = "ANALYZE procrastinate_jobs"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NeedsPostgres(ConfigError):
    """The distributed path was asked for on a database that cannot carry it."""


def queue_conninfo(settings: Settings) -> str:
    """The libpq connection string of the settings' database; ``NeedsPostgres`` on SQLite."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "postgresql":
        raise NeedsPostgres(
            "distributed collection (vidaudit schedule, worker, metrics) needs PostgreSQL: "
            f"the database is {url.get_backend_name()} (VIDAUDIT_DATABASE_URL, e.g. "
            "postgresql+psycopg://user@host/vidaudit); on SQLite, `vidaudit collect` polls "
            "the fleet in one process"
        )
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


# -- the job --------------------------------------------------------------------------


class DeviceUnanswered(Exception):
    """The device timed out or was unreachable, and there is time for another try."""

    def __init__(self, device_id: str, kind: str, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(f"{device_id}: {kind}; next try in {retry_in_s:.0f} s")


class StorageUnavailable(Exception):
    """The database refused or lost the write; the job is tried again."""


class DeviceNotHere(Exception):
    """The job names a device this worker's inventory does not have (a worker started
    with another cameras.yaml): not retried; the device ends the round late."""


class DeviceRetry(BaseRetryStrategy):
    """Back-off chosen by the job itself for an unanswered device (it knows the round's
    deadline); a lost database write is retried a bounded number of times."""

    STORAGE_ATTEMPTS = 10

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, DeviceUnanswered):
            return RetryDecision(retry_at=utcnow() + dt.timedelta(seconds=exception.retry_in_s))
        if isinstance(exception, StorageUnavailable) and job.attempts < self.STORAGE_ATTEMPTS:
            wait = dt.timedelta(seconds=min(30, 2**job.attempts))
            return RetryDecision(retry_at=utcnow() + wait)
        return None


async def poll_device_job(context: JobContext, run_id: int, device_id: str) -> str:
    runtime: WorkerRuntime = context.additional_context["runtime"]
    return await runtime.poll(run_id, device_id, context.job.attempts)


def make_app(settings: Settings, pool_size: int = 4, ledger: WorkerLedger | None = None) -> App:
    """The job queue app; a worker's (``ledger`` given) keeps account of what it must
    put right once the database is back (``WorkerLedger``)."""
    connector = PsycopgConnector(
        pool_factory=queue_pool,
        conninfo=queue_conninfo(settings),
        min_size=1,
        max_size=max(2, pool_size),
        timeout=POOL_TIMEOUT_S,
        kwargs={"connect_timeout": 10, "application_name": "vidaudit"},
    )
    app = App(connector=connector)
    if ledger is not None:
        app.job_manager = _LedgerJobManager(connector, ledger)
    # Registered on each app itself, not through a module-level Blueprint: adding a
    # blueprint to an app renames its tasks in place, so a worker's second app (after
    # it reconnected) knew only "collector:collector:poll_device" and failed every job
    # as an unknown task -- its round then waited for its deadline.
    app.task(name=TASK_NAME, pass_context=True, retry=DeviceRetry())(poll_device_job)
    return app


@dataclass
class WorkerLedger:
    """What one worker process must put right once the database is back, across its
    reconnections (each opens a new app and registers a new procrastinate worker).

    procrastinate marks a job ``doing`` under the worker that took it, and only a
    worker silent for ``worker_stalled_after_s`` gives its jobs back.  Two ways a job
    could wait far longer than that for a database that is back already:

    - its outcome (done, or try again later) did not reach the database, while its
      worker went on beating: nothing would ever retry it -- its round waited for its
      deadline.  ``lost`` is set; the worker then stops and reconnects.
    - the worker lost the database and registered anew: its earlier registration,
      whose jobs nothing runs any more, waits to be noticed as silent.

    On reconnecting, the worker removes its earlier registrations (``registered``):
    their jobs are left without a worker, which procrastinate counts as stalled at
    once, and the keeper retries them in the same breath (``give_back_jobs``)."""

    #: procrastinate worker ids this process registered and has not unregistered
    registered: set[int] = field(default_factory=set)
    lost: asyncio.Event = field(default_factory=asyncio.Event)


class _LedgerJobManager(JobManager):
    """procrastinate's job manager, keeping a worker process's ``WorkerLedger``."""

    def __init__(self, connector: PsycopgConnector, ledger: WorkerLedger) -> None:
        super().__init__(connector)
        self.ledger = ledger

    async def register_worker(self) -> int:
        worker_id = await super().register_worker()
        self.ledger.registered.add(worker_id)
        return worker_id

    async def unregister_worker(self, worker_id: int) -> None:
        await super().unregister_worker(worker_id)
        self.ledger.registered.discard(worker_id)

    # The worker writes a job's outcome through these two (the keeper does not: it
    # retries by id), so a failure here is always a job left ``doing`` by its worker.
    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        try:
            await super().finish_job(job, status, delete_job)
        except BaseException:
            self.ledger.lost.set()
            raise

    async def retry_job(
        self,
        job: Job,
        retry_at: dt.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        try:
            await super().retry_job(job, retry_at, priority, queue, lock)
        except BaseException:
            self.ledger.lost.set()
            raise


def device_job(run_id: int, device_id: str, queue: str) -> Job:
    lock = f"device:{device_id}"
    return Job(
        queue=queue,
        lock=lock,
        queueing_lock=lock,
        task_name=TASK_NAME,
        task_kwargs={"run_id": run_id, "device_id": device_id},
    )


async def defer_round(app: App, opened: OpenedRound) -> tuple[dict[str, int], list[str]]:
    """Defer one job per device of the round: job ids by device, and the devices whose
    job could not be queued because one of theirs still waits (reported, not doubled).

    A device's job of an earlier round may still wait: a retry waiting out its back-off
    when that round ended, which a scheduler that finished the round then did not cancel
    (it stopped in between, or the job was running and went back to wait).  Rounds never
    overlap (``open_round``), so that round has ended and the job could only find its
    device no longer pending; it is cancelled and the device queued in this round, rather
    than the device missing this round as well (``_defer_one``)."""
    ids: dict[str, int] = {}
    blocked: list[str] = []
    chunk = 500
    for start in range(0, len(opened.devices), chunk):
        part = opened.devices[start : start + chunk]
        built = [device_job(opened.run_id, device, queue) for device, queue in part]
        try:
            deferred = await app.job_manager.batch_defer_jobs_async(built)
        except pexc.AlreadyEnqueued:
            deferred = []
            for job in built:
                queued = await _defer_one(app, job, opened.run_id)
                if queued is None:
                    blocked.append(str(job.task_kwargs["device_id"]))
                else:
                    deferred.append(queued)
        for job in deferred:
            assert job.id is not None
            ids[str(job.task_kwargs["device_id"])] = job.id
    if ids:
        await app.connector.execute_query_async(ANALYZE_JOBS)
    return ids, blocked


#: A device's job still waiting (procrastinate's index on waiting jobs' queueing locks).
WAITING_JOB = (
    "SELECT id, (args->>'run_id')::bigint AS run_id FROM procrastinate_jobs "
    "WHERE status = 'todo' AND queueing_lock = %(lock)s"
)


async def _defer_one(app: App, job: Job, run_id: int) -> Job | None:
    """Defer ``job``; a job of an earlier round waiting for the same device is cancelled
    first.  None if a job still waits after that (the same round's, or one a worker
    sent back to wait meanwhile)."""
    try:
        return (await app.job_manager.batch_defer_jobs_async([job]))[0]
    except pexc.AlreadyEnqueued:
        pass
    waiting = await app.connector.execute_query_all_async(WAITING_JOB, lock=job.queueing_lock)
    device_id = job.task_kwargs["device_id"]
    for row in waiting:
        if row["run_id"] is None or row["run_id"] >= run_id:
            continue
        if await app.job_manager.cancel_job_by_id_async(row["id"]):
            logger.warning(
                "%s: its job of round %s still waited though that round has ended; "
                "cancelled, the device is queued in round %d",
                device_id,
                row["run_id"],
                run_id,
                extra={
                    "action": "stale_job_cancelled",
                    "device_id": device_id,
                    "job_id": row["id"],
                    "run_id": run_id,
                },
            )
    try:
        return (await app.job_manager.batch_defer_jobs_async([job]))[0]
    except pexc.AlreadyEnqueued:
        return None


# -- the worker -----------------------------------------------------------------------


class BatchWriter:
    """Collects judged devices from concurrent jobs and writes them in one transaction
    per batch; each job waits for its device's commit before it reports success.  A
    batch is written once it holds ``size`` devices, once every job the worker has in
    hand is waiting for it and no job has come in for ``QUIET_S`` (nothing more is
    coming soon: a round's tail, a quiet worker), or ``WAIT_S`` after its first device,
    whichever comes first.  After a batch, the rounds it touched are finished if nothing
    is pending any more.

    Why not write every 0.2 s: a worker takes a few devices a second, so such batches
    held two or three devices, and a batch's fixed cost (a transaction, the claim, the
    identities, the completeness check) was a quarter of the worker's CPU, growing per
    channel as more workers shared a round (each one's batches got smaller).

    Why the quiet time: procrastinate fetches jobs one at a time, so after a full batch
    commits and its jobs end, the worker's slots fill again one fetch (tens of
    milliseconds, more on a busy database) after another, while the few jobs already
    back in hand read their devices in a fraction of a second.  Written as soon as
    those few waited, the batches between two full ones held one to four devices: at
    1,000 recorders, 146 batches a round instead of about 35, and 7 ms of worker CPU
    each (``bench/scale.py``, instrumented).  A job that came in within ``QUIET_S``
    says the round is still flowing; at a round's tail the last batch waits that long."""

    WAIT_S = 1.0
    QUIET_S = 0.25

    def __init__(
        self,
        sessions: sessionmaker[Session],
        size: int,
        on_finished: Callable[[int, FinishedRound], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._size = size
        self._items: list[tuple[Reported, asyncio.Future[bool]]] = []
        self._in_hand = 0
        self._last_in = 0.0  # loop time the latest job came in
        self._first_at = 0.0  # loop time the batch's first device came
        self._arrived = asyncio.Event()
        self._changed = asyncio.Event()  # a device came, a job came in or left
        self._on_finished = on_finished

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Around each job: the writer counts jobs in hand, so that it does not wait for
        devices that are not coming."""
        self._in_hand += 1
        self._last_in = asyncio.get_running_loop().time()
        self._changed.set()
        try:
            yield
        finally:
            self._in_hand -= 1
            self._changed.set()

    @property
    def waiting(self) -> int:
        """Devices waiting for their batch to be written."""
        return len(self._items)

    def _wait_s(self, now: float) -> float:
        """How long the batch may still wait for more devices (0: write it now)."""
        if len(self._items) >= self._size:
            return 0.0
        left = self._first_at + self.WAIT_S - now
        if len(self._items) >= self._in_hand:  # every job in hand waits for this batch
            left = min(left, self._last_in + self.QUIET_S - now)
        return max(left, 0.0)

    async def submit(self, item: Reported) -> bool:
        """Whether the device was stored (False: an earlier try had stored it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if not self._items:
            self._first_at = loop.time()
        self._items.append((item, future))
        self._arrived.set()
        self._changed.set()
        return await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._items and (wait_s := self._wait_s(loop.time())) > 0:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._changed.wait()
            # Only what is here now: devices that come while these are written make a
            # batch of their own by the rules above.  (Written along at once, they made
            # batches of one or two: a batch's write lasts about as long as the next
            # device or two take to come.)
            taken, self._items = self._items, []
            for start in range(0, len(taken), self._size):
                await self._write_or_fail(taken[start : start + self._size])

    async def _write_or_fail(self, batch: list[tuple[Reported, asyncio.Future[bool]]]) -> None:
        """A batch that fails for any other reason than the database (a bug, a value the
        rows cannot hold) fails its jobs, not the writer: every later job of this
        worker would otherwise wait for its write for ever, while the worker went on
        beating as if it were busy."""
        try:
            await self._write(batch)
        except Exception as exc:
            logger.exception(
                "could not store %d devices",
                len(batch),
                extra={"action": "store_failed", "devices": len(batch)},
            )
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _write(self, batch: list[tuple[Reported, asyncio.Future[bool]]]) -> None:
        items = [item for item, _future in batch]
        try:
            stored = await asyncio.to_thread(self._record, items)
        except (DBAPIError, psycopg.Error, OSError) as exc:
            logger.warning(
                "could not store %d devices: %s",
                len(items),
                exc.__class__.__name__,
                extra={"action": "store_failed", "devices": len(items)},
            )
            for _item, future in batch:
                if not future.done():
                    future.set_exception(StorageUnavailable(exc.__class__.__name__))
            return
        for (_item, future), won in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(won)
        for run_id in sorted({item.run_id for item in items}):
            try:
                finished = await asyncio.to_thread(self._finish_if_complete, run_id)
            except (DBAPIError, psycopg.Error, OSError):
                continue  # the keeper finishes it once the database is back (rounds_to_finish)
            if finished is not None and self._on_finished is not None:
                await self._on_finished(run_id, finished)

    def _record(self, items: list[Reported]) -> list[bool]:
        with self._sessions.begin() as session:
            return record_devices(session, items)

    def _finish_if_complete(self, run_id: int) -> FinishedRound | None:
        with self._sessions.begin() as session:
            if has_pending(session, run_id):
                # the usual answer, read without finish_round's lock on the round's
                # row (which every worker's batch would otherwise queue for); a round
                # past its deadline is the keeper's to finish
                return None
            return finish_round(session, run_id, utcnow())


@dataclass(frozen=True)
class RoundStanding:
    """What a round's devices are read and judged against, read once per round per
    worker: the retention proofs (pulled frames), what earlier runs settled about
    channels read through a vendor API, the device identities pinned so far, and the
    inventory under the round's policy and the branch calendars and channels the database
    holds."""

    verified: dict[str, dt.datetime]
    settled: dict[str, SettledChannel]
    pins: dict[str, DeviceIdentity]
    #: This worker's inventory judged by the policy the round was opened with, and by
    #: the branches' hours, closed and special days and time zones, and the recorders'
    #: channels (which, how found, role, retention, audio, off-site), the database holds
    #: (the scheduler's cameras.yaml, synced before it opened the round): a regional
    #: machine's cameras.yaml, or one not yet updated, may say otherwise, and a round's
    #: verdicts must not depend on which worker took a device.
    inventory: Inventory
    #: The branches of ``inventory`` whose calendar or recorders' channels are the database's
    #: rather than this worker's file, by id: a job judges its device and branch as
    #: found here (usually none).
    branches: dict[str, Branch] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredJudging:
    """A worker's inventory under the stored branch calendars and channels, and the
    stored inventory's version, round policy and worker's own inventory (its digest) it
    was made for (``_judging_for``)."""

    key: tuple[tuple[object, ...], Policy | None, str]
    calendars: RoundHours
    channels: RoundChannels

    @property
    def inventory(self) -> Inventory:
        return self.channels.inventory

    @property
    def branches(self) -> dict[str, Branch]:
        """The branches whose calendar or recorders' channels are the database's."""
        differ = self.calendars.replaced.keys() | self.channels.replaced.keys()
        return {b.id: b for b in self.inventory.branches if b.id in differ}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerInventory:
    """What a worker derives from its inventory, built whole before it is used: the
    devices by id, the branch ids, how passwords resolve, and the digest."""

    inventory: Inventory
    resolver: SecretResolver
    index: dict[str, tuple[Branch, Device]]
    branch_ids: frozenset[str]
    digest: str

    @classmethod
    def of(cls, inventory: Inventory, resolver: SecretResolver) -> WorkerInventory:
        return cls(
            inventory,
            resolver,
            {device.id: (branch, device) for branch, device in inventory.devices()},
            frozenset(branch.id for branch in inventory.branches),
            inventory_digest(inventory),
        )


@dataclass
class WorkerRuntime:
    """What every job of one worker process shares: the inventory, the device pools, the
    batch writer, and each round's retention proofs, settled footage, pinned device
    identities and GB/T 28181 registrations (read once per round, as one-process
    ``collect`` reads them once per run)."""

    settings: Settings
    inventory: Inventory
    resolver: SecretResolver
    sessions: sessionmaker[Session]
    #: ONVIF or the device's vendor API (``probe.dispatching_prober``)
    direct: Prober
    writer: BatchWriter
    concurrency: int
    #: the worker's cameras.yaml, looked at once a round (``_take_up_edits``)
    watch: InventoryWatch | None = None
    name: str = field(default_factory=worker_name)
    _standing: dict[int, RoundStanding] = field(default_factory=dict)
    #: GB/T 28181 registrations, read once per round from the service on this host
    _gb_registered: dict[int, frozenset[str]] = field(default_factory=dict)
    _semaphore: asyncio.Semaphore | None = None
    _standing_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _judging: StoredJudging | None = None

    def __post_init__(self) -> None:
        self._use(WorkerInventory.of(self.inventory, self.resolver))
        self._semaphore = asyncio.Semaphore(self.concurrency)

    def _use(self, taken: WorkerInventory) -> None:
        """Every attribute derived from the inventory at once, with no await between:
        a job sees the old inventory or the new one, never a mix."""
        self.inventory = taken.inventory
        self.resolver = taken.resolver
        self._index = taken.index
        self._branch_ids = taken.branch_ids
        self._digest = taken.digest

    def _edited(self) -> WorkerInventory | None:
        """The worker's cameras.yaml as edited since it was last looked at, if it loads
        (and its passwords resolve as far as they did; ``InventoryWatch``), with all that
        derives from it; None: unchanged, or the edit is rejected (logged, once)."""
        assert self.watch is not None
        outcome = self.watch.refresh()
        if not isinstance(outcome, Reloaded):
            return None
        inventory = outcome.inventory
        return WorkerInventory.of(inventory, SecretResolver(inventory, self.watch.path))

    async def _take_up_edits(self) -> None:
        """At a new round, before its standing is read: an edited cameras.yaml is this
        worker's from this round on (a recorder added is served, a password changed is
        used), without a restart.  Read in a thread (a large inventory parses for
        seconds) while the round ending goes on; jobs already running keep what they
        took (``_poll``)."""
        if self.watch is None:
            return
        taken = await asyncio.to_thread(self._edited)
        if taken is not None:
            self._use(taken)

    async def _standing_for(self, run_id: int) -> RoundStanding:
        found = self._standing.get(run_id)
        if found is not None:
            return found
        # A round's first jobs arrive together: one reads, the others wait for it
        # (each reading the whole fleet's settled footage and pins was the old way).
        async with self._standing_lock:
            if run_id not in self._standing:
                await self._take_up_edits()
                standing = await asyncio.to_thread(self._read_standing, run_id)
                self._standing = {run_id: standing}  # only the current round's are kept
                settle()  # the round's standing lives as long as the round (collector/heap.py)
            return self._standing[run_id]

    def _prober(self, run_id: int, inventory: Inventory) -> Prober:
        """How this job reads its device: as ``vidaudit collect`` does (``run._dispatch``):
        ONVIF or its vendor HTTP API directly, a GB/T 28181 recorder through the GB/T
        28181 service on this host, whose registrations are read once per round (collect
        reads them once per run).  Without the service here, the recorder is
        ``unreachable`` (tried again, so a worker on the service's host may take it) and
        its stored message names this worker and where GB/T 28181 recorders are read:
        never a silent failure."""

        async def prober(request: ProbeRequest, resolver: SecretResolver) -> DeviceProbe:
            if request.device.api is not Api.GB28181:
                return await self.direct(request, resolver)
            async with gb_service(self.settings, self._gb_registered.get(run_id)) as gb:
                if gb.client is not None:
                    self._gb_registered = {run_id: gb.registered}  # the current round's
                probe = await gb.probe(request, inventory.branch_timezone(request.branch))
            if gb.client is not None:
                return probe
            message = (
                f"{probe.status.error_message}; seen from worker {self.name}: GB/T 28181 "
                "recorders are read only by a worker on the host that runs `vidaudit gb "
                f"serve` (same data directory), which serves queue {GB_QUEUE!r}"
            )
            logger.warning(
                "%s: no GB/T 28181 service on this worker's host",
                request.device.id,
                extra={"action": "gb_service_absent", "device_id": request.device.id},
            )
            return replace(probe, status=replace(probe.status, error_message=message))

        return prober

    def _read_standing(self, run_id: int) -> RoundStanding:
        now = utcnow()
        full_read_every = dt.timedelta(hours=self.settings.collector_full_read_hours)
        with self.sessions() as session:
            policy = round_policy(session, run_id)
            inventory = self._under_round_policy(policy, run_id)
            judging = self._judging_for(session, policy, inventory)
            self._say_calendars(judging.calendars, run_id)
            self._say_channels(judging.channels, run_id)
            return RoundStanding(
                verified_for(session, now),
                load_settled(session, now, full_read_every),
                load_pins(session),
                judging.inventory,
                judging.branches,
            )

    def _judging_for(
        self, session: Session, policy: Policy | None, inventory: Inventory
    ) -> StoredJudging:
        """The inventory under the stored calendars and channels; read again only once
        a sync has changed them (``inventory_version``) or the round's policy differs:
        reading and comparing 50,000 channel rows took ~0.8 s of a worker's CPU per
        round, for rows that change when someone edits the scheduler's cameras.yaml.  Nor
        is it kept once the worker's own file was edited (its digest)."""
        key = (inventory_version(session), policy, self._digest)
        if self._judging is not None and self._judging.key == key:
            return self._judging
        calendars = under_stored_calendars(inventory, stored_branches(session, self._branch_ids))
        channels = under_stored_channels(
            calendars.inventory, stored_channels(session, self._index.keys())
        )
        self._judging = StoredJudging(key, calendars, channels)
        return self._judging

    def _say_unreadable(
        self,
        run_id: int,
        unreadable: dict[str, str],
        what: str,
        action: str,
        keys: tuple[str, str],
    ) -> None:
        """Stored rows this worker's schema refuses: judged by its own file, said once a
        round (how many and a few ids, under ``keys``; the first with why)."""
        if not unreadable:
            return
        ids = sorted(unreadable)
        logger.warning(
            "round %d: this worker cannot read the stored %s (%s: %s); they are judged by "
            "its own cameras.yaml (%s)",
            run_id,
            what.format(len(ids)),
            ids[0],
            unreadable[ids[0]],
            self.settings.inventory,
            extra={
                "action": action,
                "run_id": run_id,
                keys[0]: len(ids),
                keys[1]: ids[:5],
            },
        )

    def _say_channels(self, under: RoundChannels, run_id: int) -> None:
        self._say_unreadable(
            run_id,
            under.unreadable,
            "channels of {} recorders",
            "channels_unreadable",
            ("devices", "device_ids"),
        )
        if under.differ:
            logger.warning(
                "round %d: the channels of this worker's recorders differ from its "
                "cameras.yaml (%s): %d changed (role, retention, audio, name or ref; e.g. "
                "%s), %d only in the database (polled all the same; e.g. %s), %d only in "
                "the file (not polled; e.g. %s); they are judged as the database holds them "
                "(the scheduler's inventory)",
                run_id,
                self.settings.inventory,
                len(under.changed),
                ", ".join(under.changed[:5]) or "-",
                len(under.added),
                ", ".join(under.added[:5]) or "-",
                len(under.dropped),
                ", ".join(under.dropped[:5]) or "-",
                extra={
                    "action": "channels_differ",
                    "run_id": run_id,
                    "changed": len(under.changed),
                    "added": len(under.added),
                    "dropped": len(under.dropped),
                    "channel_ids": [*under.changed, *under.added, *under.dropped][:5],
                },
            )

    def _say_calendars(self, under: RoundHours, run_id: int) -> None:
        self._say_unreadable(
            run_id,
            under.unreadable,
            "hours of {} branches",
            "hours_unreadable",
            ("branches", "branch_ids"),
        )
        if under.replaced:
            ids = list(under.replaced)
            logger.warning(
                "round %d: %d branches' hours, closed or special days or time zone differ "
                "from this worker's cameras.yaml (%s), e.g. %s; their devices are judged by "
                "the database's (the scheduler's inventory)",
                run_id,
                len(ids),
                self.settings.inventory,
                ", ".join(ids[:5]),
                extra={
                    "action": "hours_differ",
                    "run_id": run_id,
                    "branches": len(ids),
                    "branch_ids": ids[:5],
                },
            )

    def _under_round_policy(self, policy: Policy | None, run_id: int) -> Inventory:
        if policy == self.inventory.policy:
            return self.inventory
        extra = {"action": "policy_differs", "run_id": run_id}
        if policy is None:
            logger.warning(
                "round %d's policy cannot be read by this worker; judging by its own "
                "cameras.yaml (%s)",
                run_id,
                self.settings.inventory,
                extra=extra,
            )
            return self.inventory
        logger.warning(
            "round %d was opened with another policy than this worker's cameras.yaml (%s) "
            "holds; its devices are judged by the round's",
            run_id,
            self.settings.inventory,
            extra=extra,
        )
        return self.inventory.model_copy(update={"policy": policy})

    def _turn(self, run_id: int, device_id: str) -> tuple[bool, dt.datetime | None]:
        with self.sessions() as session:
            turn = device_turn(session, run_id, device_id)
        return turn.pending, turn.deadline_at

    async def _turn_or_unavailable(
        self, run_id: int, device_id: str
    ) -> tuple[bool, dt.datetime | None]:
        try:
            return await asyncio.to_thread(self._turn, run_id, device_id)
        except (DBAPIError, psycopg.Error, OSError) as exc:
            raise StorageUnavailable(exc.__class__.__name__) from exc

    async def poll(self, run_id: int, device_id: str, attempts: int) -> str:
        with self.writer.job():
            return await self._poll(run_id, device_id, attempts)

    async def _poll(self, run_id: int, device_id: str, attempts: int) -> str:
        extra = {"run_id": run_id, "device_id": device_id, "attempt": attempts + 1}
        deadline: dt.datetime | None = None
        if attempts:
            # A retry (procrastinate counts a stalled job's return to the queue as one):
            # an earlier try may have stored the device, or the round ended without it.
            # A first try skips this read: its device is pending unless the round has
            # ended, and then storing refuses it (record_devices claims pending rows only).
            pending, deadline = await self._turn_or_unavailable(run_id, device_id)
            if not pending:
                logger.info("%s: not pending in round %d", device_id, run_id, extra=extra)
                return "not pending"
        # The standing first: a new round is where an edited cameras.yaml is taken up.
        standing = await self._standing_for(run_id)
        # Then the inventory this job uses to the end, read with no await between (a
        # later round may swap in another meanwhile).
        index, resolver = self._index, self.resolver
        found = index.get(device_id)
        if found is None:
            raise DeviceNotHere(
                f"device {device_id} is not in this worker's inventory "
                f"({self.settings.inventory}); it stays late in round {run_id}"
            )
        branch, device = found
        # the branch and device as the round judges them: the branch's calendar and the
        # device's channels may be the database's
        judged = standing.branches.get(branch.id)
        if judged is not None:
            branch = judged
            device = next(d for d in judged.devices if d.id == device.id)
        assert self._semaphore is not None
        probe, (report, channels) = await poll_device(
            standing.inventory,
            branch,
            device,
            resolver,
            self._prober(run_id, standing.inventory),
            semaphore=self._semaphore,
            device_deadline_s=self.settings.collector_device_deadline_s,
            clock=utcnow,
            verified=standing.verified,
            settled=standing.settled,
            # R6.identity: judged against the pins exactly as one-process collect does;
            # the identity is recorded when the device's observations are stored
            pinned=standing.pins.get(device_id),
        )
        kind = probe.status.error_kind
        if kind in RETRY_KINDS and attempts + 1 < self.settings.collector_retry_attempts:
            pending = True  # a retry read it before polling
            if not attempts:
                pending, deadline = await self._turn_or_unavailable(run_id, device_id)
            wait = self.settings.collector_retry_wait_s * 2**attempts
            latest_end = utcnow() + dt.timedelta(
                seconds=wait + self.settings.collector_device_deadline_s
            )
            # No retry for a round that ended while the device was polled: it would be
            # refused, and while it waited out its back-off it would hold the device's
            # queueing lock, so the next round could not queue the device (late there too).
            if pending and (deadline is None or latest_end < deadline):
                assert kind is not None
                raise DeviceUnanswered(device_id, kind.value, wait)
        stored = await self.writer.submit(
            Reported((report, channels, utcnow()), run_id, self.name, attempts + 1)
        )
        # not stored: an earlier try stored it, or the round ended (late) meanwhile
        outcome = "stored" if stored else "not pending any more"
        logger.info(
            "%s: %s in round %d",
            device_id,
            outcome,
            run_id,
            extra={
                **extra,
                "action": "device_stored",
                "stored": stored,
                "online": probe.status.online,
            },
        )
        return outcome


# -- keeping rounds going -------------------------------------------------------------


async def recover_stalled(app: App, stalled_after_s: float) -> int:
    """Jobs of workers silent for ``stalled_after_s`` go back to the queue."""
    count = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s):
        assert job.id is not None
        try:
            await app.job_manager.retry_job_by_id_async(job.id, retry_at=utcnow())
        except pexc.ConnectorException:
            continue  # another keeper retried it first
        count += 1
        logger.warning(
            "job %s of a silent worker retried",
            job.id,
            # not "args": a LogRecord attribute, which ``extra`` may not overwrite
            extra={"action": "stalled_job_retried", "job_id": job.id, **job.task_kwargs},
        )
    return count


async def cancel_late_jobs(app: App, job_ids: Sequence[int]) -> None:
    for job_id in job_ids:
        with contextlib.suppress(pexc.ConnectorException):
            await app.job_manager.cancel_job_by_id_async(job_id)


def _finish_due(sessions: sessionmaker[Session]) -> list[tuple[int, FinishedRound]]:
    finished = []
    now = utcnow()
    with sessions() as session:
        due = rounds_to_finish(session, now)
    for run_id in due:
        with sessions.begin() as session:
            result = finish_round(session, run_id, now)
        if result is not None:
            finished.append((run_id, result))
    return finished


async def give_back_jobs(app: App, ledger: WorkerLedger, settings: Settings) -> int:
    """On reconnecting: remove this process's earlier registrations and retry, now, the
    jobs they held (``WorkerLedger``); how many were retried."""
    for worker_id in sorted(ledger.registered):
        await app.job_manager.unregister_worker(worker_id)
    ledger.lost.clear()
    return await recover_stalled(app, settings.worker_stalled_after_s)


async def keep_rounds_once(app: App, sessions: sessionmaker[Session], settings: Settings) -> None:
    await recover_stalled(app, settings.worker_stalled_after_s)
    for run_id, result in await asyncio.to_thread(_finish_due, sessions):
        log_finished(run_id, result)
        await cancel_late_jobs(app, result.late_jobs)


#: Jobs that ended (succeeded, cancelled, aborted) are removed after this many hours;
#: failed ones stay for someone to read.
KEEP_JOBS_HOURS = 1


async def keep_rounds(app: App, sessions: sessionmaker[Session], settings: Settings) -> None:
    """Forever: retry stalled jobs, finish rounds past their deadline, and every few
    minutes remove jobs that ended over an hour ago."""
    pruned_at = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            await keep_rounds_once(app, sessions, settings)
            if loop.time() - pruned_at > 300:
                pruned_at = loop.time()
                await app.job_manager.delete_old_jobs(
                    nb_hours=KEEP_JOBS_HOURS, include_cancelled=True, include_aborted=True
                )
        except (pexc.ConnectorException, DBAPIError, psycopg.Error, OSError) as exc:
            logger.warning("keeper: database unavailable (%s)", exc.__class__.__name__)
        await asyncio.sleep(KEEP_EVERY_S)


def log_finished(run_id: int, result: FinishedRound) -> None:
    """One line per round, from whoever finished it (a worker's last batch and the keeper
    can both find a round complete; the second is answered ``just_finished=False``)."""
    if not result.just_finished:
        return
    changes = result.changes
    logger.info(
        "round %d finished: tickets opened %d, updated %d, closed %d; %d late jobs cancelled",
        run_id,
        changes.opened,
        changes.updated,
        changes.closed,
        len(result.late_jobs),
        extra={"action": "round_finished", "run_id": run_id},
    )


async def run_worker(
    settings: Settings,
    watch: InventoryWatch,
    sessions: sessionmaker[Session],
    *,
    queues: list[str] | None,
    concurrency: int,
) -> None:
    """Serve jobs until SIGINT/SIGTERM.  The database going away (a restart, a network
    cut) does not end the worker: it connects again as soon as the database answers
    (tried every ``RECONNECT_EVERY_S``) and retries at once the jobs it had in hand
    (``WorkerLedger``).  ``watch``: the inventory as loaded and its files, looked at
    once a round (an edit applies from the next round)."""
    inventory, inventory_path = watch.inventory, watch.path
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    resolver = SecretResolver(inventory, inventory_path)
    # what the worker says about its inventory names the file it read (--config)
    settings = settings.model_copy(update={"inventory": inventory_path})
    # The inventory (tens of thousands of models) lives as long as the worker: out of
    # the cyclic collector's way, as for one-process collect's run (collector/heap.py).
    with worker_heap():
        await _work(settings, inventory, resolver, sessions, queues, concurrency, stop, watch)


async def _work(
    settings: Settings,
    inventory: Inventory,
    resolver: SecretResolver,
    sessions: sessionmaker[Session],
    queues: list[str] | None,
    concurrency: int,
    stop: asyncio.Event,
    watch: InventoryWatch,
) -> None:
    async with (
        OnvifPool(settings.onvif()) as pool,
        HttpPool(settings.device_http()) as http_pool,
    ):
        direct = dispatching_prober(pool, http_pool, settings.collector_lookback_days)

        async def finished(run_id: int, result: FinishedRound) -> None:
            log_finished(run_id, result)

        writer = BatchWriter(sessions, settings.worker_batch_devices, finished)
        runtime = WorkerRuntime(
            settings, inventory, resolver, sessions, direct, writer, concurrency, watch
        )
        writing = asyncio.create_task(writer.run(), name="batch writer")
        ledger = WorkerLedger()
        try:
            while not stop.is_set():
                app = make_app(settings, pool_size=4, ledger=ledger)
                try:
                    async with app.open_async():
                        await give_back_jobs(app, ledger, settings)
                        await _serve(
                            app, runtime, sessions, settings, queues, concurrency, stop, ledger
                        )
                except (pexc.ConnectorException, psycopg.Error, OSError) as exc:
                    logger.warning(
                        "database unavailable (%s); worker reconnects once it answers",
                        exc.__class__.__name__,
                        extra={"action": "worker_reconnect"},
                    )
                await _until_database_answers(queue_conninfo(settings), stop)
        finally:
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing


async def _until_database_answers(conninfo: str, stop: asyncio.Event) -> None:
    """Return once a connection to the database succeeds (or on ``stop``), trying every
    ``RECONNECT_EVERY_S``.  A plain connection, not the app's pool: opening a pool waits
    out its own growing back-off between tries, so a worker could come back long after
    the database did."""
    while not stop.is_set():
        try:
            connection = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10)
        except (psycopg.Error, OSError):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECONNECT_EVERY_S):
                    await stop.wait()
            continue
        await connection.close()
        return


async def _serve(
    app: App,
    runtime: WorkerRuntime,
    sessions: sessionmaker[Session],
    settings: Settings,
    queues: list[str] | None,
    concurrency: int,
    stop: asyncio.Event,
    ledger: WorkerLedger,
) -> None:
    # None: every queue (an empty list would be none)
    chosen: dict[str, Any] = {"queues": queues} if queues else {}
    working = asyncio.create_task(
        app.run_worker_async(
            **chosen,
            # ``concurrency`` devices are read at once (the runtime's semaphore); as
            # many jobs again may hold a device already read that waits for its
            # batch's commit, so that the wait does not idle a reading slot
            concurrency=2 * concurrency,
            name=runtime.name,
            additional_context={"runtime": runtime},
            install_signal_handlers=False,
            update_heartbeat_interval=settings.worker_heartbeat_s,
            stalled_worker_timeout=settings.worker_stalled_after_s,
            fetch_job_polling_interval=2.0,
            # the jobs in hand on SIGTERM end in at most two waves of reading: those
            # reading, then those waiting for a reading slot (twice ``concurrency``)
            shutdown_graceful_timeout=2 * settings.collector_device_deadline_s + 5,
            # Kept (for the metrics' jobs per minute) until the keeper removes them.
            delete_jobs="never",
        ),
        name="procrastinate worker",
    )
    keeping = asyncio.create_task(keep_rounds(app, sessions, settings), name="keeper")
    stopping = asyncio.create_task(stop.wait())
    losing = asyncio.create_task(ledger.lost.wait())
    try:
        await asyncio.wait(
            {working, stopping, keeping, losing}, return_when=asyncio.FIRST_COMPLETED
        )
        if keeping.done():
            # the keeper only ends on a bug: surface it rather than serve on without it
            working.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await working
            keeping.result()
        if ledger.lost.is_set():
            logger.warning(
                "a job's outcome did not reach the database; the worker registers anew "
                "and retries it",
                extra={"action": "outcome_lost"},
            )
        if (stop.is_set() or ledger.lost.is_set()) and not working.done():
            working.cancel()  # procrastinate stops gracefully: running jobs finish first
        with contextlib.suppress(asyncio.CancelledError):
            await working
        if ledger.lost.is_set():
            raise pexc.ConnectorException("a job's outcome did not reach the database")
        if not stop.is_set():
            # the worker ended by itself: its listener or heartbeat lost the database
            raise pexc.ConnectorException("the job queue worker stopped")
    finally:
        for task in (keeping, stopping, losing):
            task.cancel()
        await asyncio.gather(keeping, stopping, losing, return_exceptions=True)
