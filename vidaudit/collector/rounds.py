"""Rounds: one poll of the fleet shared out to workers as one job per recorder.

A round is a ``collection_runs`` row of kind ``round`` plus one ``round_devices`` row per
device it expects.  Workers store each device's observations under that row's
``pending -> reported`` transition, in the same transaction, so a device is stored once
whoever polls it and however often its job is retried.  A round is complete when no
device is pending; it may also be finished once its deadline has passed, the devices still
pending becoming ``late`` (not observed: they neither open nor close a ticket).  Finishing
computes the per-branch results and fault tickets once (``store.finish_run``); finishing
again changes nothing.  At most one round is open at a time (a partial unique index):
opening another while one is open raises ``RoundOverlap``, so a slow round is reported,
never doubled.

No job queue here: ``collector.queue`` defers the jobs and runs the workers; this module
is the storage side both share, and works on any database (the tests' SQLite too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vidaudit.collector.round_channels import StoredChannel
from vidaudit.collector.round_hours import StoredBranch
from vidaudit.collector.store import (
    Judged,
    TicketChanges,
    finish_run,
    start_run,
    store_observations,
)
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    CollectionRunRow,
    RoundDeviceRow,
)
from vidaudit.inventory.schema import Branch, Device, Inventory, Policy

#: Device APIs read through a service that runs on one machine (GB/T 28181: devices
#: register to the SIP service of ``vidaudit gb serve``, which holds their sessions).
#: Their jobs go to that machine's queue, served only by the worker started there.
LOCAL_SERVICE_QUEUES = {"gb28181": "gb28181"}


class RoundOverlap(RuntimeError):
    """Another round is still open: the new one is not opened (and nothing is doubled)."""

    def __init__(self, run_id: int, started_at: dt.datetime, pending: int, expected: int):
        self.run_id = run_id
        super().__init__(
            f"round {run_id} (opened {started_at:%Y-%m-%d %H:%M:%S} UTC) is still open: "
            f"{pending} of {expected} devices not reported yet; no new round opened"
        )


def queue_for(branch: Branch, device: Device) -> str:
    """The job queue a device's job goes to: the device's own ``queue:``, else the queue
    of the local service its API is read through, else its branch's ``queue:`` (a
    region's collectors), else ``branch.<id>``.  ``vidaudit worker --queues`` serves some."""
    if device.queue:
        return device.queue
    if device.api.value in LOCAL_SERVICE_QUEUES:
        return LOCAL_SERVICE_QUEUES[device.api.value]
    return branch.queue or f"branch.{branch.id}"


@dataclass(frozen=True)
class OpenedRound:
    run_id: int
    deadline_at: dt.datetime
    #: (device id, queue), in inventory order
    devices: list[tuple[str, str]]


def open_round(
    session: Session,
    inventory: Inventory,
    now: dt.datetime,
    deadline_s: float,
    branches: set[str] | None = None,
) -> OpenedRound:
    """Open a round expecting every device (of ``branches``); the inventory must be synced.

    Raises ``RoundOverlap`` while another round is open (checked here, and held by the
    database's unique index against a second scheduler opening one at the same moment)."""
    current = open_round_id(session)
    if current is not None:
        raise _overlap(session, current)
    run_id = start_run(session, now, inventory.policy, kind="round")
    run = session.get(CollectionRunRow, run_id)
    assert run is not None
    deadline = now + dt.timedelta(seconds=deadline_s)
    chosen = [
        (branch, device)
        for branch, device in inventory.devices()
        if branches is None or branch.id in branches
    ]
    run.deadline_at = deadline
    run.devices_expected = len(chosen)
    rows = [
        {
            "run_id": run_id,
            "device_id": device.id,
            "branch_id": branch.id,
            "queue": queue_for(branch, device),
            "state": "pending",
            "attempts": 0,
        }
        for branch, device in chosen
    ]
    try:
        session.flush()
        if rows:
            session.execute(insert(RoundDeviceRow), rows)
    except IntegrityError:
        session.rollback()
        current = open_round_id(session)
        if current is None:
            raise
        raise _overlap(session, current) from None
    return OpenedRound(run_id, deadline, [(str(r["device_id"]), str(r["queue"])) for r in rows])


def open_round_id(session: Session) -> int | None:
    return session.scalar(
        select(CollectionRunRow.id).where(
            CollectionRunRow.kind == "round", CollectionRunRow.status == "running"
        )
    )


def _overlap(session: Session, run_id: int) -> RoundOverlap:
    run = session.get(CollectionRunRow, run_id)
    assert run is not None
    progress = round_progress(session, run_id)
    return RoundOverlap(run_id, run.started_at, progress.pending, progress.expected)


def set_job_ids(session: Session, run_id: int, job_ids: dict[str, int]) -> None:
    """Remember each device's job (so a late device's waiting job can be cancelled)."""
    if job_ids:
        # ORM bulk UPDATE by primary key: one executemany
        session.execute(
            update(RoundDeviceRow),
            [
                {"run_id": run_id, "device_id": device, "job_id": job}
                for device, job in job_ids.items()
            ],
        )


