"""Spot-check plans: random ones reproducible from their seed and spread over branches,
targeted ones built from imported events."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import REPO
from vidaudit.inventory import load_inventory
from vidaudit.inventory.schema import ChannelRole
from vidaudit.sampler.plan import (
    PlanError,
    RandomPlanRequest,
    TaskKind,
    coverage,
    new_seed,
    parse_events_csv,
    random_plan,
    targeted_plan,
)

INVENTORY = load_inventory(REPO / "cameras.yaml")
WEEK = RandomPlanRequest(
    count=9,
    period_start=dt.date(2026, 11, 16),  # Monday
    period_days=7,
    roles=frozenset({ChannelRole.COUNTER}),
)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    assert random_plan(INVENTORY, WEEK, 1234) == random_plan(INVENTORY, WEEK, 1234)
    assert random_plan(INVENTORY, WEEK, 1234) != random_plan(INVENTORY, WEEK, 1235)
    assert new_seed() != new_seed()


def test_every_branch_covered_evenly_and_roles_respected() -> None:
    tasks = random_plan(INVENTORY, WEEK, 42)
    assert coverage(tasks) == {"FY001": 3, "FY002": 3, "FY003": 3}
    roles = {c.id: c.role for _b, _d, c in INVENTORY.channels()}
    assert {roles[t.channel_id] for t in tasks} == {ChannelRole.COUNTER}
    assert all(t.kind is TaskKind.RANDOM and t.end - t.start == WEEK.window for t in tasks)


@pytest.mark.parametrize("seed", range(20))
def test_windows_fall_inside_business_hours(seed: int) -> None:
    branches = {b.id: b for b in INVENTORY.branches}
    for task in random_plan(INVENTORY, WEEK, seed):
        branch = branches[task.branch_id]
        tz = INVENTORY.branch_timezone(branch)
        start, end = task.start.astimezone(tz), task.end.astimezone(tz)
        hours = branch.hours_on(start.date())
        assert hours is not None, f"{task} on a closed day"
        assert hours.open <= start.time() and end.time() <= hours.close
        assert WEEK.period_start <= start.date() < WEEK.period_start + dt.timedelta(days=7)


def test_fewer_tasks_than_branches_and_no_eligible_channels() -> None:
    one = RandomPlanRequest(1, WEEK.period_start, 7, frozenset({ChannelRole.COUNTER}))
    assert len(random_plan(INVENTORY, one, 7)) == 1
    duty = RandomPlanRequest(
        3, WEEK.period_start, 7, frozenset({ChannelRole.DUTY_ROOM}), branches=frozenset({"FY002"})
    )
    with pytest.raises(PlanError, match="no channel with role"):
        random_plan(INVENTORY, duty, 1)


def test_targeted_plan_from_csv_by_channel_id_or_name() -> None:
    text = (
        "\ufeffbranch,channel,instant,kind,note\n"
        "FY001,FY001-C02,2026-11-18T10:32:15+08:00,large_withdrawal,50000 yuan\n"
        "FY002,库房,2026-11-18 16:55:00,vault_opening,\n"
    )
    events = parse_events_csv(text, INVENTORY)
    tasks = targeted_plan(INVENTORY, events)
    assert [(t.branch_id, t.channel_id) for t in tasks] == [
        ("FY001", "FY001-C02"),
        ("FY002", "FY002-C04"),
    ]
    first = tasks[0]
    assert first.event_at == dt.datetime(2026, 11, 18, 2, 32, 15, tzinfo=dt.UTC)
    assert first.start == first.event_at - dt.timedelta(minutes=2)
    assert first.reason == "large_withdrawal: 50000 yuan"
    # no offset given: the branch's own time zone (Asia/Shanghai)
    assert tasks[1].event_at == dt.datetime(2026, 11, 18, 8, 55, tzinfo=dt.UTC)


def test_targeted_csv_errors_name_the_line() -> None:
    text = (
        "branch,channel,instant,kind\n"
        "FY009,C1,2026-11-18T10:00:00+08:00,x\n"
        "FY001,FY001-C01,yesterday,x\n"
        "FY001,FY001-C01,9999-12-31T23:59:59+08:00,x\n"
    )
    with pytest.raises(PlanError) as info:
        parse_events_csv(text, INVENTORY, "big.csv")
    between = "between 2000-01-01 and 2199-12-31"
    assert str(info.value).splitlines() == [
        "big.csv:2: unknown branch 'FY009'",
        f"big.csv:3: instant 'yesterday' is not an ISO 8601 time {between}",
        f"big.csv:4: instant '9999-12-31T23:59:59+08:00' is not an ISO 8601 time {between}",
    ]
    huge = (
        "branch,channel,instant,kind,note\nFY001,FY001-C01,2026-11-18T10:00:00,x," + "n" * 140_000
    )
    with pytest.raises(PlanError, match=r"big\.csv: not a readable CSV file: field larger"):
        parse_events_csv(huge, INVENTORY, "big.csv")
    events = parse_events_csv(
        "branch,channel,instant,kind\nFY001,柜台X,2026-11-18T10:00:00,x\n", INVENTORY
    )
    with pytest.raises(PlanError, match=r"big\.csv:2: branch FY001 has no single channel"):
        targeted_plan(INVENTORY, events, source="big.csv")
    with pytest.raises(PlanError, match="header must name columns"):
        parse_events_csv("a,b\n1,2\n", INVENTORY)
