"""Rounds as storage keeps them (no job queue here: ``test_distributed`` runs real workers):
a device is stored once per round however often it is reported, a round finishes once,
late devices neither open nor close tickets, an open round refuses the next."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.collector.model import ChannelReport, DeviceReport
from vidaudit.collector.round_channels import StoredChannel
from vidaudit.collector.round_hours import StoredBranch, under_stored_calendars
from vidaudit.collector.rounds import (
    Reported,
    RoundOverlap,
    finish_round,
    inventory_version,
    open_round,
    queue_for,
    record_devices,
    round_progress,
    rounds_to_finish,
    stored_branches,
    stored_channels,
)
from vidaudit.compliance.model import (
    ChannelEvidence,
    ChannelResult,
    DeviceStatus,
    ErrorKind,
    Severity,
    Violation,
)
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import (
    BranchResultRow,
    ChannelObservationRow,
    CollectionRunRow,
    DeviceObservationRow,
    FaultTicketRow,
    RoundDeviceRow,
)
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import stored_channel, stored_hours, stored_timezone, sync_inventory
from vidaudit.settings import Settings

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
SHORT = Violation("R1.retention", Severity.CRITICAL, "12 days held", {"held_days": 12.0})


def two_devices() -> dict[str, Any]:
    data = minimal()
    branch = data["branches"][0]  # type: ignore[index]
    second = dict(branch["devices"][0])
    second["id"] = "B1-CAM"
    second["channels"] = [
        {"id": "B1-C9", "name": "门口", "role": "entrance", "ref": {"channel": 1}}
    ]
    branch["devices"].append(second)
    branch["queue"] = "region-east"
    return data


@pytest.fixture
def world(db_url: str) -> tuple[sessionmaker[Session], Inventory]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    text = yaml.safe_dump(two_devices(), allow_unicode=True)
    inventory = parse_inventory(text)
    with sessions.begin() as s:
        sync_inventory(s, inventory, source="t", now=T0)
    return sessions, inventory


def judged(
    device_id: str,
    channel_ids: list[str],
    *,
    online: bool = True,
    c_violations: list[Violation] = (),
) -> tuple[DeviceReport, list[ChannelReport], dt.datetime]:  # type: ignore[assignment]
    status = DeviceStatus(device_id, online, None if online else ErrorKind.TIMEOUT)
    down = [] if online else [Violation("R6.offline", Severity.CRITICAL, "timeout")]
    channels = []
    for cid in channel_ids:
        violations = list(c_violations) if online else list(down)
        result = ChannelResult(cid, 30, 31.0, False, 1.0, [], [], True, None, violations)
        channels.append(
            ChannelReport(cid, device_id, "B1", "counter", ChannelEvidence(cid, True, True), result)
        )
    return DeviceReport(device_id, "B1", status, violations=down), channels, T0


def report(sessions: sessionmaker[Session], run_id: int, *items: Any) -> list[bool]:
    with sessions.begin() as s:
        return record_devices(s, [Reported(item, run_id, "test:1", 1) for item in items])


def snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Everything finishing a round writes."""
    with sessions() as s:
        return {
            "runs": [
                (
                    r.id,
                    r.status,
                    r.finished_at,
                    r.devices,
                    r.channels,
                    r.violations,
                    r.devices_late,
                    r.tickets_opened,
                    r.tickets_updated,
                    r.tickets_closed,
                )
                for r in s.scalars(select(CollectionRunRow).order_by(CollectionRunRow.id))
            ],
            "branches": [
                (b.run_id, b.branch_id, b.compliant, b.channels, b.violations)
                for b in s.scalars(select(BranchResultRow))
            ],
            "tickets": [
                (t.id, t.subject_id, t.rule, t.occurrences, t.last_seen_at, t.closed_at)
                for t in s.scalars(select(FaultTicketRow).order_by(FaultTicketRow.id))
            ],
            "observations": s.scalar(select(func.count()).select_from(ChannelObservationRow)),
        }