def mark_late(session: Session, run_id: int, device_ids: Sequence[str]) -> None:
    """Devices that cannot be polled in this round (their job could not be queued)."""
    if device_ids:
        session.execute(
            update(RoundDeviceRow)
            .where(
                RoundDeviceRow.run_id == run_id,
                RoundDeviceRow.device_id.in_(device_ids),
                RoundDeviceRow.state == "pending",
            )
            .values(state="late")
        )


@dataclass(frozen=True)
class DeviceTurn:
    """What a job needs to know before polling: is the device still wanted, and until when."""

    pending: bool
    deadline_at: dt.datetime | None


def device_turn(session: Session, run_id: int, device_id: str) -> DeviceTurn:
    row = session.execute(
        select(RoundDeviceRow.state, CollectionRunRow.deadline_at)
        .join(CollectionRunRow, CollectionRunRow.id == RoundDeviceRow.run_id)
        .where(RoundDeviceRow.run_id == run_id, RoundDeviceRow.device_id == device_id)
    ).one_or_none()
    if row is None:
        return DeviceTurn(False, None)
    return DeviceTurn(row[0] == "pending", row[1])


@dataclass(frozen=True)
class Reported:
    judged: Judged
    run_id: int
    worker: str
    attempts: int


def record_devices(session: Session, batch: Sequence[Reported]) -> list[bool]:
    """Store a batch of judged devices (any rounds) in one transaction; per item, whether
    it was stored.  A device no longer pending (stored by an earlier try of its job, or
    late) is not stored again: the state change and the observations commit together.

    The rounds' rows are locked FOR SHARE first.  ``finish_round`` locks its round's row
    FOR UPDATE and then marks pending devices late; without this, a batch that had
    claimed a device row would then wait for the round's row (the observations' foreign
    key takes a KEY SHARE lock on it) while the finisher waits for that device row: a
    deadlock (seen in test_one_device_is_never_polled_twice_at_once).  Now whoever comes
    second waits for the first to commit.  Devices are claimed in one order throughout."""
    runs = sorted({item.run_id for item in batch})
    session.execute(
        select(CollectionRunRow.id)
        .where(CollectionRunRow.id.in_(runs))
        .order_by(CollectionRunRow.id)
        .with_for_update(read=True)
    ).all()
    stored = [False] * len(batch)
    by_run: dict[int, list[Judged]] = {}
    order = sorted(range(len(batch)), key=lambda i: (batch[i].run_id, batch[i].judged[0].device_id))
    for run_id in runs:
        mine = [i for i in order if batch[i].run_id == run_id]
        # Two statements a batch, not one per device (a worker's batches are small and
        # many: per-statement cost was most of its storing).  The pending rows are
        # locked in device order (the sort comes before the lock), so concurrent
        # batches still claim in one order; a row is claimed only if still pending.
        claimable = set(
            session.scalars(
                select(RoundDeviceRow.device_id)
                .where(
                    RoundDeviceRow.run_id == run_id,
                    RoundDeviceRow.device_id.in_([batch[i].judged[0].device_id for i in mine]),
                    RoundDeviceRow.state == "pending",
                )
                .order_by(RoundDeviceRow.device_id)
                .with_for_update()
            )
        )
        claims = []
        for index in mine:
            item = batch[index]
            device_id = item.judged[0].device_id
            if device_id not in claimable:
                continue
            claimable.discard(device_id)  # the same device twice in a batch: stored once
            stored[index] = True
            by_run.setdefault(run_id, []).append(item.judged)
            claims.append(
                {
                    "run_id": run_id,
                    "device_id": device_id,
                    "state": "reported",
                    "reported_at": item.judged[2],
                    "worker": item.worker[:128],
                    "attempts": item.attempts,
                }
            )
        if claims:
            # executemany by primary key: the rows are locked above and still pending
            session.execute(update(RoundDeviceRow), claims)
    for run_id, judged in by_run.items():
        store_observations(session, run_id, judged)
    return stored


@dataclass(frozen=True)
class RoundProgress:
    expected: int
    pending: int
    reported: int
    late: int


def round_progress(session: Session, run_id: int) -> RoundProgress:
    counts = dict(
        session.execute(
            select(RoundDeviceRow.state, func.count())
            .where(RoundDeviceRow.run_id == run_id)
            .group_by(RoundDeviceRow.state)
        ).all()
    )
    pending, reported, late = (counts.get(k, 0) for k in ("pending", "reported", "late"))
    return RoundProgress(pending + reported + late, pending, reported, late)


@dataclass(frozen=True)
class FinishedRound:
    changes: TicketChanges
    #: jobs of devices that became late now, still queued: the caller cancels them
    late_jobs: list[int]
    #: False when the round was finished already (by another worker, the keeper): the
    #: same changes are answered, and whoever finished it has reported them
    just_finished: bool = True


