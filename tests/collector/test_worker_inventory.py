"""A worker takes up its edited cameras.yaml at a new round: everything derived from the
inventory is built again and swapped in whole (the devices by id, the branch ids, the
password resolver), and what it judges by is not the old file's from a cache; a broken
edit leaves all of it as it was.  The whole path with real workers and rounds is in
``test_distributed``; here the runtime itself, on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_include import branch, split, write
from tests.inventory.test_sync import sessions_for
from tests.inventory.test_watch import aged, files_of
from vidaudit.collector.fleet import DeviceProbe, Prober, ProbeRequest
from vidaudit.collector.queue import BatchWriter, WorkerRuntime
from vidaudit.collector.rounds import open_round
from vidaudit.compliance.model import DeviceStatus, ErrorKind
from vidaudit.inventory import SecretResolver, load_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.inventory.watch import InventoryWatch
from vidaudit.settings import Settings


async def never(_request: ProbeRequest, _resolver: SecretResolver) -> DeviceProbe:
    raise AssertionError("no device is read here")


def worker(tmp_path: Path, direct: Prober) -> tuple[Path, sessionmaker[Session], WorkerRuntime]:
    """A worker's runtime on the split inventory (B1-B4, files aged), synced into SQLite
    as the scheduler would, watching its files; reading devices through ``direct``."""
    main = split(tmp_path / "worker")
    aged(*files_of(tmp_path / "worker"))
    sessions = sessions_for(f"sqlite:///{tmp_path / 'worker.db'}")
    inventory = load_inventory(main)
    with sessions.begin() as session:
        sync_inventory(session, inventory, source=str(main), now=dt.datetime.now(dt.UTC))
    runtime = WorkerRuntime(
        Settings(data_dir=tmp_path / "data", inventory=main),
        inventory,
        SecretResolver(inventory, main),
        sessions,
        direct,
        BatchWriter(sessions, 10),
        concurrency=1,
        watch=InventoryWatch(main, inventory, secrets=True),
    )
    return main, sessions, runtime


def test_a_new_round_swaps_in_the_edited_inventory_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VIDAUDIT_PW", "secret")
    main, sessions, runtime = worker(tmp_path, never)

    def judged_branches() -> list[str]:
        with sessions() as session:
            judging = runtime._judging_for(session, runtime.inventory.policy, runtime.inventory)
        return [b.id for b in judging.inventory.branches]

    assert judged_branches() == ["B1", "B2", "B3", "B4"]
    resolver = runtime.resolver

    # a region file appears: from the next round on, its recorder is this worker's
    west = write(main.parent / "regions" / "west.yaml", {"branches": [branch(5)]})
    aged(west)
    asyncio.run(runtime._take_up_edits())
    assert runtime.inventory.branches[-1].id == "B5"
    assert "B5-NVR" in runtime._index
    assert runtime._index["B5-NVR"][0] is runtime.inventory.branches[-1]
    assert "B5" in runtime._branch_ids
    assert runtime.resolver is not resolver
    # no sync happened in between (the stored version is the same): still, what the
    # round is judged by is the new file's, not the old one's from the cache
    assert judged_branches() == ["B1", "B2", "B3", "B4", "B5"]

    # a broken edit: nothing changes, and it is said once
    taken = runtime.inventory, runtime.resolver, runtime._index, runtime._branch_ids
    west.write_text("branches: [\n", encoding="utf-8")
    aged(west)
    with caplog.at_level(logging.INFO):
        asyncio.run(runtime._take_up_edits())
        asyncio.run(runtime._take_up_edits())
    assert (runtime.inventory, runtime.resolver, runtime._index, runtime._branch_ids) == taken
    assert runtime.inventory is taken[0]
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert [a for a in actions if a] == ["inventory_rejected"]
    assert judged_branches() == ["B1", "B2", "B3", "B4", "B5"]


async def test_the_first_job_of_a_round_reads_a_recorder_the_edit_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job that opens a worker's round takes up the edit before it looks its device
    up: a recorder the edit added is read by that very job.  (Looked up before the
    round's standing was read, it was refused as not this worker's and ended the round
    late, whenever its job happened to be the first of the round.)"""
    monkeypatch.setenv("VIDAUDIT_PW", "secret")
    asked: list[str] = []

    async def direct(request: ProbeRequest, _resolver: SecretResolver) -> DeviceProbe:
        asked.append(request.device.id)
        return DeviceProbe(DeviceStatus(request.device.id, False, ErrorKind.CONFIG, "test"))

    main, sessions, runtime = worker(tmp_path, direct)
    now = dt.datetime.now(dt.UTC)
    # the security department adds a region file; the scheduler syncs it and opens a round
    aged(write(main.parent / "regions" / "west.yaml", {"branches": [branch(5)]}))
    edited = load_inventory(main)
    with sessions.begin() as session:
        sync_inventory(session, edited, source=str(main), now=now)
        run_id = open_round(session, edited, now, 300).run_id
    writing = asyncio.create_task(runtime.writer.run())
    try:
        async with asyncio.timeout(30):
            outcome = await runtime.poll(run_id, "B5-NVR", 0)
    finally:
        writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writing
    assert asked == ["B5-NVR"]
    assert outcome == "stored"
