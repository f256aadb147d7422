"""Duties (D1–D3) and the administrator's daily check, on a known dataset.

The clock is Thursday 2026-11-19 10:00 Beijing time; branch B1 is open Monday–Saturday.
This week B1 has one administrator review (D2 needs two: due), one branch-head review
(D3 met) and daily checks on Monday and Wednesday but not Tuesday (D1 missed)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import WebEnv, csrf_from
from vidaudit.db.models import (
    BranchResultRow,
    BranchRow,
    ChannelObservationRow,
    CollectionRunRow,
    DailyCheckRow,
    DeviceObservationRow,
    FaultTicketRow,
    FindingEventRow,
    FindingRow,
    ReviewRow,
    SnapshotRow,
    UserRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.media.jpeg import encode_jpeg
from vidaudit.picture.diagnostics import PRECEDENCE, diagnose, diagnosis_json
from vidaudit.review.register import Entry, append
from vidaudit.sim.plan import Picture
from vidaudit.sim.snapshot import draw
from vidaudit.web.i18n import LANGUAGES, Catalogue
from vidaudit.web.views.duties_snapshots import ERROR_KINDS, PATROL_ROLES

CST = dt.timezone(dt.timedelta(hours=8))
#: Thursday 10:00 in Beijing
NOW = dt.datetime(2026, 11, 19, 10, 0, tzinfo=CST).astimezone(dt.UTC)
MONDAY = dt.date(2026, 11, 16)
MON_SAT = {
    "week": {
        **{d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
        "sun": "closed",
    },
    "closed_dates": [],
    "special_days": {},
}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """November ``day`` 2026 at ``hour`` Beijing time, as UTC."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=CST).astimezone(dt.UTC)


@pytest.fixture(autouse=True)
def evidence_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: keep evidence files out of the repository's data/."""
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))


def user_id(db: Session, username: str) -> int:
    return db.scalars(select(UserRow.id).where(UserRow.username == username)).one()


def add_review(
    db: Session, username: str, role: str, channel: str, when: dt.datetime, summary: str = ""
) -> ReviewRow:
    entry = append(
        db,
        Entry(actor=username, actor_role=role, action="review", reason="weekly review"),
        when,
    )
    review = ReviewRow(
        task_id=None,
        branch_id=channel.split("-")[0],
        channel_id=channel,
        reviewer_id=user_id(db, username),
        reviewer_role=role,
        window_start=when - dt.timedelta(hours=2),
        window_end=when - dt.timedelta(hours=1),
        submitted_at=when,
        items={},
        summary=summary or f"{role} review",
        register_seq=entry.seq,
    )
    db.add(review)
    db.flush()
    return review


def add_check(db: Session, branch: str, day: dt.date, outcome: str = "ok") -> None:
    db.add(
        DailyCheckRow(
            branch_id=branch,
            day=day,
            user_id=user_id(db, "admin"),
            confirmed_at=dt.datetime.combine(day, dt.time(9), tzinfo=CST),
            run_id=None,
            outcome=outcome,
        )
    )


