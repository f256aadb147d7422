"""The overview's numbers against ones computed by hand from a small fixture.

Three branches in two regions and two time zones (B2 keeps Urumqi time, two hours behind
Beijing), with device polls, channel observations, live snapshots, daily checks, reviews
and findings written directly as the collector and the review pages would have stored
them.  Every expected figure below is worked out in the comment beside it from the
fixture, not from the code under test; the facts placed either side of a local midnight
would move to another day or week if the branch's zone were ignored.

Business hours are 09:00-17:00 on weekdays with the default 30-minute margins, so a
business day needs 08:30-17:30 = 540 minutes of recording per channel.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.accounts.users import create_user
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import (
    BranchRow,
    ChannelObservationRow,
    CollectionRunRow,
    DailyCheckRow,
    DeviceObservationRow,
    FindingEventRow,
    FindingRow,
    IndicatorDayRow,
    ReviewRow,
    SnapshotRow,
)
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.overview.model import Indicator as I
from vidaudit.overview.model import Tally
from vidaudit.overview.report import Overview, build_overview, keep_ended_days
from vidaudit.overview.weeks import duty_tally
from vidaudit.review.duties import PatrolDay, WeekDuties
from vidaudit.review.register import Entry, append
from vidaudit.settings import Settings

SH = ZoneInfo("Asia/Shanghai")
UR = ZoneInfo("Asia/Urumqi")
SYNCED = dt.datetime(2026, 11, 1, 9, 0, tzinfo=SH)  # a Sunday
NOW = dt.datetime(2026, 11, 18, 20, 0, tzinfo=SH)  # Wednesday 20:00 (18:00 in Urumqi)
THIS_WEEK = dt.date(2026, 11, 16)
LAST_WEEK = dt.date(2026, 11, 9)
WEEKDAYS = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def inventory_yaml() -> str:
    def branch(bid: str, name: str, tz: str, region: str) -> dict[str, Any]:
        return {
            "id": bid,
            "name": name,
            "timezone": tz,
            "region": region,
            "hours": WEEKDAYS,
            "devices": [
                {
                    "id": f"{bid}-NVR",
                    "kind": "nvr",
                    "vendor": "hikvision",
                    "onvif": "http://127.0.0.1:9/onvif/device_service",
                    "username": "audit",
                    "password": "${VIDAUDIT_PW_OVERVIEW}",
                    "channels": [
                        {
                            "id": f"{bid}-C1",
                            "name": "柜台",
                            "role": "counter",
                            "ref": {"channel": 1},
                        },
                        {"id": f"{bid}-C2", "name": "大厅", "role": "lobby", "ref": {"channel": 2}},
                    ],
                }
            ],
        }

    return yaml.safe_dump(
        {
            "timezone": "Asia/Shanghai",
            "branches": [
                branch("B1", "城关支行", "Asia/Shanghai", "城关片区"),
                branch("B2", "河西分理处", "Asia/Urumqi", "河西片区"),
                branch("B3", "东关分理处", "Asia/Shanghai", "城关片区"),
            ],
        },
        allow_unicode=True,
    )


def at(tz: ZoneInfo, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=tz)


class Facts:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.runs: dict[dt.datetime, int] = {}
        self.run_id = self.run(SYNCED)
        self.user = create_user(
            session,
            username="facts",
            password="not used by this test at all",
            role="security",
            branch_id=None,
            display_name=None,
            now=SYNCED,
        )
        self.review_id: int | None = None

    def run(self, when: dt.datetime) -> int:
        """The run an observation stamped ``when`` came from (started a minute before)."""
        if when not in self.runs:
            started = when - dt.timedelta(minutes=1)
            row = CollectionRunRow(
                started_at=started, finished_at=when, status="completed", policy={}
            )
            self.session.add(row)
            self.session.flush()
            self.runs[when] = row.id
        return self.runs[when]

    def poll(
        self, branch: str, when: dt.datetime, online: bool, drift: float | None, rules: list[str]
    ) -> None:
        self.session.add(
            DeviceObservationRow(
                run_id=self.run(when),
                device_id=f"{branch}-NVR",
                branch_id=branch,
                observed_at=when,
                online=online,
                error_kind=None if online else "unreachable",
                error_message=None,
                clock_drift_s=drift,
                manufacturer=None,
                model=None,
                firmware=None,
                services=[],
                violations=[{"rule": r} for r in rules],
            )
        )

    def channel(
        self,
        channel: str,
        when: dt.datetime,
        retention: float | None,
        gaps: list[Any] | None,
        missing: list[tuple[str, float]],
        rules: list[str],
    ) -> None:
        branch = channel.split("-")[0]
        self.session.add(
            ChannelObservationRow(
                run_id=self.run(when),
                channel_id=channel,
                device_id=f"{branch}-NVR",
                branch_id=branch,
                observed_at=when,
                recording_state="recording",
                earliest=None,
                latest=None,
                retention_days=retention,
                required_days=30,
                verified=False,
                occupancy=None,
                gaps=gaps,
                business_days=[{"date": d, "covered": False, "missing_min": m} for d, m in missing],
                business_hours_covered=not missing,
                audio=None,
                compliant=not rules,
                violations=[{"rule": r} for r in rules],
            )
        )

    def snapshot(self, channel: str, when: dt.datetime, verdict: str | None) -> None:
        self.session.add(
            SnapshotRow(
                channel_id=channel,
                taken_at=when,
                run_id=self.run_id,
                evidence_sha256=None,
                diagnostics={} if verdict is None else {"verdict": verdict, "checks": {}},
                error="timeout" if verdict is None else None,
            )
        )

    def check(self, branch: str, day: int) -> None:
        self.session.add(
            DailyCheckRow(
                branch_id=branch,
                day=dt.date(2026, 11, day),
                user_id=self.user.id,
                confirmed_at=at(SH, day, 9),
                run_id=None,
                outcome="ok",
            )
        )

    def review(self, branch: str, when: dt.datetime, role: str) -> int:
        entry = append(
            self.session,
            Entry(actor="facts", actor_role=role, action="review", reason="weekly"),
            when,
        )
        row = ReviewRow(
            task_id=None,
            branch_id=branch,
            channel_id=f"{branch}-C1",
            reviewer_id=self.user.id,
            reviewer_role=role,
            window_start=when - dt.timedelta(hours=1),
            window_end=when,
            submitted_at=when,
            items={},
            summary="",
            register_seq=entry.seq,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def finding(self, branch: str, deadline: int, fixed_at: dt.datetime | None) -> None:
        if self.review_id is None:
            self.review_id = self.review("B1", at(SH, 2, 10), "security")
        row = FindingRow(
            review_id=self.review_id,
            branch_id=branch,
            channel_id=f"{branch}-C1",
            item_code="counter",
            note="",
            frames=[],
            owner_id=None,
            deadline=dt.date(2026, 11, deadline),
            status="open" if fixed_at is None else "fixed",
            created_at=SYNCED,
            updated_at=SYNCED,
            version=1 if fixed_at is None else 2,
        )
        self.session.add(row)
        self.session.flush()
        if fixed_at is not None:
            self.session.add(
                FindingEventRow(
                    finding_id=row.id,
                    at=fixed_at,
                    actor_id=self.user.id,
                    action="fixed",
                    from_status="open",
                    to_status="fixed",
                    note="修好了",
                    evidence_sha256=None,
                    version=2,
                )
            )


def write_polls(f: Facts) -> None:
    """The device polls of B1 and B2 (the web tests use these alone)."""
    # B1 Monday: 4 polls, 3 online; of those, 2 read the clock and 1 was within the limit
    f.poll("B1", at(SH, 16, 9), True, 2.0, [])
    f.poll("B1", at(SH, 16, 12), True, 420.0, ["R3.clock"])
    f.poll("B1", at(SH, 16, 15), True, None, [])
    f.poll("B1", at(SH, 16, 18), False, None, ["R6.offline"])
    # B1 today: 1 poll, online, clock fine
    f.poll("B1", at(SH, 18, 10), True, 5.0, [])
    # B2: Sunday 23:30 Urumqi is Monday 01:30 Beijing - last week for B2
    f.poll("B2", at(UR, 15, 23, 30), False, None, ["R6.offline"])
    # B2 Tuesday: two polls, both online, no clock read
    f.poll("B2", at(UR, 17, 10), True, None, [])
    f.poll("B2", at(UR, 17, 23, 30), True, None, [])


def write_fixture(session: Session) -> None:
    f = Facts(session)
    # --- device polls --------------------------------------------------------------------
    write_polls(f)
    # B3 last Tuesday: one of two polls online
    f.poll("B3", at(SH, 10, 9), True, None, [])
    f.poll("B3", at(SH, 10, 18), False, None, ["R6.offline"])
    # --- channel observations (only each channel's last of the day counts) ---------------
    f.channel("B1-C1", at(SH, 16, 12), 40.0, [], [], [])
    f.channel(
        "B1-C1",
        at(SH, 16, 18),
        25.0,
        [],
        [("2026-11-16", 60)],
        ["R1.retention", "R2.business_hours"],
    )
    f.channel("B1-C2", at(SH, 16, 18), 35.0, None, [], [])  # footage unknown: no recording
    # today at 10:00: 08:30-10:00 = 90 minutes needed so far
    f.channel("B1-C1", at(SH, 18, 10), 40.0, [], [], [])
    f.channel("B1-C2", at(SH, 18, 10), 40.0, [], [("2026-11-18", 30)], ["R2.business_hours"])
    # B2 Tuesday: missing "600" minutes of a 540-minute need counts as 540; retention unread
    f.channel("B2-C1", at(UR, 17, 23), None, [], [("2026-11-17", 600)], ["R2.business_hours"])
    # B2 today 00:30 Urumqi: before opening, nothing needed yet; retention read and fine
    f.channel("B2-C1", at(UR, 18, 0, 30), 31.0, [], [], [])
    # B3 last Tuesday: short retention, recording whole
    f.channel("B3-C1", at(SH, 10, 18), 10.0, [], [], ["R1.retention"])
    # --- live pictures (each channel's last picture taken that day counts) ---------------
    f.snapshot("B1-C1", at(SH, 16, 9), "fail")
    f.snapshot("B1-C1", at(SH, 16, 15), "ok")
    f.snapshot("B1-C2", at(SH, 16, 9), "fail")
    f.snapshot("B1-C2", at(SH, 16, 16), None)  # not taken: does not count
    # --- duties (defaults: daily check, 2 administrator and 1 head review a week) --------
    for day in (9, 10, 11, 16):
        f.check("B1", day)
    f.review("B1", at(SH, 10, 11), "administrator")
    f.review("B1", at(SH, 12, 11), "administrator")
    f.review("B1", at(SH, 17, 11), "branch_head")
    # --- findings: deadline, when the fix was reported --------------------------------------
    f.finding("B1", 17, at(SH, 17, 16, 59))  # on time
    f.finding("B1", 16, at(SH, 17, 0, 30))  # late
    f.finding("B1", 16, None)  # overdue
    f.finding("B1", 20, None)  # not due yet: not counted
    f.finding("B1", 19, at(SH, 18, 9))  # fixed early: counted, on time
    f.finding("B2", 17, at(UR, 17, 23, 30))  # on time in Urumqi (01:30 next day in Beijing)


@pytest.fixture
def sessions(db_url: str, monkeypatch: pytest.MonkeyPatch) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    made = make_sessionmaker(engine)
    inventory = parse_inventory(inventory_yaml(), "site.yaml")
    with made.begin() as session:
        sync_inventory(session, inventory, source="site.yaml", now=SYNCED)
        write_fixture(session)
    return made


def overview(sessions: sessionmaker[Session], now: dt.datetime = NOW) -> Overview:
    with sessions() as session:
        rows = list(session.scalars(select(BranchRow).order_by(BranchRow.id)))
        inventory = parse_inventory(inventory_yaml(), "site.yaml")
        return build_overview(session, rows, now, inventory.policy, inventory)


def rates(tallies: dict[I, Any]) -> dict[I, float | None]:
    return {indicator: tallies[indicator].rate if indicator in tallies else None for indicator in I}


def test_this_week_per_branch_region_and_bank(sessions: sessionmaker[Session]) -> None:
    result = overview(sessions)
    assert len(result.mondays) == 12 and result.mondays[-1] == THIS_WEEK
    branches = {b.key: b for b in result.branches}
    b1 = rates(branches["B1"].this_week)
    assert b1 == pytest.approx(
        {
            I.ONLINE: 4 / 5,  # Monday 3 of 4, today 1 of 1
            I.CLOCK: 2 / 3,  # Monday 1 of 2 read, today 1 of 1
            I.RECORDING: 630 / 720,  # 540 (60 missing) + 90 + 90 (30 missing)
            I.RETENTION: 3 / 4,  # Monday C1 short, C2 fine; today both fine
            I.PICTURE: 1 / 2,  # C1's last picture passed, C2's last taken one failed
            I.DUTIES: 2 / 3,  # D1 Mon yes, Tue no; D2 not met yet (open); D3 met
            I.RECTIFICATION: 2 / 4,  # on time, late, overdue, early; the 20th not due
        }
    )
    b2 = rates(branches["B2"].this_week)
    assert b2 == pytest.approx(
        {
            I.ONLINE: 2 / 2,  # the Sunday-night failure is last week in Urumqi
            I.CLOCK: None,
            I.RECORDING: 0 / 540,
            I.RETENTION: 1 / 1,
            I.PICTURE: None,
            I.DUTIES: 0 / 2,  # no daily check on Monday or Tuesday
            I.RECTIFICATION: 1 / 1,  # fixed 23:30 on its deadline day, Urumqi time
        }
    )
    b3 = rates(branches["B3"].this_week)
    assert b3[I.DUTIES] == 0 / 2 and b3[I.ONLINE] is None

    regions = {r.key: r for r in result.regions}
    assert list(regions) == ["城关片区", "河西片区"]
    chengguan = rates(regions["城关片区"].this_week)  # B1 + B3
    assert chengguan[I.ONLINE] == pytest.approx(4 / 5)
    assert chengguan[I.DUTIES] == pytest.approx(2 / 5)  # B1 2 of 3, B3 0 of 2
    assert rates(regions["河西片区"].this_week) == pytest.approx(b2)

    bank = rates(result.bank.this_week)
    assert bank == pytest.approx(
        {
            I.ONLINE: 6 / 7,
            I.CLOCK: 2 / 3,
            I.RECORDING: 630 / 1260,
            I.RETENTION: 4 / 5,
            I.PICTURE: 1 / 2,
            I.DUTIES: 2 / 7,
            I.RECTIFICATION: 3 / 5,
        }
    )
    # ranked by the mean of this week's known rates: B3 0, B2 0.6, B1 ~0.68
    assert [b.key for b in result.worst] == ["B3", "B2", "B1"]


def test_last_week_and_the_trend(sessions: sessionmaker[Session]) -> None:
    result = overview(sessions)
    last = rates(result.bank.weeks[-2])
    assert result.mondays[-2] == LAST_WEEK
    assert last[I.ONLINE] == pytest.approx(1 / 3)  # B2's Sunday night 0 of 1, B3 1 of 2
    assert last[I.RETENTION] == 0.0  # B3's one channel short
    assert last[I.RECORDING] == 1.0  # B3 whole day covered
    # D1 5 days x 3 branches (B1 checked 3), D2 and D3 per branch (B1's D2 met)
    assert last[I.DUTIES] == pytest.approx(4 / 21)
    assert last[I.RECTIFICATION] is None
    online = result.bank.trend(I.ONLINE)
    assert len(online) == 12
    assert online[-2:] == pytest.approx([1 / 3, 6 / 7])
    assert all(rate is None for rate in online[:-2])
    # weeks before the inventory listed the branches owe no duties
    assert all(rate is None for rate in result.bank.trend(I.DUTIES)[:-4])


def test_ended_days_are_kept_and_today_is_not(sessions: sessionmaker[Session]) -> None:
    first = overview(sessions)
    with sessions() as session:
        kept = {(r.branch_id, r.day) for r in session.scalars(select(IndicatorDayRow))}
    assert ("B1", dt.date(2026, 11, 16)) in kept
    assert ("B2", dt.date(2026, 11, 17)) in kept
    assert ("B1", dt.date(2026, 11, 18)) not in kept  # today, still counting
    # the second reading comes from the kept days and says the same
    assert rates(overview(sessions).bank.this_week) == rates(first.bank.this_week)
    # just after midnight yesterday is not kept yet: its last run may still be storing
    overview(sessions, at(SH, 19, 0, 30))
    with sessions() as session:
        kept = {(r.branch_id, r.day) for r in session.scalars(select(IndicatorDayRow))}
    assert ("B1", dt.date(2026, 11, 18)) not in kept


def test_housekeeping_keeps_every_ended_day_first(sessions: sessionmaker[Session]) -> None:
    inventory = parse_inventory(inventory_yaml(), "site.yaml")
    with sessions() as session:
        kept = keep_ended_days(session, NOW, inventory.policy, inventory)
    # three branches listed on 1 November, each with 1-17 November ended: 17 days each
    assert kept == 3 * 17
    with sessions() as session:
        assert keep_ended_days(session, NOW, inventory.policy, inventory) == 0
        monday = session.get(IndicatorDayRow, ("B1", dt.date(2026, 11, 16)))
        assert monday is not None
        assert (monday.device_polls, monday.device_online) == (4, 3)
        assert (monday.clock_polls, monday.clock_ok) == (2, 1)
        assert (monday.record_required_min, monday.record_missing_min) == (540, 60)
        assert (monday.picture_channels, monday.picture_ok) == (2, 1)


def test_duty_tally_counts_d9_days_of_off_site_atms() -> None:
    """D9 beside D1-D3, by hand: a Wednesday with Monday and Tuesday ended."""
    duties = WeekDuties(
        branch_id="B1",
        week_start=THIS_WEEK,
        admin_reviews=2,  # D2 met already: counts 1 of 1 before the week is over
        admin_required=2,
        head_reviews=0,  # D3 not met, week not over: not due yet
        head_required=1,
        check_days=[dt.date(2026, 11, 16), dt.date(2026, 11, 17)],
        checked_days=[dt.date(2026, 11, 17)],  # D1: 1 of 2
        finished=False,
    )

    def atm_day(channel: str, day: int, counted: int, today: bool = False) -> PatrolDay:
        return PatrolDay(channel, dt.date(2026, 11, day), counted, counted, 6, today)

    patrol = [
        atm_day("ATM1", 16, 6),  # met
        atm_day("ATM1", 17, 5),  # missed
        atm_day("ATM1", 18, 2, today=True),  # today, still open: not counted
        atm_day("ATM2", 16, 7),  # met
        atm_day("ATM2", 17, 6),  # met
        atm_day("ATM2", 18, 6, today=True),  # today, already met: counted
    ]
    # D1 1/2 + D2 1/1 + D9 4/5 = 6 of 8
    assert duty_tally(duties, patrol) == Tally(6, 8)
    # listed on Tuesday: Monday's check was not yet its duty
    assert duty_tally(duties, [], since=dt.date(2026, 11, 17)) == Tally(2, 2)