def has_pending(session: Session, run_id: int) -> bool:
    """Whether any device of the round is still pending (one index seek, no lock)."""
    return (
        session.scalar(
            select(RoundDeviceRow.device_id)
            .where(RoundDeviceRow.run_id == run_id, RoundDeviceRow.state == "pending")
            .limit(1)
        )
        is not None
    )


def round_policy(session: Session, run_id: int) -> Policy | None:
    """The policy the round was opened with (the scheduler's cameras.yaml); None when
    this code cannot read it (a newer scheduler's policy with keys it does not know)."""
    stored = session.scalar(select(CollectionRunRow.policy).where(CollectionRunRow.id == run_id))
    try:
        return Policy.model_validate(stored)
    except ValidationError:
        return None


def stored_branches(session: Session, branch_ids: Collection[str]) -> dict[str, StoredBranch]:
    """The calendars the database holds (the scheduler's cameras.yaml, synced before it
    opened the round) of those of ``branch_ids`` not retired.  One query whatever the
    number of ids: every branch in use is read and the others are left here (one small
    row per branch), rather than an ``IN`` list of a provincial inventory's branches."""
    rows = session.execute(
        select(BranchRow.id, BranchRow.timezone, BranchRow.hours).where(
            BranchRow.retired_at.is_(None)
        )
    )
    return {
        branch_id: StoredBranch(timezone, hours)
        for branch_id, timezone, hours in rows
        if branch_id in branch_ids
    }


def inventory_version(session: Session) -> tuple[object, ...]:
    """What changes whenever an ``inventory sync`` changes the stored branches or
    channels: how many are in use and when one was last written (a sync stamps every row
    it adds, changes, retires or restores).  Two equal answers: the same stored calendars
    and channels."""
    return tuple(
        session.execute(
            select(
                func.count().filter(model.retired_at.is_(None)),
                func.max(model.updated_at),
            )
        ).one()
        for model in (BranchRow, ChannelRow)
    )


def stored_channels(session: Session, device_ids: Collection[str]) -> dict[str, StoredChannel]:
    """The channels the database holds (the scheduler's cameras.yaml, synced before it
    opened the round) on those of ``device_ids``, not retired; one query, read as
    ``stored_branches`` reads (a provincial fleet: 50,000 short rows)."""
    rows = session.execute(
        select(
            ChannelRow.id,
            ChannelRow.device_id,
            ChannelRow.name,
            ChannelRow.ref,
            ChannelRow.role,
            ChannelRow.required_days,
            ChannelRow.audio,
            ChannelRow.offsite,
        ).where(ChannelRow.retired_at.is_(None))
    )
    return {
        channel_id: StoredChannel(device_id, *rest)
        for channel_id, device_id, *rest in rows
        if device_id in device_ids
    }


def finish_round(
    session: Session, run_id: int, now: dt.datetime, *, force: bool = False
) -> FinishedRound | None:
    """Finish the round if it is complete or its deadline has passed (or ``force``):
    devices still pending become late, then ``finish_run``.  None while it must wait.
    A round already finished answers the same changes and changes nothing."""
    run = session.execute(
        select(CollectionRunRow).where(CollectionRunRow.id == run_id).with_for_update()
    ).scalar_one()
    if run.status == "completed":
        return FinishedRound(finish_run(session, run_id, finished_at=now), [], just_finished=False)
    pending = has_pending(session, run_id)
    expired = run.deadline_at is not None and now >= run.deadline_at
    if pending and not (expired or force):
        return None
    late_jobs: list[int] = []
    if pending:
        late_jobs = [
            job
            for job in session.scalars(
                update(RoundDeviceRow)
                .where(RoundDeviceRow.run_id == run_id, RoundDeviceRow.state == "pending")
                .values(state="late")
                .returning(RoundDeviceRow.job_id)
            )
            if job is not None
        ]
    run.devices_late = (
        session.scalar(
            select(func.count()).where(
                RoundDeviceRow.run_id == run_id, RoundDeviceRow.state == "late"
            )
        )
        or 0
    )
    return FinishedRound(finish_run(session, run_id, finished_at=now), late_jobs)


def rounds_to_finish(session: Session, now: dt.datetime) -> list[int]:
    """Open rounds that anyone may finish: past their deadline, or complete (nothing
    pending).  A complete round is normally finished by the worker that stored its last
    device, right after; if the database went away in between, this is how it still is
    once the database is back, rather than at its deadline."""
    nothing_pending = ~(
        select(RoundDeviceRow.run_id)
        .where(RoundDeviceRow.run_id == CollectionRunRow.id, RoundDeviceRow.state == "pending")
        .exists()
    )
    return list(
        session.scalars(
            select(CollectionRunRow.id).where(
                CollectionRunRow.kind == "round",
                CollectionRunRow.status == "running",
                (CollectionRunRow.deadline_at <= now) | nothing_pending,
            )
        )
    )
