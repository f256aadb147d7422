"""A worker judges each of its recorders' channels as the database holds them (the
scheduler's cameras.yaml, synced): which channels, how each is found, role, required
retention, audio requirement, off-site mark; compared in the stored form, rebuilt
through the schema, the worker's own list kept where the database has none for a
recorder or holds one it cannot read.  No database here: ``test_distributed`` runs it
with real workers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.collector.test_round_hours import fleet, inventory
from vidaudit.collector.round_channels import StoredChannel, under_stored_channels
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import stored_channel


def stored(inv: Inventory) -> dict[str, StoredChannel]:
    """What ``inventory sync`` of ``inv`` leaves in the channels table."""
    return {
        channel.id: StoredChannel(**stored_channel(inv, device, channel))
        for _b, device, channel in inv.channels()
    }


def with_channel(data: dict[str, Any], channel_id: str, **changes: Any) -> dict[str, Any]:
    """``data`` with one channel's entries changed."""
    data = copy.deepcopy(data)
    for branch in data["branches"]:
        for device in branch["devices"]:
            for channel in device["channels"]:
                if channel["id"] == channel_id:
                    channel.update(changes)
    return data


def channels_of(data: dict[str, Any], branch_id: str) -> list[dict[str, Any]]:
    branch = next(b for b in data["branches"] if b["id"] == branch_id)
    channels: list[dict[str, Any]] = branch["devices"][0]["channels"]
    return channels


def test_nothing_differs_answers_the_inventory_itself() -> None:
    mine = inventory(fleet())
    under = under_stored_channels(mine, stored(inventory(fleet())))
    assert under.inventory is mine
    assert under.replaced == {} and under.differ == 0 and under.unreadable == {}


def test_a_stale_channel_is_judged_as_stored() -> None:
    """The scheduler's file made B2's counter camera a vault camera (its role's 180 days),
    requires its audio and found it by another profile; the stale copy still says
    counter, audio optional, channel 1."""
    base = fleet()
    base["policy"] = {"retention_days": 30, "retention_days_by_role": {"vault": 180}}
    scheduler = inventory(
        with_channel(base, "B2-C1", role="vault", audio="required", ref={"profile": "main"})
    )
    mine = inventory(base)
    under = under_stored_channels(mine, stored(scheduler))

    assert (under.changed, under.added, under.dropped) == (["B2-C1"], [], [])
    assert list(under.replaced) == ["B2"]
    judged_branch = under.inventory.branches[1]
    assert under.replaced["B2"] is judged_branch
    judged = judged_branch.devices[0].channels[0]
    assert judged.role.value == "vault" and judged.audio.value == "required"
    assert judged.ref.profile == "main" and judged.ref.channel is None
    assert under.inventory.required_days(judged) == 180
    assert mine.required_days(mine.branches[1].devices[0].channels[0]) == 30  # the stale copy
    # the stored form of the result is the scheduler's, so the next round finds no change
    assert stored(under.inventory) == stored(scheduler)
    # how the recorder is reached stays the worker's; the other branches and the policy
    # are the same objects
    device = judged_branch.devices[0]
    assert device.onvif == mine.branches[1].devices[0].onvif
    assert device.password == mine.branches[1].devices[0].password
    assert under.inventory.branches[0] is mine.branches[0]
    assert under.inventory.branches[2] is mine.branches[2]
    assert under.inventory.policy is mine.policy
    # the worker's own inventory is left as it was
    assert mine.branches[1].devices[0].channels[0].role.value == "counter"


def test_an_override_the_stale_copy_lacks_is_the_scheduler_number() -> None:
    """The scheduler's file gives a channel its own 90 days; the stale copy has none and a
    policy of 15: the channel must hold the scheduler's 90."""
    scheduler = inventory(with_channel(fleet(), "B1-C2", retention_days=90))
    stale = fleet()
    stale["policy"] = {"retention_days": 15, "retention_days_by_role": {}}
    mine = inventory(stale)
    under = under_stored_channels(mine, stored(scheduler))
    # every channel differs: the stale policy gives 15 days where the scheduler's gives 30
    assert len(under.changed) == len(list(mine.channels()))
    required = {c.id: under.inventory.required_days(c) for _b, _d, c in under.inventory.channels()}
    assert required == {c.id: scheduler.required_days(c) for _b, _d, c in scheduler.channels()}
    assert required["B1-C2"] == 90


def test_a_camera_added_is_polled_and_one_removed_is_not() -> None:
    """The scheduler's file added a third camera to B3's recorder and removed B1's vault
    camera; the stale copy has neither change."""
    data = fleet()
    channels_of(data, "B3").append(
        {"id": "B3-C3", "name": "大厅", "role": "lobby", "ref": {"channel": 3}}
    )
    del channels_of(data, "B1")[1]
    scheduler = inventory(data)
    mine = inventory(fleet())
    under = under_stored_channels(mine, stored(scheduler))
    assert (under.changed, under.added, under.dropped) == ([], ["B3-C3"], ["B1-C2"])
    assert list(under.replaced) == ["B1", "B3"]
    assert [c.id for c in under.inventory.branches[0].devices[0].channels] == ["B1-C1"]
    assert [c.id for c in under.inventory.branches[2].devices[0].channels] == [
        "B3-C1",
        "B3-C2",
        "B3-C3",
    ]
    assert stored(under.inventory) == stored(scheduler)


def test_a_recorder_the_database_lacks_keeps_its_own() -> None:
    rows = stored(inventory(with_channel(fleet(), "B3-C1", role="atm")))
    for channel_id in ("B3-C1", "B3-C2"):
        del rows[channel_id]
    mine = inventory(fleet())
    under = under_stored_channels(mine, rows)
    assert under.inventory is mine and under.differ == 0


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        ({"role": "lobby-ish"}, "role"),
        ({"offsite": True}, "off-site ATM"),
        ({"required_days": 0}, "retention_days"),
        ({"audio": None}, "audio"),
        ({"ref": {}}, "at least one of"),
        ({"name": ""}, "name"),
    ],
)
def test_stored_channels_that_cannot_be_read_keep_the_workers_own(
    spoil: dict[str, Any], said: str
) -> None:
    rows = stored(inventory(with_channel(fleet(), "B2-C2", role="atm")))
    rows["B1-C1"] = StoredChannel(**{**vars(rows["B1-C1"]), **spoil})
    mine = inventory(fleet())
    under = under_stored_channels(mine, rows)
    assert list(under.unreadable) == ["B1-NVR"]
    assert said in under.unreadable["B1-NVR"]
    # B1's recorder keeps the worker's own channels; B2-C2 still takes the stored ones
    assert under.inventory.branches[0] is mine.branches[0]
    assert under.changed == ["B2-C2"]
    assert under.inventory.branches[1].devices[0].channels[1].role.value == "atm"


def test_a_recorder_read_by_number_refuses_a_stored_channel_without_one() -> None:
    """A Dahua recorder read through its HTTP API finds channels by number: a stored row
    that gives only a profile token cannot be polled there (the whole recorder
    validated again), so the recorder keeps the worker's list and says why."""
    data = fleet()
    device = data["branches"][0]["devices"][0]
    device.update(
        {"vendor": "dahua", "api": "dahua", "url": "http://127.0.0.1:8001", "onvif": None}
    )
    mine = inventory(data)
    rows = stored(mine)
    rows["B1-C1"] = StoredChannel(**{**vars(rows["B1-C1"]), "ref": {"profile": "main"}})
    under = under_stored_channels(mine, rows)
    assert under.inventory is mine
    assert "by number" in under.unreadable["B1-NVR"]
