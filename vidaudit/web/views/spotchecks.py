"""What the spot-check pages read (queries only; plans, pulls and reviews are written by
the sampler and the review domain)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, has_permission
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    ReviewRow,
    SpotCheckPlanRow,
    SpotCheckTaskRow,
    TaskClipRow,
    TaskFrameRow,
    UserRow,
)
from vidaudit.sampler.clips import MAX_SECONDS, MIN_SECONDS
from vidaudit.sampler.tasks import spread
from vidaudit.web.deps import branch_scope
from vidaudit.web.views.review_common import branches_in_scope

PAGE_SIZE = 50
STATUSES = ("planned", "pulled", "reviewed")
MAX_PULL_FRAMES = 30
MAX_STEP_S = 3600
RECENT_PLANS = 10


def read_int(text: str, low: int, high: int) -> int | None:
    """A form's number, or None when it is not one or out of [low, high]."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


@dataclass(frozen=True)
class QueuePage:
    tasks: list[SpotCheckTaskRow]
    total: int
    page: int
    pages: int
    branches: list[BranchRow]
    zones: dict[str, str | None]
    names: dict[str, str]
    channels: dict[str, ChannelRow]
    plans: list[SpotCheckPlanRow]
    plan_sizes: dict[int, int]


def queue_page(
    db: Session, user: UserRow, *, status: str, kind: str, branch: str, page: int
) -> QueuePage:
    """One page of the tasks in the user's scope, filtered, newest window first; and for
    planners the latest plans with their sizes."""
    query = select(SpotCheckTaskRow)
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(SpotCheckTaskRow.branch_id.in_(scope))
    if status == "open":
        query = query.where(SpotCheckTaskRow.status.in_(("planned", "pulled")))
    elif status in STATUSES:
        query = query.where(SpotCheckTaskRow.status == status)
    if kind in ("random", "targeted"):
        query = query.where(SpotCheckTaskRow.kind == kind)
    if branch:
        query = query.where(SpotCheckTaskRow.branch_id == branch)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, (total + PAGE_SIZE - 1) // PAGE_SIZE or 1))
    tasks = list(
        db.scalars(
            query.order_by(SpotCheckTaskRow.start.desc(), SpotCheckTaskRow.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    branches = branches_in_scope(db, user)
    channels = {
        c.id: c
        for c in db.scalars(
            select(ChannelRow).where(ChannelRow.id.in_({t.channel_id for t in tasks}))
        )
    }
    plans: list[SpotCheckPlanRow] = []
    plan_sizes: dict[int, int] = {}
    if has_permission(user.role, Permission.MANAGE_PLANS):
        plans = list(
            db.scalars(
                select(SpotCheckPlanRow).order_by(SpotCheckPlanRow.id.desc()).limit(RECENT_PLANS)
            )
        )
        plan_sizes = {
            plan_id: count
            for plan_id, count in db.execute(
                select(SpotCheckTaskRow.plan_id, func.count())
                .where(SpotCheckTaskRow.plan_id.in_([p.id for p in plans]))
                .group_by(SpotCheckTaskRow.plan_id)
            )
        }
    return QueuePage(
        tasks,
        total,
        page,
        (total + PAGE_SIZE - 1) // PAGE_SIZE,
        branches,
        {b.id: b.timezone for b in branches},
        {b.id: b.name for b in branches},
        channels,
        plans,
        plan_sizes,
    )


def task_frames(db: Session, task_id: int) -> list[TaskFrameRow]:
    return list(
        db.scalars(
            select(TaskFrameRow)
            .where(TaskFrameRow.task_id == task_id)
            .order_by(TaskFrameRow.actual, TaskFrameRow.id)
        )
    )


def task_reviews(db: Session, task_id: int) -> list[ReviewRow]:
    return list(
        db.scalars(select(ReviewRow).where(ReviewRow.task_id == task_id).order_by(ReviewRow.id))
    )


def task_clips(db: Session, task_id: int) -> list[TaskClipRow]:
    return list(
        db.scalars(
            select(TaskClipRow)
            .where(TaskClipRow.task_id == task_id, TaskClipRow.evidence_sha256.is_not(None))
            .order_by(TaskClipRow.first_at, TaskClipRow.id)
        )
    )


def frame_shas(db: Session, task_id: int) -> set[str]:
    """The evidence a review of this task may cite: its pulled frames and clips."""
    frames = db.scalars(
        select(TaskFrameRow.evidence_sha256).where(
            TaskFrameRow.task_id == task_id, TaskFrameRow.evidence_sha256.is_not(None)
        )
    )
    clips = db.scalars(
        select(TaskClipRow.evidence_sha256).where(
            TaskClipRow.task_id == task_id, TaskClipRow.evidence_sha256.is_not(None)
        )
    )
    return {sha for sha in [*frames, *clips] if sha}


def clips_by_sha(db: Session, shas: set[str] | list[str]) -> dict[str, TaskClipRow]:
    """Which of these evidence digests are clips (a page shows a video for those)."""
    if not shas:
        return {}
    return {
        clip.evidence_sha256: clip
        for clip in db.scalars(select(TaskClipRow).where(TaskClipRow.evidence_sha256.in_(shas)))
        if clip.evidence_sha256
    }


def clip_range(
    db: Session, task: SpotCheckTaskRow, frame_id: str, seconds: str
) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end] of a clip of ``seconds`` centred on a pulled frame of the task (or on
    the task's event, else the middle of its window); None when the request makes no
    sense."""
    length = read_int(seconds, MIN_SECONDS, MAX_SECONDS)
    if length is None:
        return None
    if frame_id:
        fid = read_int(frame_id, 1, 2**62)
        frame = db.get(TaskFrameRow, fid) if fid else None
        if frame is None or frame.task_id != task.id:
            return None
        centre = frame.actual or frame.requested
    else:
        centre = task.event_at or task.start + (task.end - task.start) / 2
    half = dt.timedelta(seconds=length) / 2
    return centre - half, centre + half


def pull_instants(
    db: Session,
    task: SpotCheckTaskRow,
    mode: str,
    count: str,
    frame_id: str,
    step_s: str,
    direction: str,
) -> list[dt.datetime] | None:
    """The instants a pull asks for: the planned ones, N more between them, or one step
    of N seconds from a pulled frame; None when the request does not make sense."""
    if mode == "planned":
        return spread(task.start, task.end, max(1, min(task.frames_wanted, MAX_PULL_FRAMES)))
    if mode == "more":
        n = read_int(count, 1, MAX_PULL_FRAMES)
        # shift 0.0: on the slot edges, between the planned (mid-slot) instants
        return None if n is None else spread(task.start, task.end, n, shift=0.0)
    if mode == "step":
        seconds = read_int(step_s, 1, MAX_STEP_S)
        fid = read_int(frame_id, 1, 2**62)
        frame = db.get(TaskFrameRow, fid) if fid else None
        if seconds is None or frame is None or frame.task_id != task.id:
            return None
        base = frame.actual or frame.requested
        sign = -1 if direction == "back" else 1
        return [base + dt.timedelta(seconds=sign * seconds)]
    return None


def outside_window(task: SpotCheckTaskRow, instants: list[dt.datetime]) -> bool:
    """Whether a pull reaches outside the task's window (a step of an hour can)."""
    return any(instant < task.start or instant > task.end for instant in instants)


def signed_ms(delta_ms: float | None) -> str:
    """How far a frame is from its instant, in whole ms with its sign ("+40", "-12", "0";
    never "-0")."""
    rounded = round(delta_ms or 0)
    return f"{rounded:+d}" if rounded else "0"