def add_run(db: Session, when: dt.datetime) -> int:
    """A finished collection run in which B1 breaks R1, R2, R3 and R4."""
    run = CollectionRunRow(
        started_at=when,
        finished_at=when,
        status="completed",
        devices=2,
        devices_down=1,
        channels=4,
        channels_compliant=1,
        violations=6,
        policy={},
    )
    db.add(run)
    db.flush()

    def violation(rule: str, severity: str, detail: str) -> dict[str, Any]:
        return {"rule": rule, "severity": severity, "detail": detail, "evidence": {}}

    db.add_all(
        [
            DeviceObservationRow(
                run_id=run.id,
                device_id="B1-NVR",
                branch_id="B1",
                observed_at=when,
                online=True,
                clock_drift_s=95.0,
                services=[],
                violations=[violation("R3.clock", "major", "device clock is +95 s off")],
            ),
            DeviceObservationRow(
                run_id=run.id,
                device_id="B2-NVR",
                branch_id="B2",
                observed_at=when,
                online=False,
                error_kind="timeout",
                services=[],
                violations=[violation("R6.offline", "critical", "device cannot be read")],
            ),
        ]
    )

    def channel(cid: str, violations: list[dict[str, Any]]) -> ChannelObservationRow:
        return ChannelObservationRow(
            run_id=run.id,
            channel_id=cid,
            device_id=cid.rsplit("-", 1)[0] + "-NVR",
            branch_id=cid.split("-")[0],
            observed_at=when,
            recording_state="recording",
            required_days=30,
            verified=False,
            business_days=[],
            compliant=not violations,
            violations=violations,
        )

    db.add_all(
        [
            channel(
                "B1-C1",
                [
                    violation("R1.retention", "critical", "footage held 21.0 days, 30 required"),
                    violation("R2.business_hours", "major", "2026-11-18: 47 min missing"),
                ],
            ),
            channel(
                "B1-C2", [violation("R4.picture", "major", "live picture abnormal: no_signal")]
            ),
            channel("B2-C1", [violation("R6.offline", "critical", "device cannot be read")]),
            channel("B2-C2", []),
        ]
    )
    db.add_all(
        [
            BranchResultRow(
                run_id=run.id,
                branch_id="B1",
                observed_at=when,
                compliant=False,
                devices_down=0,
                channels=2,
                channels_compliant=0,
                violations=4,
            ),
            BranchResultRow(
                run_id=run.id,
                branch_id="B2",
                observed_at=when,
                compliant=False,
                devices_down=1,
                channels=2,
                channels_compliant=1,
                violations=2,
            ),
        ]
    )
    db.add(
        FaultTicketRow(
            branch_id="B1",
            subject_kind="channel",
            subject_id="B1-C1",
            rule="R1.retention",
            severity="critical",
            detail="footage held 21.0 days, 30 required",
            evidence={},
            owner_role="administrator",
            notify_roles=["branch_head", "security"],
            opened_at=when,
            last_seen_at=when,
            closed_at=None,
            opened_run_id=run.id,
            closed_run_id=None,
        )
    )
    db.flush()
    return run.id


def add_snapshot(
    db: Session,
    env: WebEnv,
    channel: str,
    picture: Picture,
    when: dt.datetime,
    error: str | None = None,
) -> SnapshotRow:
    sha = None
    diagnostics: dict[str, Any] = {}
    if error is None:
        image = draw(channel, picture, when)
        jpeg = encode_jpeg(image)
        store = EvidenceStore(env.settings.data_dir / "evidence")
        sha = store.put(db, jpeg, "image/jpeg", {"channel": channel}, when).sha256
        diagnostics = diagnosis_json(diagnose(image))
    row = SnapshotRow(
        channel_id=channel,
        taken_at=when,
        run_id=None,
        evidence_sha256=sha,
        diagnostics=diagnostics,
        error=error,
    )
    db.add(row)
    db.flush()
    return row


def add_finding(
    db: Session,
    review: ReviewRow,
    created: dt.datetime,
    deadline: dt.date,
    note: str,
    closed_at: dt.datetime | None = None,
) -> FindingRow:
    head = user_id(db, "head")
    finding = FindingRow(
        review_id=review.id,
        branch_id=review.branch_id,
        channel_id=review.channel_id,
        item_code="two_staff",
        note=note,
        frames=[],
        owner_id=head,
        deadline=deadline,
        status="closed" if closed_at else "open",
        created_at=created,
        updated_at=closed_at or created,
        version=2 if closed_at else 1,
    )
    db.add(finding)
    db.flush()
    db.add(
        FindingEventRow(
            finding_id=finding.id,
            at=created,
            actor_id=head,
            action="created",
            from_status=None,
            to_status="open",
            note="",
            version=1,
        )
    )
    if closed_at:
        db.add(
            FindingEventRow(
                finding_id=finding.id,
                at=closed_at,
                actor_id=head,
                action="closed",
                from_status="fixed",
                to_status="closed",
                note="checked",
                version=2,
            )
        )
    db.flush()
    return finding


