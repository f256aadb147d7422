"""Reviews, findings and rectification as the people in the branch live them."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.inventory.test_load import minimal
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import (
    ChannelRow,
    EvidenceRow,
    FindingEventRow,
    FindingRow,
    RegisterEntryRow,
    SpotCheckPlanRow,
    SpotCheckTaskRow,
    UserRow,
)
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.schema import ChannelRole
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.access import Purpose, needs_approval
from vidaudit.review.daily_checks import confirmation_problem
from vidaudit.review.duties import week_duties
from vidaudit.review.findings import (
    Action,
    Change,
    FindingError,
    StaleFinding,
    apply_change,
    is_overdue,
)
from vidaudit.review.items import ITEMS, Verdict, items_for
from vidaudit.review.register import verify
from vidaudit.review.reviews import (
    ItemMark,
    ReviewError,
    may_review_task,
    reopen_task,
    submit_review,
)
from vidaudit.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=TZ)  # Friday
#: the evidence frame a failed item points at
FRAME = "f" * 64


def setup(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    data = minimal()
    other = yaml.safe_load(yaml.safe_dump(data["branches"][0]))  # type: ignore[index]
    other["id"], other["devices"][0]["id"] = "B2", "B2-NVR"
    for channel in other["devices"][0]["channels"]:
        channel["id"] = channel["id"].replace("B1", "B2")
    data["branches"].append(other)  # type: ignore[attr-defined]
    text = yaml.safe_dump(data, allow_unicode=True)
    with sessions.begin() as s:
        sync_inventory(s, parse_inventory(text), source="t", now=NOW)
        for name, role, branch in (
            ("admin", "administrator", "B1"),
            ("head", "branch_head", "B1"),
            ("sec", "security", None),
            ("aud", "auditor", None),
            ("other_admin", "administrator", "B2"),
        ):
            s.add(
                UserRow(
                    username=name,
                    display_name=name,
                    password_hash="x",
                    role=role,
                    branch_id=branch,
                    locale="zh",
                    created_at=NOW,
                    disabled_at=None,
                )
            )
        s.add(
            EvidenceRow(
                sha256=FRAME,
                size=1,
                media_type="image/jpeg",
                path="ff/frame.jpg",
                created_at=NOW,
                origin={},
            )
        )
    return sessions


def user(s: Session, name: str) -> UserRow:
    found = s.scalar(select(UserRow).where(UserRow.username == name))
    assert found is not None
    return found


def marks_for(role: ChannelRole, fail: str | None = None) -> dict[str, ItemMark]:
    return {
        item.code: ItemMark(Verdict.FAIL, "柜台只有一人", (FRAME,))
        if item.code == fail
        else ItemMark(Verdict.PASS)
        for item in items_for(role)
    }


def review(
    sessions: sessionmaker[Session],
    who: str = "admin",
    fail: str | None = "two_staff",
    task_id: int | None = None,
):
    with sessions.begin() as s:
        channel = s.get(ChannelRow, "B1-C1")
        assert channel is not None
        return submit_review(
            s,
            reviewer=user(s, who),
            channel=channel,
            branch_id="B1",
            tz=TZ,
            window_start=NOW - dt.timedelta(minutes=10),
            window_end=NOW,
            marks=marks_for(ChannelRole.COUNTER, fail),
            summary="周五柜台抽查",
            now=NOW,
            task_id=task_id,
        )


def test_catalogue_is_bilingual_and_covers_counter_rules() -> None:
    assert all(item.zh and item.en and item.roles for item in ITEMS)
    counter = {item.code for item in items_for(ChannelRole.COUNTER)}
    assert {"two_staff", "cash_secured", "large_withdrawal_warning", "no_gifts"} <= counter
    assert "vault_two_guards" in {i.code for i in items_for(ChannelRole.VAULT)}


def test_failed_item_becomes_finding_owned_by_branch_head(db_url: str) -> None:
    sessions = setup(db_url)
    _rev, findings = review(sessions)
    assert len(findings) == 1
    with sessions() as s:
        finding = s.get(FindingRow, findings[0].id)
        assert finding is not None and finding.item_code == "two_staff"
        assert finding.owner_id == user(s, "head").id
        assert finding.deadline == dt.date(2026, 11, 27) and finding.status == "open"
        events = s.scalars(select(FindingEventRow)).all()
        assert [e.action for e in events] == ["created"]
        # the review and the finding it raised are on the register (D7 with D4)
        assert verify(s).ok
        entries = s.scalars(select(RegisterEntryRow).order_by(RegisterEntryRow.seq)).all()
        assert [e.action for e in entries] == ["review", "finding"]
        assert entries[1].details["finding_id"] == finding.id
        assert (entries[1].details["change"], entries[1].details["to"]) == ("created", "open")


def test_review_must_mark_every_item_and_explain_fails(db_url: str) -> None:
    sessions = setup(db_url)
    with sessions.begin() as s:
        channel = s.get(ChannelRow, "B1-C1")
        marks = marks_for(ChannelRole.COUNTER)
        marks.pop("no_gifts")
        with pytest.raises(ReviewError, match="missing"):
            submit_review(
                s,
                reviewer=user(s, "admin"),
                channel=channel,
                branch_id="B1",
                tz=TZ,
                window_start=NOW,
                window_end=NOW,
                marks=marks,
                summary="",
                now=NOW,
            )
        marks = marks_for(ChannelRole.COUNTER)
        marks["two_staff"] = ItemMark(Verdict.FAIL, "  ", (FRAME,))
        with pytest.raises(ReviewError, match="say what is wrong"):
            submit_review(
                s,
                reviewer=user(s, "admin"),
                channel=channel,
                branch_id="B1",
                tz=TZ,
                window_start=NOW,
                window_end=NOW,
                marks=marks,
                summary="",
                now=NOW,
            )
        # problem 6: a fail needs the frame that shows it (the form says so)
        marks["two_staff"] = ItemMark(Verdict.FAIL, "柜台只有一人")
        with pytest.raises(ReviewError, match="attach the frame") as refused:
            submit_review(
                s,
                reviewer=user(s, "admin"),
                channel=channel,
                branch_id="B1",
                tz=TZ,
                window_start=NOW,
                window_end=NOW,
                marks=marks,
                summary="",
                now=NOW,
            )
        assert refused.value.code == "fail_frame"
        with pytest.raises(ReviewError, match="does not review"):
            submit_review(
                s,
                reviewer=user(s, "aud"),
                channel=channel,
                branch_id="B1",
                tz=TZ,
                window_start=NOW,
                window_end=NOW,
                marks=marks_for(ChannelRole.COUNTER),
                summary="",
                now=NOW,
            )


def test_rectification_lifecycle_with_four_eyes(db_url: str) -> None:
    sessions = setup(db_url)
    _rev, (finding,) = review(sessions)
    later = NOW + dt.timedelta(days=1)
    with sessions.begin() as s:
        fixed = apply_change(
            s, finding.id, user(s, "head"), Change(Action.FIX, 1, "已安排双人临柜"), later
        )
        assert fixed.status == "fixed" and fixed.version == 2
    with sessions.begin() as s, pytest.raises(FindingError, match="cannot close it"):
        apply_change(s, finding.id, user(s, "head"), Change(Action.CLOSE, 2), later)
    with sessions.begin() as s, pytest.raises(FindingError, match="may not mark findings closed"):
        apply_change(s, finding.id, user(s, "aud"), Change(Action.CLOSE, 2), later)
    with sessions.begin() as s:
        reopened = apply_change(
            s, finding.id, user(s, "sec"), Change(Action.REOPEN, 2, "复查仍为单人"), later
        )
        assert reopened.status == "reopened"
    with sessions.begin() as s:
        apply_change(s, finding.id, user(s, "admin"), Change(Action.FIX, 3, "再次整改"), later)
    with sessions.begin() as s:
        closed = apply_change(s, finding.id, user(s, "sec"), Change(Action.CLOSE, 4), later)
        assert closed.status == "closed" and closed.version == 5
    with sessions() as s:
        # problem 8: every rectification step is on the register, by whom, from and to
        steps = s.scalars(
            select(RegisterEntryRow)
            .where(RegisterEntryRow.action == "finding")
            .order_by(RegisterEntryRow.seq)
        ).all()
        assert [(e.actor, e.details["change"], e.details["to"]) for e in steps] == [
            ("admin", "created", "open"),
            ("head", "fixed", "fixed"),
            ("sec", "reopened", "reopened"),
            ("admin", "fixed", "fixed"),
            ("sec", "closed", "closed"),
        ]
        assert steps[2].reason == "复查仍为单人" and verify(s).ok
    with sessions() as s:
        history = s.scalars(select(FindingEventRow).order_by(FindingEventRow.id)).all()
        assert [(e.action, e.to_status) for e in history] == [
            ("created", "open"),
            ("fixed", "fixed"),
            ("reopened", "reopened"),
            ("fixed", "fixed"),
            ("closed", "closed"),
        ]


def test_stale_save_is_refused_not_overwritten(db_url: str) -> None:
    sessions = setup(db_url)
    _rev, (finding,) = review(sessions)
    with sessions.begin() as s:
        apply_change(s, finding.id, user(s, "head"), Change(Action.COMMENT, 1, "我来处理"), NOW)
    with sessions.begin() as s, pytest.raises(StaleFinding, match="changed by someone else"):
        apply_change(s, finding.id, user(s, "admin"), Change(Action.FIX, 1, "已整改"), NOW)


def test_two_concurrent_saves_one_wins(db_url: str) -> None:
    sessions = setup(db_url)
    _rev, (finding,) = review(sessions)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(name: str, note: str) -> None:
        try:
            with sessions.begin() as s:
                actor = user(s, name)
                barrier.wait(timeout=10)
                apply_change(s, finding.id, actor, Change(Action.FIX, 1, note), NOW)
            outcomes.append("saved")
        except StaleFinding:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - SQLite may refuse the second writer
            outcomes.append(f"refused:{type(exc).__name__}")

    threads = [
        threading.Thread(target=save, args=("admin", "A")),
        threading.Thread(target=save, args=("head", "B")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("saved") == 1 and len(outcomes) == 2
    with sessions() as s:
        row = s.get(FindingRow, finding.id)
        assert row is not None and row.version == 2
        notes = [
            e.note
            for e in s.scalars(select(FindingEventRow).where(FindingEventRow.action == "fixed"))
        ]
        assert len(notes) == 1


def test_other_branch_cannot_touch_and_overdue(db_url: str) -> None:
    sessions = setup(db_url)
    _rev, (finding,) = review(sessions)
    with sessions.begin() as s, pytest.raises(FindingError, match="another branch"):
        apply_change(s, finding.id, user(s, "other_admin"), Change(Action.FIX, 1, "x"), NOW)
    with sessions() as s:
        row = s.get(FindingRow, finding.id)
        assert row is not None
        assert not is_overdue(row, dt.date(2026, 11, 27))
        assert is_overdue(row, dt.date(2026, 11, 28))


def test_weekly_duties() -> None:
    inventory = parse_inventory(yaml.safe_dump(minimal(), allow_unicode=True))
    branch = inventory.branches[0]  # open Monday and Tuesday only
    policy = inventory.policy
    monday = dt.date(2026, 11, 16)
    reviews = [(dt.datetime(2026, 11, 16, 15, tzinfo=TZ), "administrator")]
    during = week_duties(branch, policy, TZ, monday, reviews, [monday], NOW)
    assert during.admin_reviews == 1 and during.head_reviews == 0
    assert during.missing_checks == [dt.date(2026, 11, 17)]
    assert during.due == ["D2", "D3"] and during.missed == ["D1:2026-11-17"]
    after = week_duties(
        branch,
        policy,
        TZ,
        monday,
        reviews * 2 + [(dt.datetime(2026, 11, 19, 9, tzinfo=TZ), "branch_head")],
        [monday, dt.date(2026, 11, 17)],
        NOW + dt.timedelta(days=3),
    )
    assert after.finished and after.complete


def test_who_needs_approval(db_url: str) -> None:
    sessions = setup(db_url)
    with sessions() as s:
        admin, sec, aud = user(s, "admin"), user(s, "sec"), user(s, "aud")
        assert not needs_approval(admin, "B1", Purpose.REVIEW)
        assert needs_approval(admin, "B2", Purpose.REVIEW)
        assert needs_approval(admin, "B1", Purpose.OTHER)
        assert not needs_approval(sec, "B2", Purpose.INSPECTION)
        assert needs_approval(aud, "B1", Purpose.REVIEW)


def test_deadline_before_the_finding_is_refused(db_url: str) -> None:
    """Problem 6: a rectification deadline before the day the finding was raised."""
    sessions = setup(db_url)
    _rev, (finding,) = review(sessions)
    with sessions.begin() as s:
        head, sec = user(s, "head"), user(s, "sec")
        change = Change(Action.ASSIGN, 1, owner_id=head.id, deadline=dt.date(2026, 11, 19))
        with pytest.raises(FindingError, match="before the finding") as refused:
            apply_change(s, finding.id, sec, change, NOW)
        assert refused.value.code == "deadline_before"
    with sessions.begin() as s:
        head, sec = user(s, "head"), user(s, "sec")
        same_day = Change(Action.ASSIGN, 1, owner_id=head.id, deadline=dt.date(2026, 11, 20))
        assert apply_change(s, finding.id, sec, same_day, NOW).deadline == dt.date(2026, 11, 20)


def _task(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        plan = SpotCheckPlanRow(
            kind="random",
            created_by="sec",
            created_at=NOW,
            params={},
            seed="1",
        )
        s.add(plan)
        s.flush()
        task = SpotCheckTaskRow(
            plan_id=plan.id,
            branch_id="B1",
            channel_id="B1-C1",
            start=NOW - dt.timedelta(minutes=10),
            end=NOW,
            frames_wanted=3,
            status="pulled",
            kind="random",
            reason="",
            event_at=None,
        )
        s.add(task)
        s.flush()
        return task.id


def test_one_review_per_task_per_reviewer_unless_reopened(db_url: str) -> None:
    """Problem 4: a reviewed task took a second, contradicting review."""
    sessions = setup(db_url)
    task_id = _task(sessions)
    review(sessions, task_id=task_id)
    with pytest.raises(ReviewError, match="already") as refused:
        review(sessions, fail=None, task_id=task_id)
    assert refused.value.code == "already_reviewed"
    with sessions() as s:
        assert not may_review_task(s, user(s, "admin"), task_id)
        assert may_review_task(s, user(s, "sec"), task_id)  # another reviewer may
    later = NOW + dt.timedelta(hours=1)
    with sessions.begin() as s:
        task = s.get(SpotCheckTaskRow, task_id)
        assert task is not None and task.status == "reviewed"
        with pytest.raises(ReviewError, match="say why") as no_reason:
            reopen_task(s, user(s, "admin"), task, "  ", later)
        assert no_reason.value.code == "reopen_reason"
        with pytest.raises(ReviewError, match="does not review"):
            reopen_task(s, user(s, "aud"), task, "复核", later)
        reopen_task(s, user(s, "admin"), task, "画面看错了柜台", later)
    with sessions() as s:
        assert may_review_task(s, user(s, "admin"), task_id)
        entry = s.scalars(
            select(RegisterEntryRow).where(RegisterEntryRow.action == "review_reopen")
        ).one()
        assert entry.reason == "画面看错了柜台" and entry.details["task_id"] == task_id


def test_todays_confirmed_check_counts_for_d1() -> None:
    """Problem 9: after today's check was confirmed, D1 still read 未履行 0/n."""
    inventory = parse_inventory(yaml.safe_dump(minimal(), allow_unicode=True))
    branch = inventory.branches[0]  # open Monday and Tuesday only
    monday, tuesday = dt.date(2026, 11, 16), dt.date(2026, 11, 17)
    noon_tuesday = dt.datetime(2026, 11, 17, 12, 0, tzinfo=TZ)
    before = week_duties(branch, inventory.policy, TZ, monday, [], [monday], noon_tuesday)
    # today is not yet missed while it can still be done, and is not counted either
    assert before.check_days == [monday] and before.missed == []
    after = week_duties(branch, inventory.policy, TZ, monday, [], [monday, tuesday], noon_tuesday)
    assert after.check_days == [monday, tuesday] and after.checked_days == [monday, tuesday]
    assert after.missing_checks == [] and "D1" not in after.due


def test_a_daily_check_says_what_it_rests_on() -> None:
    """Problem 9: 'problems found' with an empty note, and 'running normally' while the
    collector listed 21 violations, were both accepted."""
    assert confirmation_problem("problems", "  ", 0) == "duties.error_problems_note"
    assert confirmation_problem("ok", "", 21) == "duties.error_ok_with_violations"
    assert confirmation_problem("ok", "均已报修,工单 #12", 21) is None
    assert confirmation_problem("ok", "", 0) is None
    assert confirmation_problem("problems", "3号柜台偏暗", 1) is None
