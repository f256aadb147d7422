"""Submitting a review (D2, D3, D5): one transaction records the review, registers it,
and turns every failed inspection item into a finding with an owner and a deadline."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, PersonRole, roles_with
from vidaudit.db.models import (
    ChannelRow,
    FindingEventRow,
    FindingRow,
    RegisterEntryRow,
    ReviewRow,
    SpotCheckTaskRow,
    UserRow,
)
from vidaudit.inventory.schema import ChannelRole
from vidaudit.review.findings import register_finding
from vidaudit.review.items import Verdict, items_for
from vidaudit.review.register import Entry, append

REVIEWER_ROLES = roles_with(Permission.REVIEW)
#: Days a branch gets to fix a finding unless the reviewer says otherwise.
DEFAULT_DEADLINE_DAYS = 7


class ReviewError(ValueError):
    """A review that cannot be recorded; ``code`` names why for the pages' words."""

    def __init__(self, message: str, code: str = "rejected") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ItemMark:
    verdict: Verdict
    note: str = ""
    frames: tuple[str, ...] = field(default_factory=tuple)


def branch_head_of(session: Session, branch_id: str) -> UserRow | None:
    return session.scalar(
        select(UserRow)
        .where(
            UserRow.branch_id == branch_id,
            UserRow.role == PersonRole.BRANCH_HEAD,
            UserRow.disabled_at.is_(None),
        )
        .order_by(UserRow.id)
        .limit(1)
    )