def seed_week(env: WebEnv) -> None:
    """This week's known dataset (see the module docstring) plus a run and findings."""
    env.now = NOW
    with env.sessions.begin() as db:
        for branch in db.scalars(select(BranchRow)):
            branch.hours = MON_SAT
        admin_review = add_review(
            db, "admin", "administrator", "B1-C1", at(17, 11), "柜台双人临柜正常"
        )
        add_review(db, "head", "branch_head", "B1-C2", at(18, 15), "金库双人值守")
        add_check(db, "B1", dt.date(2026, 11, 16))
        add_check(db, "B1", dt.date(2026, 11, 18))
        add_run(db, at(19, 9, 30))
        # opened last week, due Monday, still open: overdue
        add_finding(db, admin_review, at(12, 10), dt.date(2026, 11, 16), "后门未锁")
        # opened this week, due next week: open, not overdue
        add_finding(db, admin_review, at(17, 11), dt.date(2026, 11, 25), "大额现金置于桌面")
        # opened last week, closed this week
        add_finding(
            db, admin_review, at(10, 10), dt.date(2026, 11, 20), "临时离岗未锁屏", at(18, 16)
        )


def text_of(html: str, element_id: str) -> str:
    """The text of the element with that id (up to its own closing tag; no nesting of the
    same tag inside, which holds for the rows and cells asked about)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(2))).strip()


@pytest.fixture
def seeded(web: WebEnv) -> Iterator[WebEnv]:
    seed_week(web)
    yield web


def test_duties_page_counts_the_known_week(seeded: WebEnv) -> None:
    with seeded.client_as("sec") as client:
        page = client.get("/duties")
        assert page.status_code == 200
        html = page.text
    assert "2026-11-16 – 2026-11-22" in html
    row = text_of(html, "duty-B1")
    # D1: Monday and Wednesday checked, Tuesday missing (today is still open)
    assert "未履行 2/3 天" in row and "11-17" in row and "今天的检查尚未确认" in row
    # D2: one administrator review of two, the week is not over: due
    assert "待完成 1 / 2" in row
    # D3: the head's review is there
    assert "已履行 1 / 1" in row
    b2 = text_of(html, "duty-B2")
    assert "0/3 天" in b2 and "0 / 2" in b2 and "0 / 1" in b2


def test_a_finished_week_turns_due_into_missed_and_history_lists_weeks(seeded: WebEnv) -> None:
    with seeded.client_as("head") as client:
        html = client.get("/duties?week=2026-W46&lang=en").text
        assert "2026-11-09 – 2026-11-15" in html
        row = text_of(html, "duty-B1")
        assert "Missed 0/6 days" in row and "Missed 0 / 2" in row and "Missed 0 / 1" in row
        assert 'id="duty-history"' in html  # one branch in scope: its recent weeks
        assert html.count('href="/duties?branch=B1&amp;week=2026-') >= 8
        # the head sees only their own branch
        assert 'id="duty-B2"' not in html
        assert client.get("/duties?branch=B2").status_code == 403
        assert client.get("/duties?week=not-a-week").status_code == 400


def test_only_the_branch_administrator_confirms_the_daily_check(seeded: WebEnv) -> None:
    with seeded.client_as("admin") as admin:
        assert admin.get("/duties/check").headers["location"] == "/duties/check/B1"
        page = admin.get("/duties/check/B1")
        assert page.status_code == 200
        assert text_of(page.text, "channels-ok") == "0 / 2"
        assert text_of(page.text, "violations") == "4"
        assert "R1.retention" in page.text and "R3.clock" in page.text
        token = csrf_from(page.text)
        assert admin.get("/duties/check/B2").status_code == 403
        refused = admin.post(
            "/duties/check/B2", data={"outcome": "ok", "note": "", "csrf_token": token}
        )
        assert refused.status_code == 403
        assert admin.get("/duties/check/NOPE").status_code == 404

        done = admin.post(
            "/duties/check/B1",
            data={"outcome": "ok", "note": "画面均正常", "csrf_token": token},
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=new")
        again = admin.post(
            "/duties/check/B1",
            data={"outcome": "problems", "note": "3号柜台偏暗", "csrf_token": token},
        )
        assert again.headers["location"].endswith("?done=added")
        page = admin.get("/duties/check/B1?done=added").text
        assert "原记录保留" in page
        said = text_of(page, "confirmations")
        assert said.index("画面均正常") < said.index("3号柜台偏暗")
        assert said.count("监控管理员刘强") == 2 and "发现问题" in said
    with seeded.sessions() as db:
        rows = list(
            db.scalars(select(DailyCheckRow).where(DailyCheckRow.day == dt.date(2026, 11, 19)))
        )
        assert len(rows) == 1 and rows[0].outcome == "problems" and rows[0].run_id is not None
    # today is checked now: D1 no longer says today is pending
    with seeded.client_as("sec") as client:
        assert "今天的检查尚未确认" not in text_of(client.get("/duties").text, "duty-B1")
    for username in ("head", "sec", "insp", "audit"):
        with seeded.client_as(username) as other:
            assert other.get("/duties/check/B1").status_code == 403


def test_the_daily_check_shows_latest_snapshot_verdicts(seeded: WebEnv) -> None:
    with seeded.sessions.begin() as db:
        add_snapshot(db, seeded, "B1-C1", Picture.NORMAL, at(19, 9, 31))
        add_snapshot(db, seeded, "B1-C2", Picture.BLACK, at(19, 9, 31))
    with seeded.client_as("admin") as admin:
        html = admin.get("/duties/check/B1").text
    assert text_of(html, "snapshots-failed") == "1 / 2"
    assert "黑屏/无信号" in html and 'src="/patrol/snapshot/' in html


def test_data_built_message_keys_exist() -> None:
    from tests.conftest import REPO

    catalogue = Catalogue.load(REPO / "web" / "locales")
    needed = (
        {f"patrol.check_{name}" for name in (*PRECEDENCE, "unknown")}
        | {f"patrol.role_{role}" for role in PATROL_ROLES}
        | {f"patrol.error_{kind}" for kind in ERROR_KINDS}
        | {f"duties.status_{s}" for s in ("met", "due", "missed")}
        | {f"duties.outcome_{o}" for o in ("ok", "problems")}
        | {f"duties.check_done_{d}" for d in ("new", "added")}
    )
    for lang in LANGUAGES:
        assert needed <= set(catalogue.messages[lang]), needed - set(catalogue.messages[lang])


def test_twenty_administrators_confirming_fifty_times_at_once_lose_nothing(web: WebEnv) -> None:
    """The pen test's 20 x 50 concurrent confirmations: SQLite kept 768 of 1,000 and
    PostgreSQL 485 with two rows for one day.  Every confirmation is its own row now."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from vidaudit.db.models import DailyCheckConfirmationRow

    clients = [web.client_as("admin") for _ in range(20)]
    tokens = [csrf_from(c.get("/duties/check/B1").text) for c in clients]
    start = threading.Barrier(20)

    def confirm_fifty(n: int) -> list[int]:
        start.wait(timeout=30)
        return [
            clients[n]
            .post(
                "/duties/check/B1",
                data={
                    "outcome": "problems" if (n, i) == (7, 31) else "ok",
                    "note": f"client {n} confirmation {i}",
                    "csrf_token": tokens[n],
                },
            )
            .status_code
            for i in range(50)
        ]

    with ThreadPoolExecutor(20) as pool:
        statuses = [s for batch in pool.map(confirm_fifty, range(20)) for s in batch]
    for client in clients:
        client.close()
    assert statuses == [303] * 1000
    with web.sessions() as db:
        checks = list(db.scalars(select(DailyCheckRow).where(DailyCheckRow.branch_id == "B1")))
        notes = set(db.scalars(select(DailyCheckConfirmationRow.note)))
    assert len(checks) == 1 and checks[0].outcome == "problems"
    assert notes == {f"client {n} confirmation {i}" for n in range(20) for i in range(50)}
