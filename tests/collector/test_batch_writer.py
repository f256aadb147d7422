"""When a worker's batch writer writes (``queue.BatchWriter``): at ``size`` devices, once
every job in hand waits for it and none came in for ``QUIET_S``, or ``WAIT_S`` after its
first device.  ``WAIT_S`` is an hour here, so every write these tests see was set off by
the first two rules: a test that waited for that timer would hang, not pass."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.collector.test_rounds import T0, judged, world  # noqa: F401 (fixture)
from vidaudit.aio import beside
from vidaudit.collector.queue import BatchWriter
from vidaudit.collector.rounds import Reported, open_round
from vidaudit.db.models import CollectionRunRow, DeviceObservationRow
from vidaudit.inventory.schema import Inventory


class Recording(BatchWriter):
    """The writer, noting the size of each batch it writes."""

    WAIT_S = 3600.0

    def __init__(self, sessions: sessionmaker[Session], size: int) -> None:
        self.finished: list[int] = []
        self.finished_one = asyncio.Event()

        async def on_finished(run_id: int, _result: Any) -> None:
            self.finished.append(run_id)
            self.finished_one.set()

        super().__init__(sessions, size, on_finished)
        self.batches: list[int] = []

    def _record(self, items: list[Reported]) -> list[bool]:
        self.batches.append(len(items))
        return super()._record(items)


def running(writer: BatchWriter) -> contextlib.AbstractAsyncContextManager[None]:
    return beside(writer.run())


def reported(run_id: int, device_id: str, channels: list[str]) -> Reported:
    return Reported(judged(device_id, channels), run_id, "host:1", 1)


async def job(writer: BatchWriter, item: Reported | None, go: asyncio.Event) -> bool | None:
    """One job: in hand from the start, it submits its device once ``go`` is set (or,
    with no item, leaves without one, as a job whose device is tried again later)."""
    with writer.job():
        await go.wait()
        if item is None:
            return None
        return await writer.submit(item)


async def turns() -> None:
    """Let every task run until it waits: the writer, if it were to take the batch now,
    takes it out of ``waiting`` in its first turn (before any write starts)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def opened(world: tuple[sessionmaker[Session], Inventory]) -> tuple[sessionmaker[Session], int]:  # noqa: F811
    sessions, inventory = world
    with sessions.begin() as s:
        return sessions, open_round(s, inventory, T0, 300).run_id


async def test_a_batch_waits_for_the_jobs_in_hand_then_is_written_at_once(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    sessions, run_id = opened
    writer = Recording(sessions, size=32)
    first_go, second_go = asyncio.Event(), asyncio.Event()
    async with running(writer):
        first = asyncio.create_task(
            job(writer, reported(run_id, "B1-NVR", ["B1-C1", "B1-C2"]), first_go)
        )
        second = asyncio.create_task(job(writer, reported(run_id, "B1-CAM", ["B1-C9"]), second_go))
        await turns()  # both jobs in hand
        first_go.set()
        await turns()
        # the first device waits for the second job, which is still reading its device
        assert writer.waiting == 1 and not first.done()
        second_go.set()
        async with asyncio.timeout(30):
            assert await first is True and await second is True
            # the batch held the round's last device: the writer finishes the round
            await writer.finished_one.wait()
    assert writer.batches == [2]
    assert writer.finished == [run_id]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DeviceObservationRow)) == 2
        assert s.get(CollectionRunRow, run_id).status == "completed"  # type: ignore[union-attr]


