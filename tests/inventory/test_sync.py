"""Syncing cameras.yaml into the database: idempotent, reports changes, retires not deletes."""

from __future__ import annotations

import datetime as dt

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import ChannelRow, DeviceRow, InventorySyncRow
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.sync import SyncReport, sync_inventory
from vidaudit.settings import Settings

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def sessions_for(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    return make_sessionmaker(engine)


def run_sync(sessions: sessionmaker[Session], data: object, now: dt.datetime) -> SyncReport:
    text = yaml.safe_dump(data, allow_unicode=True)
    with sessions.begin() as session:
        return sync_inventory(session, parse_inventory(text), source="t.yaml", now=now)


def test_first_sync_adds_everything_second_changes_nothing(db_url: str) -> None:
    sessions = sessions_for(db_url)
    first = run_sync(sessions, minimal(), T0)
    assert first.added == [
        "branch:B1",
        "device:B1-NVR",
        "channel:B1-C1",
        "channel:B1-C2",
    ]
    second = run_sync(sessions, minimal(), T0 + dt.timedelta(hours=1))
    assert second.changes == 0 and second.unchanged == 4
    with sessions() as session:
        channel = session.get(ChannelRow, "B1-C2")
        assert channel is not None
        assert channel.updated_at == T0  # untouched by the idempotent sync
        assert channel.required_days == 30 and channel.ref == {"channel": 2}
        assert len(session.scalars(select(InventorySyncRow)).all()) == 2


def test_removed_channel_is_retired_and_restored(db_url: str) -> None:
    sessions = sessions_for(db_url)
    run_sync(sessions, minimal(), T0)
    smaller = minimal()
    smaller["branches"][0]["devices"][0]["channels"].pop()  # type: ignore[index]
    later = T0 + dt.timedelta(days=1)
    report = run_sync(sessions, smaller, later)
    assert report.retired == ["channel:B1-C2"] and report.added == []
    with sessions() as session:
        gone = session.get(ChannelRow, "B1-C2")
        assert gone is not None and gone.retired_at == later  # kept, not deleted
    back = run_sync(sessions, minimal(), later + dt.timedelta(days=1))
    assert back.restored == ["channel:B1-C2"]
    with sessions() as session:
        row = session.get(ChannelRow, "B1-C2")
        assert row is not None and row.retired_at is None


def test_changes_are_named_and_password_is_only_a_reference(db_url: str) -> None:
    sessions = sessions_for(db_url)
    run_sync(sessions, minimal(), T0)
    changed = minimal()
    device = changed["branches"][0]["devices"][0]  # type: ignore[index]
    device["channels"][0]["role"] = "cash_area"
    device["channels"][0]["name"] = "现金区"
    device["vendor"] = "dahua"
    report = run_sync(sessions, changed, T0 + dt.timedelta(hours=2))
    assert report.changed == ["device:B1-NVR (vendor)", "channel:B1-C1 (name, role)"]
    with sessions() as session:
        row = session.get(DeviceRow, "B1-NVR")
        assert row is not None and row.password_ref == "${VIDAUDIT_PW_B1}"


def test_removed_device_retires_with_its_channels(db_url: str) -> None:
    sessions = sessions_for(db_url)
    data = minimal()
    second = yaml.safe_load(yaml.safe_dump(data["branches"][0]["devices"][0]))  # type: ignore[index]
    second["id"] = "B1-CAM"
    second["channels"] = [{"id": "B1-C9", "name": "ATM", "role": "atm", "ref": {"source": "0"}}]
    data["branches"][0]["devices"].append(second)  # type: ignore[index]
    run_sync(sessions, data, T0)
    report = run_sync(sessions, minimal(), T0 + dt.timedelta(days=1))
    assert sorted(report.retired) == ["channel:B1-C9", "device:B1-CAM"]


def test_region_and_offsite_are_synced_and_changes_named(db_url: str) -> None:
    sessions = sessions_for(db_url)
    data = minimal()
    run_sync(sessions, data, T0)
    branch = data["branches"][0]  # type: ignore[index]
    branch["region"] = "城关片区"
    branch["devices"][0]["channels"][1].update({"role": "atm", "offsite": True})
    report = run_sync(sessions, data, T0 + dt.timedelta(hours=1))
    assert "branch:B1 (region)" in report.changed
    assert "channel:B1-C2 (role, offsite)" in report.changed
    with sessions() as session:
        from vidaudit.db.models import BranchRow

        row = session.get(BranchRow, "B1")
        assert row is not None and row.region == "城关片区"
        channel = session.get(ChannelRow, "B1-C2")
        assert channel is not None and channel.offsite
