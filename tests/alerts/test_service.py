"""The alert rules, the throttle, routing and the outbox, on a clock the test moves, with a
real HTTP receiver (a generic JSON webhook per audience) on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.collector.test_store import SHORT, run, setup
from tests.inventory.test_load import minimal
from tests.notify.receivers import HttpReceiver
from vidaudit.alerts.service import AlertService
from vidaudit.alerts.throttle import claim
from vidaudit.collector.model import DeviceReport, RunReport
from vidaudit.collector.store import start_run, store_run
from vidaudit.compliance.model import DeviceStatus, Severity, Violation
from vidaudit.db.models import (
    AlertOutboxRow,
    ApprovalRow,
    FaultTicketRow,
    FindingRow,
    UserRow,
)
from vidaudit.inventory import parse_inventory
from vidaudit.review.daily_checks import confirm
from vidaudit.review.tickets import Action, TicketChange, apply_change
from vidaudit.settings import Settings
from vidaudit.web.i18n import Catalogue
from vidaudit.web.state import WEB_ROOT

TZ = ZoneInfo("Asia/Shanghai")
#: Monday 2026-11-23, 07:00 in the branch (before daily_at 08:30 and daily_check_by 10:00)
MONDAY_7 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=TZ)
TEXTS = Catalogue.load(WEB_ROOT / "locales").translator
#: the daily and weekly alerts switched off, for tests about the others
ONLY_IMMEDIATE = {
    "weekly_report": {"enabled": False},
    "daily_check_missing": {"enabled": False},
}


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def settings(http: HttpReceiver, **notify: Any) -> Settings:
    hooks = {
        path: {"kind": "webhook", "url": http.url(f"/{path}"), "reaches": reaches}
        for path, reaches in (
            ("security", [{"role": "security"}]),
            ("b1-admin", [{"role": "administrator", "branches": ["B1"]}]),
            ("b1-head", [{"role": "branch_head", "branches": ["B1"]}]),
        )
    }
    return Settings.model_validate(
        {
            "notify": {
                "base_url": "https://v.bank.example/",
                "retry_base_s": 30,
                "max_attempts": 3,
                **notify,
                "channels": {**hooks, **notify.get("channels", {})},
            }
        }
    )


def add_user(
    s: Session, name: str, role: str, branch: str | None, email: str | None = None
) -> UserRow:
    user = UserRow(
        username=name,
        display_name=name,
        password_hash="x",
        role=role,
        branch_id=branch,
        locale="zh",
        created_at=MONDAY_7,
        disabled_at=None,
        email=email,
    )
    s.add(user)
    s.flush()
    return user


def offline_run(sessions: sessionmaker[Session], at: dt.datetime, online: bool = False) -> None:
    run(sessions, at, online=online)


def service(sessions: sessionmaker[Session], config: Settings, clock: Clock) -> AlertService:
    return AlertService(config, sessions, TEXTS, clock=clock)


def documents(http: HttpReceiver, path: str) -> list[Any]:
    return [r.json() for r in http.on(path)]


async def test_offline_alert_repeats_only_after_repeat_hours(
    db_url: str, http: HttpReceiver
) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    alerts = service(sessions, settings(http, repeat_hours=6, rules=ONLY_IMMEDIATE), clock)
    offline_run(sessions, clock.at)
    await alerts.after_collection()
    (first,) = documents(http, "/security")
    assert first["event"] == "device_offline"
    assert first["items"][0]["subject"] == "device:B1-NVR"
    assert first["items"][0]["link"].startswith("https://v.bank.example/tickets/")
    assert len(documents(http, "/b1-admin")) == 1
    assert documents(http, "/b1-head") == []  # not the head's alert
    for hours in (1, 5.9):
        clock.at = MONDAY_7 + dt.timedelta(hours=hours)
        offline_run(sessions, clock.at)
        await alerts.after_collection()
    assert len(documents(http, "/security")) == 1
    clock.at = MONDAY_7 + dt.timedelta(hours=6)
    await alerts.after_collection()
    second = documents(http, "/security")[1]
    assert "第 2 次提醒" in second["items"][0]["text"]


async def test_retries_back_off_then_give_up_with_why(db_url: str, http: HttpReceiver) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    alerts = service(sessions, settings(http, rules=ONLY_IMMEDIATE), clock)
    offline_run(sessions, clock.at)
    http.replies.extend([(500, {})] * 2)  # the first two POSTs fail (one per channel)
    drained = await alerts.after_collection()
    assert (drained.sent, drained.retrying) == (0, 2)
    with sessions() as s:
        rows = s.scalars(select(AlertOutboxRow).order_by(AlertOutboxRow.id)).all()
        assert {(r.state, r.attempts) for r in rows} == {("pending", 1)}
        assert all(r.next_attempt_at == clock() + dt.timedelta(seconds=30) for r in rows)
        assert all(r.last_error == "device_fault: webhook: HTTP 500" for r in rows)
    clock.move(seconds=29)
    assert (await alerts.drain()).sent == 0  # not yet due
    clock.move(seconds=1)
    assert (await alerts.drain()).sent == 2
    # a receiver that keeps failing: 30 s, then 60 s, then given up (max_attempts 3)
    clock.move(days=2)
    offline_run(sessions, clock.at)
    http.replies.extend([(503, {})] * 6)
    await alerts.after_collection()
    clock.move(seconds=30)
    await alerts.drain()
    clock.move(seconds=59)
    assert (await alerts.drain()).failed == 0
    clock.move(seconds=1)
    assert (await alerts.drain()).failed == 2
    with sessions() as s:
        failed = s.scalars(select(AlertOutboxRow).where(AlertOutboxRow.state == "failed")).all()
        assert [r.attempts for r in failed] == [3, 3]
        assert all("HTTP 503" in (r.last_error or "") for r in failed)


async def test_a_refusal_no_retry_can_fix_fails_at_once(db_url: str, http: HttpReceiver) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    config = settings(
        http,
        channels={
            "gone": {
                "kind": "wecom",
                "webhook": "${T_UNSET_WEBHOOK}",
                "reaches": [{"role": "security"}],
            },
        },
    )
    alerts = service(sessions, config, clock)
    offline_run(sessions, clock.at)
    http.replies.append((403, {}))
    drained = await alerts.after_collection()
    assert (drained.sent, drained.retrying, drained.failed) == (1, 0, 2)
    why = sorted(e.split(": ", 1)[1] for e in drained.errors)
    assert why == [
        "auth: webhook: HTTP 403",
        "config: environment variable T_UNSET_WEBHOOK is not set",
    ]


async def test_email_reaches_only_accounts_that_see_the_branch(
    db_url: str, http: HttpReceiver, tmp_path: Path
) -> None:
    from tests.notify.receivers import MailReceiver

    sessions = setup(db_url)
    with sessions.begin() as s:
        add_user(s, "sec", "security", None, "sec@bank.example")
        add_user(s, "adm1", "administrator", "B1", "adm1@bank.example")
        add_user(s, "aud", "auditor", None, "aud@bank.example")  # not reached
        add_user(s, "nomail", "administrator", "B1")
    clock = Clock(MONDAY_7)
    with MailReceiver(tmp_path) as smtp:
        config = settings(
            http,
            channels={
                "mail": {
                    "kind": "email",
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "username": smtp.username,
                    "password": "${T_SMTP}",
                    "sender": "v@bank.example",
                    "tls_ca_file": str(smtp.cert),
                    "to": ["duty@bank.example"],
                    "reaches": [
                        {"role": "security"},
                        {"role": "administrator"},
                        {"role": "auditor", "branches": ["B9"]},
                    ],
                }
            },
        )
        alerts = AlertService(
            config, sessions, TEXTS, clock=clock, environ={"T_SMTP": smtp.password}
        )
        offline_run(sessions, clock.at)
        await alerts.after_collection()
        got = sorted(m.rcpt_tos[0] for m in smtp.wait_for(3))
    assert got == ["adm1@bank.example", "duty@bank.example", "sec@bank.example"]


async def test_escalation_reaches_the_head_and_security(db_url: str, http: HttpReceiver) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    run(sessions, clock.at, c1=[SHORT])  # an R1 ticket: no immediate alert
    with sessions.begin() as s:
        head = add_user(s, "head", "branch_head", "B1")
        admin = add_user(s, "admin", "administrator", "B1")
        ticket = s.scalars(select(FaultTicketRow)).one()
        apply_change(
            s,
            ticket.id,
            head,
            TicketChange(
                Action.ASSIGN, 1, assignee_id=admin.id, due_at=clock() + dt.timedelta(hours=4)
            ),
            clock(),
        )
    alerts = service(sessions, settings(http, rules=ONLY_IMMEDIATE), clock)
    await alerts.after_collection()
    assert http.requests == []
    clock.move(hours=4, minutes=1)
    await alerts.after_collection()
    await alerts.after_collection()
    (head_doc,) = documents(http, "/b1-head")
    assert head_doc["event"] == "ticket_escalated" and "admin" in head_doc["items"][0]["text"]
    assert len(documents(http, "/security")) == 1
    assert documents(http, "/b1-admin") == []


async def test_daily_weekly_and_approvals_follow_the_branch_clock(
    db_url: str, http: HttpReceiver
) -> None:
    sessions = setup(db_url)
    with sessions.begin() as s:
        requester = add_user(s, "insp", "inspector", None)
        admin = add_user(s, "admin", "administrator", "B1")
        s.add(
            ApprovalRow(
                requester_id=requester.id,
                branch_id="B1",
                channel_id="B1-C1",
                range_start=MONDAY_7 - dt.timedelta(days=3),
                range_end=MONDAY_7 - dt.timedelta(days=3, minutes=-10),
                reason="核对大额取款",
                requested_at=MONDAY_7,
                status="pending",
                decided_by=None,
                decided_at=None,
            )
        )
    clock = Clock(MONDAY_7)
    alerts = service(sessions, settings(http), clock)
    await alerts.after_collection()  # 07:00: only the approval is due
    assert [d["event"] for d in documents(http, "/b1-head")] == ["approval_waiting"]
    assert "核对大额取款" in documents(http, "/b1-head")[0]["items"][0]["text"]
    clock.at = MONDAY_7.replace(hour=9, minute=5)  # weekly report (mon 09:00) for last week
    await alerts.after_collection()
    weekly = [d for d in documents(http, "/b1-head") if d["event"] == "weekly_report"]
    assert len(weekly) == 1
    assert "2026-11-16" in weekly[0]["items"][0]["text"]
    assert weekly[0]["items"][0]["link"].endswith("/reports/weekly?branch=B1&week=2026-11-16")
    clock.at = MONDAY_7.replace(hour=10, minute=0)  # daily_check_by: Monday is open
    await alerts.after_collection()
    await alerts.after_collection()
    missing = [d for d in documents(http, "/b1-admin") if d["event"] == "daily_check_missing"]
    assert len(missing) == 1 and "2026-11-23" in missing[0]["items"][0]["text"]
    # Tuesday: confirmed before 10:00, no alert; Sunday: closed, no alert either
    with sessions.begin() as s:
        confirm(
            s,
            branch_id="B1",
            day=dt.date(2026, 11, 24),
            user=s.merge(admin),
            outcome="ok",
            note="",
            run_id=None,
            now=MONDAY_7 + dt.timedelta(days=1),
        )
    for day in (1, 6):
        clock.at = MONDAY_7.replace(hour=11) + dt.timedelta(days=day)
        await alerts.after_collection()
    assert (
        len([d for d in documents(http, "/b1-admin") if d["event"] == "daily_check_missing"]) == 1
    )
    # a second week's report only once the next week's moment comes
    assert len([d for d in documents(http, "/b1-head") if d["event"] == "weekly_report"]) == 1


async def test_two_processes_never_queue_or_send_one_alert_twice(
    db_url: str, http: HttpReceiver
) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    config = settings(http)
    offline_run(sessions, clock.at)
    first, second = service(sessions, config, clock), service(sessions, config, clock)
    barrier = threading.Barrier(2)

    def sweep(alerts: AlertService) -> None:
        barrier.wait(timeout=10)
        alerts.sweep()

    threads = [threading.Thread(target=sweep, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with sessions() as s:
        assert len(s.scalars(select(AlertOutboxRow)).all()) == 2  # security + b1-admin
    await asyncio.gather(first.drain(), second.drain())
    assert len(http.requests) == 2


def test_throttle_claims(db_url: str) -> None:
    sessions = setup(db_url)
    t0 = MONDAY_7
    hour = dt.timedelta(hours=1)
    with sessions.begin() as s:
        assert claim(s, "k", t0, hour) == 1
        assert claim(s, "k", t0 + dt.timedelta(minutes=59), hour) == 0
        assert claim(s, "k", t0 + hour, hour) == 2
        assert claim(s, "once", t0, None) == 1
        assert claim(s, "once", t0 + dt.timedelta(days=400), None) == 0


async def test_without_channels_nothing_is_queued_but_tickets_still_escalate(
    db_url: str,
) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    run(sessions, clock.at, c1=[SHORT])
    with sessions.begin() as s:
        head = add_user(s, "head", "branch_head", "B1")
        ticket = s.scalars(select(FaultTicketRow)).one()
        apply_change(
            s,
            ticket.id,
            head,
            TicketChange(
                Action.ASSIGN, 1, assignee_id=head.id, due_at=clock() + dt.timedelta(hours=1)
            ),
            clock(),
        )
    alerts = AlertService(Settings(), sessions, TEXTS, clock=clock)
    clock.move(hours=2)
    assert alerts.sweep() == 0
    with sessions() as s:
        assert s.scalars(select(FaultTicketRow)).one().escalated_at == clock()
        assert s.scalars(select(AlertOutboxRow)).all() == []


async def test_a_disk_fault_ticket_is_an_immediate_alert(db_url: str, http: HttpReceiver) -> None:
    sessions = setup(db_url)
    clock = Clock(MONDAY_7)
    policy = parse_inventory(yaml.safe_dump(minimal())).policy
    disk = Violation("R6.storage", Severity.CRITICAL, "HDD 1 error", {"disk": 1})
    report = RunReport(
        clock(),
        clock(),
        policy,
        [DeviceReport("B1-NVR", "B1", DeviceStatus("B1-NVR", True), violations=[disk])],
        [],
    )
    with sessions.begin() as s:
        store_run(s, start_run(s, clock(), policy), report)
    await service(sessions, settings(http), clock).after_collection()
    (doc,) = documents(http, "/security")
    assert doc["event"] == "disk_failed" and "B1-NVR" in doc["items"][0]["text"]


async def test_overdue_rectifications_once_a_day_from_daily_at(
    db_url: str, http: HttpReceiver
) -> None:
    from tests.web.test_duties import add_finding, add_review

    sessions = setup(db_url)
    with sessions.begin() as s:
        add_user(s, "head", "branch_head", "B1")
        add_user(s, "sec", "security", None)
        review = add_review(s, "sec", "security", "B1-C1", MONDAY_7 - dt.timedelta(days=9))
        deadline = MONDAY_7.date() - dt.timedelta(days=2)
        finding = add_finding(s, review, MONDAY_7 - dt.timedelta(days=9), deadline, "柜台无人").id
        # one still within its deadline: not counted
        add_finding(s, review, MONDAY_7, MONDAY_7.date() + dt.timedelta(days=3), "未录音")
    clock = Clock(MONDAY_7)  # 07:00, before daily_at (08:30)
    alerts = service(sessions, settings(http, rules=ONLY_IMMEDIATE), clock)
    await alerts.after_collection()
    assert documents(http, "/b1-head") == []

    def overdue(path: str) -> list[Any]:
        return [d for d in documents(http, path) if d["event"] == "rectification_overdue"]

    clock.at = MONDAY_7.replace(hour=8, minute=31)
    await alerts.after_collection()
    clock.at = MONDAY_7.replace(hour=16)  # later the same day: not again
    await alerts.after_collection()
    (head,) = overdue("/b1-head")
    assert "1 项整改已逾期" in head["items"][0]["text"]
    assert f"最早截止 {deadline.isoformat()}" in head["items"][0]["text"]
    assert len(overdue("/security")) == 1 and overdue("/b1-admin") == []
    clock.at = MONDAY_7.replace(hour=8, minute=45) + dt.timedelta(days=1)  # the next day
    await alerts.after_collection()
    assert len(overdue("/b1-head")) == 2
    with sessions.begin() as s:  # fixed and closed: nothing more to say
        s.get(FindingRow, finding).status = "closed"  # type: ignore[union-attr]
    clock.move(days=1)
    await alerts.after_collection()
    assert len(overdue("/b1-head")) == 2