async def test_a_job_that_leaves_without_a_device_does_not_hold_the_batch(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    sessions, run_id = opened
    writer = Recording(sessions, size=32)
    go, retried_go = asyncio.Event(), asyncio.Event()
    async with running(writer):
        stored = asyncio.create_task(
            job(writer, reported(run_id, "B1-NVR", ["B1-C1", "B1-C2"]), go)
        )
        leaving = asyncio.create_task(job(writer, None, retried_go))
        await turns()  # both jobs in hand
        go.set()
        await turns()
        assert writer.waiting == 1 and not stored.done()
        retried_go.set()  # its device is tried again later: nothing more is coming
        async with asyncio.timeout(30):
            assert await stored is True and await leaving is None
    assert writer.batches == [1]
    with sessions() as s:
        assert s.get(CollectionRunRow, run_id).status == "running", "the camera is pending"  # type: ignore[union-attr]


class NeverQuiet(Recording):
    """A worker whose jobs never stop coming: only a full batch is written."""

    QUIET_S = 3600.0


async def test_a_batch_waits_for_jobs_still_coming_in(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    """Between two full batches a worker's slots fill one fetch at a time: the one job
    in hand that has read its device does not make a batch of its own (it did: batches
    of one to four devices, each paying a batch's fixed cost)."""
    sessions, run_id = opened
    writer = NeverQuiet(sessions, size=2)
    go = asyncio.Event()
    go.set()
    async with running(writer):
        first = asyncio.create_task(job(writer, reported(run_id, "B1-NVR", ["B1-C1", "B1-C2"]), go))
        await turns()
        # every job in hand waits for the batch, but one came in just now
        assert writer.waiting == 1 and not first.done() and writer.batches == []
        second = asyncio.create_task(job(writer, reported(run_id, "B1-CAM", ["B1-C9"]), go))
        async with asyncio.timeout(30):
            assert await first is True and await second is True
    assert writer.batches == [2]


class HeldWrite(NeverQuiet):
    """Each write waits for ``go`` before it starts: devices can come meanwhile.
    ``started``: each write's size as it began."""

    def __init__(self, sessions: sessionmaker[Session], size: int) -> None:
        super().__init__(sessions, size)
        self.started: list[int] = []
        self.writing = asyncio.Event()
        self.go = asyncio.Event()
        self.written = asyncio.Event()

    async def _write(self, batch: list[tuple[Reported, asyncio.Future[bool]]]) -> None:
        self.started.append(len(batch))
        self.writing.set()
        await self.go.wait()
        await super()._write(batch)
        self.written.set()


async def test_devices_that_come_during_a_write_make_a_batch_of_their_own(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    """They were written along right after it, however few: at a worker's pace, a
    write lasts about as long as the next device or two take to come, so after each
    full batch came batches of one or two."""
    sessions, run_id = opened
    writer = HeldWrite(sessions, size=2)
    go, late_go = asyncio.Event(), asyncio.Event()
    go.set()
    devices = [("B1-NVR", ["B1-C1", "B1-C2"]), ("B1-CAM", ["B1-C9"])]
    async with running(writer):
        first = [asyncio.create_task(job(writer, reported(run_id, d, c), go)) for d, c in devices]
        async with asyncio.timeout(30):
            await writer.writing.wait()  # the first two are being written
        # a device comes while they are written, and one more is being read (second
        # tries of the same two: the writer batches them alike, and they are refused)
        late = [
            asyncio.create_task(job(writer, reported(run_id, d, c), g))
            for (d, c), g in zip(devices, (go, late_go), strict=True)
        ]
        await turns()
        assert writer.waiting == 1
        writer.go.set()
        async with asyncio.timeout(30):
            assert await asyncio.gather(*first) == [True, True]
            await writer.written.wait()  # the first write is over, rounds checked
        await turns()
        assert writer.started == [2] and writer.waiting == 1, "the late device waits"
        late_go.set()
        async with asyncio.timeout(30):
            assert await asyncio.gather(*late) == [False, False]
    assert writer.started == [2, 2] and writer.batches == [2, 2]


class FailsOnce(Recording):
    """A write that fails once with what no database error is (a bug)."""

    def _record(self, items: list[Reported]) -> list[bool]:
        if not self.batches:
            self.batches.append(0)
            raise ValueError("a value the rows cannot hold")
        return super()._record(items)


async def test_a_batch_that_fails_fails_its_jobs_not_the_writer(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    sessions, run_id = opened
    writer = FailsOnce(sessions, size=1)
    go = asyncio.Event()
    go.set()
    async with running(writer):
        async with asyncio.timeout(30):
            with pytest.raises(ValueError, match="cannot hold"):
                await job(writer, reported(run_id, "B1-NVR", ["B1-C1", "B1-C2"]), go)
            # the writer still writes: the next job is not left waiting for ever
            assert await job(writer, reported(run_id, "B1-CAM", ["B1-C9"]), go) is True
    assert writer.batches == [0, 1]


async def test_a_batch_never_holds_more_than_its_size(
    opened: tuple[sessionmaker[Session], int],
) -> None:
    sessions, run_id = opened
    writer = Recording(sessions, size=1)
    go = asyncio.Event()
    async with running(writer):
        jobs = [
            asyncio.create_task(job(writer, reported(run_id, "B1-NVR", ["B1-C1", "B1-C2"]), go)),
            asyncio.create_task(job(writer, reported(run_id, "B1-CAM", ["B1-C9"]), go)),
            # the camera's report twice (a retry's beside its first try's): stored once
            asyncio.create_task(job(writer, reported(run_id, "B1-CAM", ["B1-C9"]), go)),
        ]
        go.set()
        async with asyncio.timeout(30):
            results = await asyncio.gather(*jobs)
    assert results.count(True) == 2 and results.count(False) == 1
    assert writer.batches == [1, 1, 1]
