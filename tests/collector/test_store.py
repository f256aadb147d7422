"""Runs are stored; fault tickets open on failure and close only when the check passes."""

from __future__ import annotations

import datetime as dt

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.collector.history import last_compliant, open_tickets, retention_trend
from vidaudit.collector.model import ChannelReport, DeviceReport, RunReport
from vidaudit.collector.store import start_run, store_run
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
from vidaudit.db.models import ChannelObservationRow, CollectionRunRow, FaultTicketRow
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
SHORT = Violation("R1.retention", Severity.CRITICAL, "12 days held", {"held_days": 12.0})


def setup(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    text = yaml.safe_dump(minimal(), allow_unicode=True)
    with sessions.begin() as s:
        sync_inventory(s, parse_inventory(text), source="t", now=T0)
    return sessions


def run(
    sessions: sessionmaker[Session],
    at: dt.datetime,
    *,
    online: bool = True,
    c1: list[Violation] = (),
    held: float | None = 31.0,
):  # type: ignore[assignment]
    policy = parse_inventory(yaml.safe_dump(minimal())).policy
    status = DeviceStatus("B1-NVR", online, None if online else ErrorKind.TIMEOUT)
    dev_v = [] if online else [Violation("R6.offline", Severity.CRITICAL, "timeout")]
    channels = []
    for cid, violations in (("B1-C1", list(c1)), ("B1-C2", [])):
        if not online:
            violations = [Violation("R6.offline", Severity.CRITICAL, "device down")]
        result = ChannelResult(
            cid, 30, held if online else None, False, 1.0, [], [], True, None, violations
        )
        channels.append(
            ChannelReport(cid, "B1-NVR", "B1", "counter", ChannelEvidence(cid, True, True), result)
        )
    report = RunReport(
        at, at, policy, [DeviceReport("B1-NVR", "B1", status, violations=dev_v)], channels
    )
    with sessions.begin() as s:
        run_id = start_run(s, at, policy)
        return store_run(s, run_id, report)


def tickets(sessions: sessionmaker[Session]) -> list[tuple[str, str, bool, int]]:
    with sessions() as s:
        rows = s.scalars(select(FaultTicketRow).order_by(FaultTicketRow.id)).all()
        return [(t.subject_id, t.rule, t.closed_at is None, t.occurrences) for t in rows]


def test_ticket_lifecycle(db_url: str) -> None:
    sessions = setup(db_url)
    assert run(sessions, T0, c1=[SHORT]).opened == 1
    assert tickets(sessions) == [("B1-C1", "R1.retention", True, 1)]
    # still failing: same ticket, seen again
    changes = run(sessions, T0 + dt.timedelta(hours=1), c1=[SHORT])
    assert (changes.opened, changes.updated) == (0, 1)
    # device down: the retention ticket cannot be judged, stays open; an offline one opens
    down = run(sessions, T0 + dt.timedelta(hours=2), online=False)
    assert (down.opened, down.closed) == (1, 0)
    assert tickets(sessions) == [
        ("B1-C1", "R1.retention", True, 2),
        ("B1-NVR", "R6.offline", True, 1),
    ]
    # back online and passing: both close, with who must act recorded
    up = run(sessions, T0 + dt.timedelta(hours=3))
    assert up.closed == 2
    assert [t[2] for t in tickets(sessions)] == [False, False]
    with sessions() as s:
        ticket = s.scalars(select(FaultTicketRow)).first()
        assert ticket is not None and ticket.owner_role == "administrator"
        assert ticket.notify_roles == ["branch_head", "security"]
        assert ticket.opened_at == T0 and ticket.closed_at == T0 + dt.timedelta(hours=3)
        assert open_tickets(s) == []


def test_history_queries(db_url: str) -> None:
    sessions = setup(db_url)
    run(sessions, T0, c1=[SHORT], held=12.0)
    run(sessions, T0 + dt.timedelta(days=1), held=31.0)
    run(sessions, T0 + dt.timedelta(days=2), c1=[SHORT], held=12.0)
    with sessions() as s:
        trend = retention_trend(s, "B1-C1", T0)
        assert [p.retention_days for p in trend] == [12.0, 31.0, 12.0]
        assert [p.compliant for p in trend] == [False, True, False]
        assert last_compliant(s, "B1") == T0 + dt.timedelta(days=1)
        runs = s.scalars(select(CollectionRunRow).order_by(CollectionRunRow.id)).all()
        assert [r.status for r in runs] == ["completed"] * 3
        assert [r.channels_compliant for r in runs] == [1, 2, 1]
        assert len(s.scalars(select(ChannelObservationRow)).all()) == 6


def test_picture_ticket_closes_only_when_a_picture_was_judged(db_url: str) -> None:
    sessions = setup(db_url)
    black = Violation("R4.picture", Severity.MAJOR, "live picture abnormal: no_signal")
    policy = parse_inventory(yaml.safe_dump(minimal())).policy

    def picture_run(at: dt.datetime, violations: list[Violation], judged: bool) -> None:
        status = DeviceStatus("B1-NVR", True)
        channels = [
            ChannelReport(
                cid,
                "B1-NVR",
                "B1",
                "counter",
                ChannelEvidence(cid, True, True),
                ChannelResult(
                    cid,
                    30,
                    31.0,
                    False,
                    1.0,
                    [],
                    [],
                    True,
                    None,
                    list(violations) if cid == "B1-C1" else [],
                ),
            )
            for cid in ("B1-C1", "B1-C2")
        ]
        report = RunReport(
            at,
            at,
            policy,
            [DeviceReport("B1-NVR", "B1", status)],
            channels,
            pictures_checked=frozenset({"B1-C1", "B1-C2"}) if judged else frozenset(),
        )
        with sessions.begin() as s:
            store_run(s, start_run(s, at, policy), report)

    picture_run(T0, [black], judged=True)
    picture_run(T0 + dt.timedelta(hours=1), [], judged=False)  # no snapshots this run
    assert tickets(sessions) == [("B1-C1", "R4.picture", True, 1)]
    picture_run(T0 + dt.timedelta(hours=2), [], judged=True)
    assert tickets(sessions) == [("B1-C1", "R4.picture", False, 1)]
