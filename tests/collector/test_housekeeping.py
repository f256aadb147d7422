"""Housekeeping: observations older than the setting are rolled up to one per channel per
local day (a day's rule-breaking observation wins over its last); recent days, runs and
every other table are left alone; a second pass finds nothing to do."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.collector.housekeeping import roll_up_observations
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import (
    BranchResultRow,
    ChannelObservationRow,
    CollectionRunRow,
    DeviceObservationRow,
)
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 18, 10, 0, tzinfo=TZ)


def setup(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    inventory = parse_inventory(yaml.safe_dump(minimal(), allow_unicode=True), "site.yaml")
    with sessions.begin() as session:
        sync_inventory(session, inventory, source="site.yaml", now=NOW)
    return sessions


def record_run(session: Session, at: dt.datetime, broken: frozenset[str] = frozenset()) -> int:
    run = CollectionRunRow(started_at=at, finished_at=at, status="completed", policy={})
    session.add(run)
    session.flush()
    for channel in ("B1-C1", "B1-C2"):
        ok = channel not in broken
        session.add(
            ChannelObservationRow(
                run_id=run.id,
                channel_id=channel,
                device_id="B1-NVR",
                branch_id="B1",
                observed_at=at,
                recording_state="recording",
                earliest=None,
                latest=None,
                retention_days=40.0,
                required_days=30,
                verified=False,
                occupancy=1.0,
                gaps=[],
                business_days=[],
                business_hours_covered=ok,
                audio=None,
                compliant=ok,
                violations=[] if ok else [{"rule": "R2.business_hours"}],
            )
        )
    session.add(
        DeviceObservationRow(
            run_id=run.id,
            device_id="B1-NVR",
            branch_id="B1",
            observed_at=at,
            online=True,
            error_kind=None,
            error_message=None,
            clock_drift_s=0.0,
            manufacturer=None,
            model=None,
            firmware=None,
            services=[],
            violations=[],
        )
    )
    session.add(
        BranchResultRow(
            run_id=run.id,
            branch_id="B1",
            observed_at=at,
            compliant=not broken,
            devices_down=0,
            channels=2,
            channels_compliant=2 - len(broken),
            violations=len(broken),
        )
    )
    return run.id


def observations(session: Session) -> list[tuple[str, dt.datetime, bool]]:
    rows = session.execute(
        select(
            ChannelObservationRow.channel_id,
            ChannelObservationRow.observed_at,
            ChannelObservationRow.compliant,
        ).order_by(ChannelObservationRow.observed_at, ChannelObservationRow.channel_id)
    )
    return [(c, at.astimezone(TZ).replace(tzinfo=None), ok) for c, at, ok in rows]


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_old_days_keep_one_observation_per_channel(db_url: str) -> None:
    sessions = setup(db_url)
    with sessions.begin() as session:
        # 1 November (old): four runs, C1 breaks a rule at 09:00 only
        for hour in (0, 9, 15, 23):
            broken = frozenset({"B1-C1"}) if hour == 9 else frozenset()
            record_run(session, local(1, hour, 30), broken)
        # 2 November (old): three clean runs
        for hour in (8, 12, 18):
            record_run(session, local(2, hour))
        # 12 November (within the 7 days kept): two runs stay whole
        for hour in (8, 12):
            record_run(session, local(12, hour))
    with sessions() as session:
        untouched = {
            table: session.scalar(select(func.count()).select_from(table))
            for table in (CollectionRunRow, DeviceObservationRow, BranchResultRow)
        }

    rolled = roll_up_observations(sessions, now=NOW, keep_days=7, tz=TZ)

    assert (rolled.days, rolled.runs, rolled.deleted) == (2, 7, 2 * 7 - 4)
    with sessions() as session:
        assert observations(session) == [
            # the day's rule-breaking observation is kept for C1, the day's last for C2
            ("B1-C1", local(1, 9, 30).replace(tzinfo=None), False),
            ("B1-C2", local(1, 23, 30).replace(tzinfo=None), True),
            ("B1-C1", local(2, 18).replace(tzinfo=None), True),
            ("B1-C2", local(2, 18).replace(tzinfo=None), True),
            ("B1-C1", local(12, 8).replace(tzinfo=None), True),
            ("B1-C2", local(12, 8).replace(tzinfo=None), True),
            ("B1-C1", local(12, 12).replace(tzinfo=None), True),
            ("B1-C2", local(12, 12).replace(tzinfo=None), True),
        ]
        assert {
            table: session.scalar(select(func.count()).select_from(table)) for table in untouched
        } == untouched
        marked = session.scalars(
            select(CollectionRunRow.started_at).where(
                CollectionRunRow.observations_rolled_up_at.is_not(None)
            )
        ).all()
        assert sorted(at.astimezone(TZ).day for at in marked) == [1, 1, 1, 1, 2, 2, 2]

    again = roll_up_observations(sessions, now=NOW, keep_days=7, tz=TZ)
    assert (again.days, again.deleted) == (0, 0)
    assert again.summary() == "nothing to roll up"


def test_a_day_is_rolled_up_only_once_it_is_wholly_older_than_the_setting(db_url: str) -> None:
    sessions = setup(db_url)
    with sessions.begin() as session:
        # 11 November 11:00 is 7 days before NOW minus one hour, but its local day is not
        # wholly older than 7 days: the day before the cutoff day is the last rolled up
        for hour in (9, 11):
            record_run(session, local(11, hour))
        for hour in (9, 11):
            record_run(session, local(10, hour))
    rolled = roll_up_observations(sessions, now=NOW, keep_days=7, tz=TZ)
    assert (rolled.days, rolled.deleted) == (1, 2)
    with sessions() as session:
        days = [at.day for _c, at, _ok in observations(session)]
    assert days == [10, 10, 11, 11, 11, 11]
