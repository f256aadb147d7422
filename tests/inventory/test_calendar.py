"""One calendar and one policy for every page: the inventory's when the server has it,
else what the database recorded (the hours ``inventory sync`` stored, the latest run's
policy), else the defaults."""

from __future__ import annotations

import copy
import datetime as dt

import yaml
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import BranchRow, CollectionRunRow
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.calendar import branch_calendar, current_policy
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings

NOW = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)
MONDAY = dt.date(2026, 11, 16)


def inventory(**policy: object) -> Inventory:
    data = copy.deepcopy(minimal())
    if policy:
        data["policy"] = policy
    return parse_inventory(yaml.safe_dump(data, allow_unicode=True), "site.yaml")


def synced(db_url: str, inv: Inventory) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        sync_inventory(session, inv, source="site.yaml", now=NOW)
    return sessions


def run(session: Session, started: dt.datetime, policy: dict[str, object]) -> None:
    session.add(CollectionRunRow(started_at=started, status="completed", policy=policy))


def test_calendar_is_the_inventorys_else_the_stored_hours(db_url: str) -> None:
    stored = inventory()
    sessions = synced(db_url, stored)
    # the server now runs with a cameras.yaml where B1 also opens on Sundays
    data = copy.deepcopy(minimal())
    data["branches"][0]["hours"]["sun"] = "09:00-12:00"  # type: ignore[index]
    loaded = parse_inventory(yaml.safe_dump(data, allow_unicode=True), "site.yaml")
    sunday = MONDAY + dt.timedelta(days=6)
    with sessions() as session:
        row = session.get(BranchRow, "B1")
        assert row is not None
        assert branch_calendar(row, loaded).hours_on(sunday) is not None
        rebuilt = branch_calendar(row, None)
    assert rebuilt.hours_on(sunday) is None
    assert rebuilt.hours_on(MONDAY) == stored.branches[0].hours_on(MONDAY)


def test_policy_is_the_inventorys_else_the_latest_runs_else_the_defaults(db_url: str) -> None:
    inv = inventory(retention_days=45)
    sessions = synced(db_url, inv)
    with sessions.begin() as session:
        assert current_policy(session, None).retention_days == 30  # no run yet: defaults
        # the latest run by id, even when an older run's start time is later
        run(session, NOW, {**inv.policy.model_dump(mode="json"), "retention_days": 60})
        run(session, NOW - dt.timedelta(hours=1), inv.policy.model_dump(mode="json"))
    with sessions() as session:
        assert current_policy(session, inv).retention_days == 45
        assert current_policy(session, None).retention_days == 45
    with sessions.begin() as session:
        run(session, NOW, {"retention_days": "not a number"})  # an older schema's policy
    with sessions() as session:
        assert current_policy(session, None).retention_days == 30
