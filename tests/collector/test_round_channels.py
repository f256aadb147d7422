"""A worker judges each channel by the terms the database holds (the scheduler's
cameras.yaml, synced): its role, required retention, audio requirement and off-site
mark; compared in the stored form, rebuilt through the schema, the worker's own kept
where the database has none or holds terms it cannot read.  No database here:
``test_distributed`` runs it with real workers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.collector.test_round_hours import fleet, inventory
from vidaudit.collector.round_channels import StoredChannel, under_stored_terms
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import stored_terms


def stored(inv: Inventory) -> dict[str, StoredChannel]:
    """What ``inventory sync`` of ``inv`` leaves in the channels table."""
    return {
        channel.id: StoredChannel(**stored_terms(inv, channel))
        for _b, _d, channel in inv.channels()
    }


def with_channel(data: dict[str, Any], channel_id: str, **changes: Any) -> dict[str, Any]:
    """``data`` with one channel's entries changed (``None``: removed)."""
    data = copy.deepcopy(data)
    for branch in data["branches"]:
        for device in branch["devices"]:
            for channel in device["channels"]:
                if channel["id"] == channel_id:
                    channel.update(changes)
                    for key in [k for k, v in changes.items() if v is None]:
                        del channel[key]
    return data


def test_nothing_differs_answers_the_inventory_itself() -> None:
    mine = inventory(fleet())
    under = under_stored_terms(mine, stored(inventory(fleet())))
    assert under.inventory is mine
    assert under.replaced == {} and under.channels == [] and under.unreadable == {}


def test_a_stale_channel_is_judged_by_the_stored_terms() -> None:
    """The scheduler's file made B2's counter camera a vault camera (its role's 180 days)
    and requires its audio; the stale copy still says counter, audio optional."""
    base = fleet()
    base["policy"] = {"retention_days": 30, "retention_days_by_role": {"vault": 180}}
    scheduler = inventory(with_channel(base, "B2-C1", role="vault", audio="required"))
    mine = inventory(base)
    under = under_stored_terms(mine, stored(scheduler))

    assert under.channels == ["B2-C1"]
    assert list(under.replaced) == ["B2"]
    judged_branch = under.inventory.branches[1]
    assert under.replaced["B2"] is judged_branch
    judged = judged_branch.devices[0].channels[0]
    assert judged.role.value == "vault" and judged.audio.value == "required"
    assert under.inventory.required_days(judged) == 180
    assert mine.required_days(mine.branches[1].devices[0].channels[0]) == 30  # the stale terms
    # the stored form of the result is the scheduler's, so the next round finds no change
    assert stored(under.inventory) == stored(scheduler)
    # only the channel's terms change: how it is found on the recorder stays the worker's
    assert judged.ref == mine.branches[1].devices[0].channels[0].ref
    assert judged.name == mine.branches[1].devices[0].channels[0].name
    # the device's other channel, the other branches and the policy are the same objects
    assert judged_branch.devices[0].channels[1] is mine.branches[1].devices[0].channels[1]
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
    under = under_stored_terms(mine, stored(scheduler))
    # every channel differs: the stale policy gives 15 days where the scheduler's gives 30
    assert len(under.channels) == len(list(mine.channels()))
    required = {c.id: under.inventory.required_days(c) for _b, _d, c in under.inventory.channels()}
    assert required == {c.id: scheduler.required_days(c) for _b, _d, c in scheduler.channels()}
    assert required["B1-C2"] == 90


def test_a_channel_the_database_lacks_keeps_its_own() -> None:
    rows = stored(inventory(with_channel(fleet(), "B3-C1", role="atm")))
    del rows["B3-C1"]
    mine = inventory(fleet())
    under = under_stored_terms(mine, rows)
    assert under.inventory is mine and under.channels == []


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        ({"role": "lobby-ish"}, "role"),
        ({"offsite": True}, "off-site ATM"),
        ({"required_days": 0}, "retention_days"),
        ({"audio": None}, "audio"),
    ],
)
def test_stored_terms_that_cannot_be_read_keep_the_workers_own(
    spoil: dict[str, Any], said: str
) -> None:
    rows = stored(inventory(with_channel(fleet(), "B2-C2", role="atm")))
    rows["B1-C1"] = StoredChannel(**{**stored_terms(inventory(fleet()), _first(fleet())), **spoil})
    mine = inventory(fleet())
    under = under_stored_terms(mine, rows)
    assert list(under.unreadable) == ["B1-C1"]
    assert said in under.unreadable["B1-C1"]
    # B1-C1 keeps the worker's own terms; B2-C2 still takes the (readable) stored ones
    assert under.inventory.branches[0] is mine.branches[0]
    assert under.channels == ["B2-C2"]
    assert under.inventory.branches[1].devices[0].channels[1].role.value == "atm"


def _first(data: dict[str, Any]) -> Any:
    return inventory(data).branches[0].devices[0].channels[0]
