"""A worker judges each branch by the calendar the database holds (the scheduler's
cameras.yaml, synced), not by its own file's: compared in the stored form, parsed back
through the schema, the worker's own kept where the database has none or holds one it
cannot read.  No database here: ``test_distributed`` runs it with real workers."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.inventory.test_load import minimal
from vidaudit.collector.round_hours import StoredBranch, under_stored_calendars
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import stored_hours, stored_timezone

#: Spring Festival 2027: the closed dates the scheduler's file has and a stale copy lacks.
SPRING_FESTIVAL = [dt.date(2027, 2, 6) + dt.timedelta(days=n) for n in range(8)]
MONDAY = dt.date(2027, 2, 8)


def fleet(**changes: dict[str, Any]) -> dict[str, Any]:
    """Three branches (B1, B2, B3), each changed by ``changes[branch id]``."""
    data: dict[str, Any] = copy.deepcopy(minimal())
    first = data["branches"][0]
    data["branches"] = []
    for n in (1, 2, 3):
        branch = copy.deepcopy(first)
        branch["id"] = f"B{n}"
        branch["devices"][0]["id"] = f"B{n}-NVR"
        for channel in branch["devices"][0]["channels"]:
            channel["id"] = channel["id"].replace("B1", f"B{n}")
        branch.update(changes.get(branch["id"], {}))
        data["branches"].append(branch)
    return data


def inventory(data: dict[str, Any]) -> Inventory:
    return parse_inventory(yaml.safe_dump(data, allow_unicode=True), "cameras.yaml")


def stored(inv: Inventory) -> dict[str, StoredBranch]:
    """What ``inventory sync`` of ``inv`` leaves in the branches table."""
    return {b.id: StoredBranch(stored_timezone(inv, b), stored_hours(b)) for b in inv.branches}


def test_nothing_differs_answers_the_inventory_itself() -> None:
    mine = inventory(fleet())
    under = under_stored_calendars(mine, stored(inventory(fleet())))
    assert under.inventory is mine
    assert under.replaced == {} and under.unreadable == {}


def test_a_stale_branch_is_judged_by_the_stored_calendar() -> None:
    scheduler = inventory(
        fleet(
            B2={
                "closed_dates": [d.isoformat() for d in SPRING_FESTIVAL],
                "special_days": {"2027-02-14": "09:00-12:00"},
                "hours": {"mon": "09:00-16:30", "sat": "10:00-15:00"},
                "timezone": "Asia/Urumqi",
            }
        )
    )
    mine = inventory(fleet())  # the copy not updated
    under = under_stored_calendars(mine, stored(scheduler))

    assert list(under.replaced) == ["B2"]
    judged = under.inventory.branches[1]
    assert under.replaced["B2"] is judged
    want = scheduler.branches[1]
    for day in [*SPRING_FESTIVAL, dt.date(2027, 2, 14), dt.date(2027, 2, 15)]:
        assert judged.hours_on(day) == want.hours_on(day), day
    assert mine.branches[1].hours_on(MONDAY) is not None  # the stale copy's business day
    assert judged.hours_on(MONDAY) is None
    assert under.inventory.branch_timezone(judged) == scheduler.branch_timezone(want)
    # the stored form of the result is the scheduler's, so the next round finds no change
    assert stored(under.inventory) == stored(scheduler)
    # only the calendar is replaced: the devices (and the other branches) are the same
    assert judged.devices[0] is mine.branches[1].devices[0]
    assert judged.model_dump(exclude={"timezone", "hours", "closed_dates", "special_days"}) == (
        mine.branches[1].model_dump(exclude={"timezone", "hours", "closed_dates", "special_days"})
    )
    assert under.inventory.branches[0] is mine.branches[0]
    assert under.inventory.branches[2] is mine.branches[2]
    assert under.inventory.policy == mine.policy
    # the worker's own inventory is left as it was
    assert mine.branches[1].closed_dates == []


def test_the_inventorys_time_zone_counts_for_a_branch_without_its_own() -> None:
    """A worker whose file puts the whole inventory in another time zone judges the
    branches without a zone of their own by the scheduler's."""
    scheduler = inventory(fleet())
    data = fleet()
    data["timezone"] = "Asia/Urumqi"
    under = under_stored_calendars(inventory(data), stored(scheduler))
    assert list(under.replaced) == ["B1", "B2", "B3"]
    for branch in under.inventory.branches:
        assert str(under.inventory.branch_timezone(branch)) == "Asia/Shanghai"


def test_a_branch_the_database_lacks_keeps_its_own() -> None:
    scheduler = inventory(fleet(B1={"closed_dates": ["2027-02-05"]}))
    rows = stored(scheduler)
    del rows["B1"]
    mine = inventory(fleet())
    under = under_stored_calendars(mine, rows)
    assert under.inventory is mine and under.replaced == {}


def _week(**days: str) -> Any:
    return lambda hours: {**hours, "week": {**hours["week"], **days}}


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (_week(mon="25:00-26:00"), "hours out of range"),
        (_week(mon="closed", tue="closed"), "at least one weekday"),
        (lambda hours: {**hours, "closed_dates": ["5 Feb"]}, "closed_dates"),
        (lambda hours: {**hours, "special_days": {"2027-02-14": "closed"}}, "use closed_dates"),
        (lambda hours: {**hours, "lunch": "12:00-13:00"}, "lunch"),
        (lambda hours: None, "NoneType"),
    ],
)
def test_a_stored_calendar_that_cannot_be_read_keeps_the_workers_own(
    spoil: Callable[[dict[str, Any]], Any], said: str
) -> None:
    rows = stored(inventory(fleet(B1={"closed_dates": ["2027-02-05"]})))
    rows["B1"] = StoredBranch(rows["B1"].timezone, spoil(rows["B1"].hours))
    mine = inventory(fleet(B2={"closed_dates": ["2027-02-05"]}))
    under = under_stored_calendars(mine, rows)
    assert list(under.unreadable) == ["B1"]
    assert said in under.unreadable["B1"]
    # B1 keeps the worker's own; B2 still takes the (readable) stored one
    assert under.inventory.branches[0] is mine.branches[0]
    assert list(under.replaced) == ["B2"]
    assert under.inventory.branches[1].closed_dates == []


def test_an_unknown_stored_time_zone_keeps_the_workers_own() -> None:
    rows = stored(inventory(fleet()))
    rows["B3"] = StoredBranch("Mars/Olympus", rows["B3"].hours)
    mine = inventory(fleet())
    under = under_stored_calendars(mine, rows)
    assert under.inventory is mine
    assert "Mars/Olympus" in under.unreadable["B3"]