def submit_review(
    session: Session,
    *,
    reviewer: UserRow,
    channel: ChannelRow,
    branch_id: str,
    tz: ZoneInfo,
    window_start: dt.datetime,
    window_end: dt.datetime,
    marks: dict[str, ItemMark],
    summary: str,
    now: dt.datetime,
    task_id: int | None = None,
    deadline_days: int = DEFAULT_DEADLINE_DAYS,
) -> tuple[ReviewRow, list[FindingRow]]:
    if reviewer.role not in REVIEWER_ROLES:
        raise ReviewError(f"a {reviewer.role} does not review footage")
    if reviewer.branch_id is not None and reviewer.branch_id != branch_id:
        raise ReviewError("reviewers bound to a branch review their own branch")
    wanted = {item.code for item in items_for(ChannelRole(channel.role))}
    unknown = set(marks) - wanted
    if unknown:
        raise ReviewError(f"items not inspected on a {channel.role} channel: {sorted(unknown)}")
    missing = wanted - set(marks)
    if missing:
        raise ReviewError(f"every item needs a verdict; missing {sorted(missing)}")
    for code, mark in marks.items():
        if mark.verdict is Verdict.FAIL and not mark.note.strip():
            raise ReviewError(f"say what is wrong for the failed item {code}", "fail_note")
        if mark.verdict is Verdict.FAIL and not mark.frames:
            # a finding without the picture that shows it cannot be checked or rectified
            raise ReviewError(f"attach the frame that shows the failed item {code}", "fail_frame")
    if task_id is not None and not may_review_task(session, reviewer, task_id):
        raise ReviewError(
            f"{reviewer.username} reviewed task {task_id} already; reopen it with a reason",
            "already_reviewed",
        )
    counts = Counter(mark.verdict.value for mark in marks.values())
    entry = append(
        session,
        Entry(
            actor=reviewer.username,
            actor_role=reviewer.role,
            action="review",
            reason=summary,
            branch_id=branch_id,
            channel_id=channel.id,
            range_start=window_start,
            range_end=window_end,
            details={
                "purpose": "review",
                "task_id": task_id,
                "verdicts": dict(sorted(counts.items())),
            },
        ),
        now,
    )
    review = ReviewRow(
        task_id=task_id,
        branch_id=branch_id,
        channel_id=channel.id,
        reviewer_id=reviewer.id,
        reviewer_role=reviewer.role,
        window_start=window_start,
        window_end=window_end,
        submitted_at=now,
        items={
            code: {"verdict": m.verdict.value, "note": m.note, "frames": list(m.frames)}
            for code, m in sorted(marks.items())
        },
        summary=summary,
        register_seq=entry.seq,
    )
    session.add(review)
    session.flush()
    owner = branch_head_of(session, branch_id)
    deadline = now.astimezone(tz).date() + dt.timedelta(days=deadline_days)
    findings = []
    for code, mark in sorted(marks.items()):
        if mark.verdict is not Verdict.FAIL:
            continue
        finding = FindingRow(
            review_id=review.id,
            branch_id=branch_id,
            channel_id=channel.id,
            item_code=code,
            note=mark.note,
            frames=list(mark.frames),
            owner_id=owner.id if owner else None,
            deadline=deadline,
            status="open",
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(finding)
        session.flush()
        session.add(
            FindingEventRow(
                finding_id=finding.id,
                at=now,
                actor_id=reviewer.id,
                action="created",
                from_status=None,
                to_status="open",
                note=mark.note,
                evidence_sha256=mark.frames[0] if mark.frames else None,
                version=1,
            )
        )
        register_finding(session, reviewer, finding, "created", None, mark.note, now)
        findings.append(finding)
    if task_id is not None:
        task = session.get(SpotCheckTaskRow, task_id)
        if task is not None:
            task.status = "reviewed"
    session.flush()
    return review, findings


# --- one review per task per reviewer, unless the task is reopened with a reason ----------


def _reopenings(session: Session, task: SpotCheckTaskRow) -> list[RegisterEntryRow]:
    """The task's reopenings, oldest first (on the register: that is where they live)."""
    entries = session.scalars(
        select(RegisterEntryRow)
        .where(
            RegisterEntryRow.action == "review_reopen",
            RegisterEntryRow.channel_id == task.channel_id,
            RegisterEntryRow.range_start == task.start,
        )
        .order_by(RegisterEntryRow.seq)
    )
    return [e for e in entries if (e.details or {}).get("task_id") == task.id]


def last_reopened(session: Session, task: SpotCheckTaskRow) -> RegisterEntryRow | None:
    found = _reopenings(session, task)
    return found[-1] if found else None


def may_review_task(session: Session, reviewer: UserRow, task_id: int) -> bool:
    """A reviewer gives one review per task: a second, contradicting the first, would
    leave the record saying both.  Someone who wants another look reopens the task with
    a reason (on the register); each reviewer may then review once more."""
    task = session.get(SpotCheckTaskRow, task_id)
    if task is None:
        return True
    # the register's order, not the clock, says which came last
    mine = list(
        session.scalars(
            select(ReviewRow.register_seq).where(
                ReviewRow.task_id == task_id, ReviewRow.reviewer_id == reviewer.id
            )
        )
    )
    if not mine:
        return True
    reopened = last_reopened(session, task)
    return reopened is not None and reopened.seq > max(mine)


def reopen_task(
    session: Session, user: UserRow, task: SpotCheckTaskRow, reason: str, now: dt.datetime
) -> RegisterEntryRow:
    """Reopen a reviewed task for another review; the reason goes on the register."""
    if user.role not in REVIEWER_ROLES:
        raise ReviewError(f"a {user.role} does not review footage", "role")
    if not reason.strip():
        raise ReviewError("say why the task is reviewed again", "reopen_reason")
    if task.status != "reviewed":
        raise ReviewError(f"task {task.id} is not reviewed yet", "not_reviewed")
    entry = append(
        session,
        Entry(
            actor=user.username,
            actor_role=user.role,
            action="review_reopen",
            reason=reason.strip(),
            branch_id=task.branch_id,
            channel_id=task.channel_id,
            range_start=task.start,
            range_end=task.end,
            details={"purpose": "review_reopen", "task_id": task.id},
        ),
        now,
    )
    task.status = "pulled"
    session.flush()
    return entry
