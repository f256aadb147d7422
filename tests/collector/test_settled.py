"""What a run settles about vendor-API channels is kept per channel, given back only
while it may be built on, and only to the channel it was read as."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import yaml

from tests.collector.test_store import T0, setup
from tests.inventory.test_load import minimal
from vidaudit.collector.fleet import known_for
from vidaudit.collector.model import ChannelReport, SettledChannel
from vidaudit.collector.settled import full_read_due, load_settled, store_settled
from vidaudit.compliance.model import ChannelEvidence, ChannelResult
from vidaudit.inventory import parse_inventory
from vidaudit.readings import KnownFootage

DAY = dt.timedelta(days=1)


def _isapi_device() -> dict[str, object]:
    inventory = minimal()
    device = inventory["branches"][0]["devices"][0]  # type: ignore[index]
    del device["onvif"]
    device |= {"api": "isapi", "url": "http://127.0.0.1:8000"}
    return inventory


def _footage(read_at: dt.datetime) -> KnownFootage:
    s = T0 - dt.timedelta(days=20)
    return KnownFootage(
        settled_until=T0 - dt.timedelta(hours=2),
        segments=((s, s + dt.timedelta(hours=5)), (s + DAY, T0 - dt.timedelta(hours=2))),
        earliest=s,
        earliest_bounded=False,
        disks="hdd:1:4000:ok",
        read_in_full_at=read_at,
    )


def _report(channel: str, number: int, footage: KnownFootage | None) -> ChannelReport:
    result = ChannelResult(channel, 30, 20.0, False, 1.0, [], [], True, None, [])
    settled = None if footage is None else SettledChannel("B1-NVR", "isapi", number, footage)
    return ChannelReport(
        channel, "B1-NVR", "B1", "counter", ChannelEvidence(channel, True, True), result, settled
    )


def test_full_reads_come_back_within_the_period_spread_by_recorder() -> None:
    every = dt.timedelta(hours=24)
    shares = []
    for n in range(200):
        device = f"FY{n:03d}-NVR1"
        first_due = next(
            h
            for h in range(1, 25)
            if full_read_due(device, T0, T0 + h * dt.timedelta(hours=1), every)
        )
        assert 18 <= first_due <= 24, device
        shares.append(first_due)
        # the same recorder always gets the same point
        assert full_read_due(device, T0, T0 + first_due * dt.timedelta(hours=1), every)
    assert len(set(shares)) >= 6  # spread over the last quarter of the day, not one hour


def test_stored_settled_footage_is_given_back_until_its_full_read_is_due(db_url: str) -> None:
    sessions = setup(db_url)
    footage = _footage(T0)
    with sessions.begin() as session:
        stored = store_settled(
            session, [_report("B1-C1", 1, footage), _report("B1-C2", 2, None)], T0
        )
    assert stored == 1
    with sessions.begin() as session:
        back = load_settled(session, T0 + dt.timedelta(hours=1), dt.timedelta(hours=24))
        assert back == {"B1-C1": SettledChannel("B1-NVR", "isapi", 1, footage)}
        assert load_settled(session, T0 + DAY, dt.timedelta(hours=24)) == {}
        assert load_settled(session, T0 + dt.timedelta(hours=1), dt.timedelta(0)) == {}
    # a later run replaces the row
    later = dataclasses.replace(footage, settled_until=T0 + dt.timedelta(minutes=5))
    with sessions.begin() as session:
        store_settled(session, [_report("B1-C1", 1, later)], T0 + dt.timedelta(minutes=5))
    with sessions.begin() as session:
        back = load_settled(session, T0 + dt.timedelta(hours=1), dt.timedelta(hours=24))
    assert back["B1-C1"].footage == later


@pytest.mark.parametrize(
    ("device_id", "api", "number", "used"),
    [
        ("B1-NVR", "isapi", 1, True),
        ("B1-NVR2", "isapi", 1, False),  # the channel was on another recorder
        ("B1-NVR", "dahua", 1, False),  # the recorder was read through another API
        ("B1-NVR", "isapi", 5, False),  # the channel had another number
    ],
)
def test_settled_footage_is_only_built_on_for_the_channel_it_was_read_as(
    device_id: str, api: str, number: int, used: bool
) -> None:
    inventory = parse_inventory(yaml.safe_dump(_isapi_device(), allow_unicode=True))
    ((_branch, device),) = list(inventory.devices())
    footage = _footage(T0)
    known = known_for(device, {"B1-C1": SettledChannel(device_id, api, number, footage)})
    assert known == ({1: footage} if used else {})