def test_queue_for_branch_region_and_device(world: tuple[sessionmaker[Session], Inventory]) -> None:
    _sessions, inventory = world
    (branch, nvr), (_b, cam) = inventory.devices()
    assert queue_for(branch, nvr) == "region-east"
    assert queue_for(branch.model_copy(update={"queue": None}), nvr) == "branch.B1"
    assert queue_for(branch, cam.model_copy(update={"queue": "gb-sip-host"})) == "gb-sip-host"


def test_a_device_is_stored_once_however_often_it_is_reported(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    sessions, inventory = world
    with sessions.begin() as s:
        opened = open_round(s, inventory, T0, 300)
    assert [queue for _d, queue in opened.devices] == ["region-east", "region-east"]
    nvr = judged("B1-NVR", ["B1-C1", "B1-C2"])
    assert report(sessions, opened.run_id, nvr) == [True]
    # the job was retried after its worker died having committed: nothing stored twice
    assert report(sessions, opened.run_id, nvr, judged("B1-CAM", ["B1-C9"])) == [False, True]
    with sessions() as s:
        per_device = dict(
            s.execute(
                select(DeviceObservationRow.device_id, func.count()).group_by(
                    DeviceObservationRow.device_id
                )
            ).all()
        )
        assert per_device == {"B1-NVR": 1, "B1-CAM": 1}
        assert s.scalar(select(func.count()).select_from(ChannelObservationRow)) == 3
        assert round_progress(s, opened.run_id).reported == 2


def test_a_batch_claims_each_device_once_and_records_who_read_it_and_when(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    """One batch, the same device twice (a retry's report beside its first try's): the
    first in the batch is stored; every claimed row keeps its own worker, try and time."""
    sessions, inventory = world
    with sessions.begin() as s:
        opened = open_round(s, inventory, T0, 300)
    nvr = judged("B1-NVR", ["B1-C1", "B1-C2"])
    nvr_again = (nvr[0], nvr[1], T0 + dt.timedelta(seconds=9))
    cam = judged("B1-CAM", ["B1-C9"])
    cam = (cam[0], cam[1], T0 + dt.timedelta(seconds=4))
    with sessions.begin() as s:
        won = record_devices(
            s,
            [
                Reported(cam, opened.run_id, "host-b:7", 3),
                Reported(nvr, opened.run_id, "host-a:5", 1),
                Reported(nvr_again, opened.run_id, "host-a:5", 2),
            ],
        )
    assert won == [True, True, False]
    with sessions() as s:
        rows = {
            r.device_id: (r.state, r.worker, r.attempts, r.reported_at)
            for r in s.scalars(select(RoundDeviceRow).where(RoundDeviceRow.run_id == opened.run_id))
        }
        stored_at = dict(
            s.execute(
                select(DeviceObservationRow.device_id, DeviceObservationRow.observed_at)
            ).all()
        )
    assert {k: v[:3] for k, v in rows.items()} == {
        "B1-NVR": ("reported", "host-a:5", 1),
        "B1-CAM": ("reported", "host-b:7", 3),
    }
    assert rows["B1-NVR"][3] == T0 == stored_at["B1-NVR"]
    assert rows["B1-CAM"][3] == T0 + dt.timedelta(seconds=4) == stored_at["B1-CAM"]


def test_round_finishes_when_complete_and_finishing_again_changes_nothing(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    sessions, inventory = world
    with sessions.begin() as s:
        opened = open_round(s, inventory, T0, 300)
    report(sessions, opened.run_id, judged("B1-NVR", ["B1-C1", "B1-C2"], c_violations=[SHORT]))
    with sessions.begin() as s:
        assert finish_round(s, opened.run_id, T0 + dt.timedelta(seconds=5)) is None, "one pending"
    report(sessions, opened.run_id, judged("B1-CAM", ["B1-C9"]))
    with sessions.begin() as s:
        first = finish_round(s, opened.run_id, T0 + dt.timedelta(seconds=6))
    assert first is not None and first.changes.opened == 2 and first.late_jobs == []
    assert first.just_finished
    before = snapshot(sessions)
    for later in (7, 8):
        with sessions.begin() as s:
            again = finish_round(s, opened.run_id, T0 + dt.timedelta(seconds=later))
        assert again is not None and again.changes == first.changes
        assert not again.just_finished, "finished already: whoever finished it reported it"
    assert snapshot(sessions) == before
    assert before["runs"][0][1:6] == ("completed", T0 + dt.timedelta(seconds=6), 2, 3, 2)


def test_a_complete_round_left_open_is_due_before_its_deadline(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    """The worker that stores a round's last device finishes it at once; if the database
    goes away between the two, the keeper must still find the round then, not at its
    deadline (five minutes here)."""
    sessions, inventory = world
    with sessions.begin() as s:
        opened = open_round(s, inventory, T0, 300)
    soon = T0 + dt.timedelta(seconds=5)
    report(sessions, opened.run_id, judged("B1-NVR", ["B1-C1", "B1-C2"]))
    with sessions() as s:
        assert rounds_to_finish(s, soon) == [], "one device pending, deadline ahead"
        assert rounds_to_finish(s, T0 + dt.timedelta(seconds=300)) == [opened.run_id]
    report(sessions, opened.run_id, judged("B1-CAM", ["B1-C9"]))  # its finish "lost"
    with sessions() as s:
        assert rounds_to_finish(s, soon) == [opened.run_id]
    with sessions.begin() as s:
        assert finish_round(s, opened.run_id, soon) is not None
    with sessions() as s:
        assert rounds_to_finish(s, soon) == []


def test_late_devices_open_and_close_nothing_and_their_reports_are_dropped(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    sessions, inventory = world
    with sessions.begin() as s:
        first = open_round(s, inventory, T0, 60)
    report(sessions, first.run_id, judged("B1-NVR", ["B1-C1", "B1-C2"]))
    report(sessions, first.run_id, judged("B1-CAM", ["B1-C9"], online=False))
    with sessions.begin() as s:
        assert finish_round(s, first.run_id, T0 + dt.timedelta(seconds=1)) is not None
    assert [t[1:3] for t in snapshot(sessions)["tickets"]] == [("B1-CAM", "R6.offline")]

    # Next round: the camera never reports before the deadline.
    with sessions.begin() as s:
        second = open_round(s, inventory, T0 + dt.timedelta(minutes=5), 60)
    report(sessions, second.run_id, judged("B1-NVR", ["B1-C1", "B1-C2"]))
    with sessions.begin() as s:
        assert finish_round(s, second.run_id, T0 + dt.timedelta(minutes=5, seconds=30)) is None
        done = finish_round(s, second.run_id, T0 + dt.timedelta(minutes=6, seconds=1))
    assert done is not None and done.changes.closed == 0 and done.changes.opened == 0
    # a report arriving after the deadline is not stored
    assert report(sessions, second.run_id, judged("B1-CAM", ["B1-C9"])) == [False]
    with sessions() as s:
        late = s.scalars(
            select(RoundDeviceRow.device_id).where(
                RoundDeviceRow.run_id == second.run_id, RoundDeviceRow.state == "late"
            )
        ).all()
        assert late == ["B1-CAM"]
        run = s.get(CollectionRunRow, second.run_id)
        assert run is not None and run.devices_late == 1 and run.devices == 1
        ticket = s.scalars(select(FaultTicketRow)).one()
        assert ticket.closed_at is None and ticket.occurrences == 1, "late: not seen, not closed"


def test_an_open_round_refuses_the_next(world: tuple[sessionmaker[Session], Inventory]) -> None:
    sessions, inventory = world
    with sessions.begin() as s:
        first = open_round(s, inventory, T0, 300)
    with pytest.raises(RoundOverlap) as info, sessions.begin() as s:
        open_round(s, inventory, T0 + dt.timedelta(minutes=5), 300)
    assert info.value.run_id == first.run_id
    assert "2 of 2 devices not reported" in str(info.value)
    with sessions() as s:
        rounds = s.scalar(select(func.count()).where(CollectionRunRow.kind == "round"))
        assert rounds == 1


def test_stored_branches_are_the_synced_calendars_of_the_branches_in_use(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    """What a worker reads once per round to judge by the scheduler's calendars."""
    sessions, inventory = world
    branch = inventory.branches[0]
    with sessions() as s:
        assert stored_branches(s, {"B1", "B9"}) == {
            "B1": StoredBranch(stored_timezone(inventory, branch), stored_hours(branch))
        }
        assert stored_branches(s, {"B9"}) == {}
    # the scheduler's file gains a public holiday; a worker's old copy is judged by it
    data = two_devices()
    data["branches"][0]["closed_dates"] = ["2026-11-16"]
    text = yaml.safe_dump(data, allow_unicode=True)
    with sessions.begin() as s:
        sync_inventory(s, parse_inventory(text), source="t", now=T0)
    with sessions() as s:
        under = under_stored_calendars(inventory, stored_branches(s, {"B1"}))
    assert under.inventory.branches[0].closed_dates == [dt.date(2026, 11, 16)]
    # a retired branch is not read: the worker keeps its own
    data["branches"][0]["id"] = "B2"
    text = yaml.safe_dump(data, allow_unicode=True)
    with sessions.begin() as s:
        sync_inventory(s, parse_inventory(text), source="t", now=T0)
    with sessions() as s:
        assert stored_branches(s, {"B1", "B2"}).keys() == {"B2"}


def _sync(sessions: sessionmaker[Session], data: dict[str, Any], now: dt.datetime) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    with sessions.begin() as s:
        sync_inventory(s, parse_inventory(text), source="t", now=now)


def test_stored_channels_are_the_synced_channels_of_the_devices_asked_for(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    """What a worker reads to judge its recorders' channels as the scheduler lists them."""
    sessions, inventory = world
    branch = inventory.branches[0]
    camera = branch.devices[1]
    with sessions() as s:
        assert stored_channels(s, {"B1-CAM", "B9-NVR"}) == {
            "B1-C9": StoredChannel(**stored_channel(inventory, camera, camera.channels[0]))
        }
        assert stored_channels(s, {"B1-NVR"}).keys() == {"B1-C1", "B1-C2"}
    # a channel removed from the scheduler's file is retired, and not read
    data = two_devices()
    del data["branches"][0]["devices"][0]["channels"][1]
    _sync(sessions, data, T0 + dt.timedelta(minutes=5))
    with sessions() as s:
        assert stored_channels(s, {"B1-NVR"}).keys() == {"B1-C1"}


def test_the_inventory_version_changes_with_every_sync_that_changes_a_row(
    world: tuple[sessionmaker[Session], Inventory],
) -> None:
    """A worker reads the stored calendars and channels again only when this changes: so
    it must change with every sync that writes a branch or channel row, and only then."""
    sessions, _inventory = world

    def version() -> tuple[object, ...]:
        with sessions() as s:
            return inventory_version(s)

    seen = [version()]
    at = iter(T0 + dt.timedelta(minutes=n) for n in range(1, 100))
    _sync(sessions, two_devices(), next(at))  # the same file again: nothing written
    assert version() == seen[-1]
    data = two_devices()
    data["branches"][0]["devices"][0]["channels"][0]["role"] = "vault"
    steps: list[tuple[str, dict[str, Any]]] = [("a channel's role", copy.deepcopy(data))]
    del data["branches"][0]["devices"][0]["channels"][1]
    steps.append(("a channel removed", copy.deepcopy(data)))
    steps.append(("it comes back", two_devices()))
    data = two_devices()
    data["branches"][0]["closed_dates"] = ["2026-11-16"]
    steps.append(("a branch's closed date", data))
    for what, changed in steps:
        _sync(sessions, changed, next(at))
        assert version() not in seen, what
        seen.append(version())
