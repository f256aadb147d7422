"""Spot-check review (D2, D3, D5, D6): the queue, plans, a task's frames and its review.

``/spot-checks``            my queue; managers plan random or targeted checks here
``/spot-checks/{id}``       the task: channel, window, reason, pulled frames, the items
``…/pull``                  pull the planned frames, more frames, or step ±N s (POST)
``…/access``                ask the branch head for approval (D4) (POST)
``…/review``                submit the review (POST) -> ``/reviews/{id}``

D4 comes first: before a frame is listed, served or pulled, ``footage_access`` says whether
this person may see this channel over this range; if not, the page shows the approval
request form instead of the frames.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vidaudit.collector.run import onvif_settings
from vidaudit.db.models import (
    ApprovalRow,
    ChannelRow,
    ReviewRow,
    SpotCheckPlanRow,
    SpotCheckTaskRow,
    TaskFrameRow,
    UserRow,
)
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Role
from vidaudit.review.items import Verdict
from vidaudit.review.register import Entry, append
from vidaudit.review.reviews import ItemMark, ReviewError, submit_review
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.sampler.plan import (
    ALGORITHM,
    PlanError,
    PlannedTask,
    RandomPlanRequest,
    new_seed,
    parse_events_csv,
    random_plan,
    targeted_plan,
)
from vidaudit.sampler.pull import PullError, PullRequest, pull_frames
from vidaudit.sampler.store import save_plan
from vidaudit.sampler.tasks import spread
from vidaudit.web.deps import Forbidden, SessionDep, branch_scope, require_permission
from vidaudit.web.i18n import zone
from vidaudit.web.roles import Permission, has_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    TaskView,
    branches_in_scope,
    channel_items,
    clean_text,
    evidence_store,
    footage_access,
    in_scope,
    inventory_channel,
    load_task,
    query_flag,
    with_query,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["spot-checks"])

PAGE_SIZE = 50
STATUSES = ("planned", "pulled", "reviewed")
#: pull failures the page explains in words; any other kind gets the generic message
PULL_ERRORS = frozenset({"not_found", "unreachable", "timeout", "auth", "config", "no_inventory"})
MAX_PULL_FRAMES = 30
MAX_STEP_S = 3600
#: a targeted CSV is a few hundred rows of events; anything much bigger is a mistake
MAX_CSV_BYTES = 1 << 20

ReviewUser = Annotated[UserRow, require_permission(Permission.REVIEW)]
ViewUser = Annotated[UserRow, require_permission(Permission.VIEW_SPOT_CHECKS)]
PlanUser = Annotated[UserRow, require_permission(Permission.MANAGE_PLANS)]


async def read_form(request: Request) -> FormData:
    """The posted form as sent (the review form's fields are named after the items, so
    they cannot be declared as parameters); Starlette caches it for the CSRF check."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(read_form)]


# --- the queue and plans -----------------------------------------------------------------


@dataclass
class PlanForm:
    """What a manager typed into the plan forms, kept to re-render after an error."""

    count: str = "10"
    period_start: str = ""
    period_days: str = "7"
    roles: list[str] = field(default_factory=lambda: [Role.COUNTER.value])
    branches: list[str] = field(default_factory=list)
    window_min: str = "10"
    frames: str = "6"
    error: str = ""
    detail: str = ""


def _refused_plan(request: Request, db: Session, user: UserRow, form: PlanForm) -> HTMLResponse:
    """The queue again, the plan form kept as typed with its error (400)."""
    return _queue_page(
        request,
        db,
        user,
        status="open",
        kind="",
        branch="",
        page=1,
        plan_form=form,
        status_code=400,
    )


def _queue_page(
    request: Request,
    db: Session,
    user: UserRow,
    *,
    status: str,
    kind: str,
    branch: str,
    page: int,
    plan_form: PlanForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    state = web_state(request)
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
    zones = {b.id: b.timezone for b in branches}
    names = {b.id: b.name for b in branches}
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
            db.scalars(select(SpotCheckPlanRow).order_by(SpotCheckPlanRow.id.desc()).limit(10))
        )
        plan_sizes = dict(
            db.execute(
                select(SpotCheckTaskRow.plan_id, func.count())
                .where(SpotCheckTaskRow.plan_id.in_([p.id for p in plans]))
                .group_by(SpotCheckTaskRow.plan_id)
            ).all()
        )
    form = plan_form or PlanForm(period_start=_default_period_start(state.clock()).isoformat())
    filters = {"status": status, "kind": kind, "branch": branch}
    return render(
        request,
        "spotcheck_queue.html",
        {
            "tasks": tasks,
            "zones": zones,
            "branch_names": names,
            "channels": channels,
            "branches": branches,
            "filters": filters,
            "page": page,
            "pages": (total + PAGE_SIZE - 1) // PAGE_SIZE,
            "total": total,
            "page_url": lambda n: with_query("/spot-checks", {**filters, "page": n}),
            "plans": plans,
            "plan_sizes": plan_sizes,
            "plan_form": form,
            "roles": [r.value for r in Role],
            "has_inventory": state.inventory is not None,
            "done": query_flag(request, "done"),
            "done_plan": request.query_params.get("plan", ""),
        },
        status_code=status_code,
    )


def _default_period_start(now: dt.datetime) -> dt.date:
    # Random checks look back at the last week's business days (footage that exists).
    return now.astimezone(zone(None)).date() - dt.timedelta(days=7)


@router.get("/spot-checks", response_class=HTMLResponse)
def queue(
    request: Request,
    db: SessionDep,
    user: ViewUser,
    status: str = "open",
    kind: str = "",
    branch: str = "",
    page: int = 1,
) -> HTMLResponse:
    return _queue_page(request, db, user, status=status, kind=kind, branch=branch, page=page)


def _int(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


@router.post("/spot-checks/plans/random", response_class=HTMLResponse)
def create_random_plan(
    request: Request,
    db: SessionDep,
    user: PlanUser,
    count: Annotated[str, Form()] = "",
    period_start: Annotated[str, Form()] = "",
    period_days: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    branches: Annotated[list[str] | None, Form()] = None,
    window_min: Annotated[str, Form()] = "",
    frames: Annotated[str, Form()] = "",
) -> Response:
    state = web_state(request)
    form = PlanForm(
        count=count,
        period_start=period_start,
        period_days=period_days,
        roles=roles or [],
        branches=branches or [],
        window_min=window_min,
        frames=frames,
    )
    n, days = _int(count, 1, 500), _int(period_days, 1, 366)
    window, per_task = _int(window_min, 1, 240), _int(frames, 1, MAX_PULL_FRAMES)
    try:
        first = dt.date.fromisoformat(period_start.strip())
    except ValueError:
        first = None
    known_roles = {r.value for r in Role}
    valid_roles = bool(form.roles) and set(form.roles) <= known_roles
    if None in (n, days, window, per_task, first) or not valid_roles:
        form.error = "spotcheck.plan_invalid"
    elif state.inventory is None:
        form.error = "spotcheck.no_inventory"
    if form.error:
        return _refused_plan(request, db, user, form)
    assert n and days and window and per_task and first and state.inventory
    seed = new_seed()
    try:
        tasks = random_plan(
            state.inventory,
            RandomPlanRequest(
                count=n,
                period_start=first,
                period_days=days,
                roles=frozenset(Role(r) for r in form.roles),
                window=dt.timedelta(minutes=window),
                branches=frozenset(form.branches) or None,
            ),
            seed,
        )
    except PlanError as exc:
        form.error, form.detail = "spotcheck.plan_failed", str(exc)
        return _refused_plan(request, db, user, form)
    params = {
        "period_start": first.isoformat(),
        "period_days": days,
        "roles": sorted(form.roles),
        "count": n,
        "window_min": window,
        "branches": sorted(form.branches) or None,
    }
    plan_id = _save(db, user, state.clock(), "random", tasks, params, per_task, seed)
    return RedirectResponse(f"/spot-checks?done=planned&plan={plan_id}", status_code=303)


def _save(
    db: Session,
    user: UserRow,
    now: dt.datetime,
    kind: str,
    tasks: list[PlannedTask],
    params: dict[str, Any],
    frames: int,
    seed: int | None,
) -> int:
    plan = save_plan(
        db,
        kind=kind,
        created_by=user.username,
        now=now,
        tasks=tasks,
        params=params,
        frames_per_task=frames,
        seed=seed,
        algorithm=ALGORITHM if seed is not None else None,
    )
    db.commit()
    log.info("%s plan %s by %s: %d tasks", kind, plan.id, user.username, len(tasks))
    return plan.id


@router.post("/spot-checks/plans/targeted", response_class=HTMLResponse)
def create_targeted_plan(
    request: Request,
    db: SessionDep,
    user: PlanUser,
    events: Annotated[UploadFile | None, File()] = None,
    frames: Annotated[str, Form()] = "6",
) -> Response:
    state = web_state(request)
    form = PlanForm(frames=frames)
    per_task = _int(frames, 1, MAX_PULL_FRAMES)
    data = events.file.read(MAX_CSV_BYTES + 1) if events is not None else b""
    name = (events.filename if events is not None else None) or "events.csv"
    if per_task is None or not data:
        form.error = "spotcheck.csv_missing"
    elif len(data) > MAX_CSV_BYTES:
        form.error = "spotcheck.csv_too_big"
    elif state.inventory is None:
        form.error = "spotcheck.no_inventory"
    tasks: list[PlannedTask] = []
    if not form.error:
        assert state.inventory is not None
        try:
            text = data.decode("utf-8")
            tasks = targeted_plan(
                state.inventory, parse_events_csv(text, state.inventory, name), source=name
            )
        except UnicodeDecodeError:
            form.error = "spotcheck.csv_encoding"
        except PlanError as exc:
            form.error, form.detail = "spotcheck.plan_failed", str(exc)
        else:
            if not tasks:
                form.error = "spotcheck.csv_missing"
    if form.error:
        return _refused_plan(request, db, user, form)
    assert per_task is not None
    params = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    plan_id = _save(db, user, state.clock(), "targeted", tasks, params, per_task, None)
    return RedirectResponse(f"/spot-checks?done=planned&plan={plan_id}", status_code=303)


# --- one task ------------------------------------------------------------------------------


@dataclass
class ReviewForm:
    """The reviewer's marks as entered: re-shown in full after a validation error."""

    verdicts: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    frames: dict[str, list[str]] = field(default_factory=dict)
    summary: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # item code ("" = form) -> key
    detail: str = ""


def _task_page(
    request: Request,
    db: Session,
    user: UserRow,
    tv: TaskView,
    *,
    form: ReviewForm | None = None,
    access_reason: str = "",
    access_error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    task = tv.task
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    frames: list[TaskFrameRow] = []
    if access.allowed:
        frames = list(
            db.scalars(
                select(TaskFrameRow)
                .where(TaskFrameRow.task_id == task.id)
                .order_by(TaskFrameRow.actual, TaskFrameRow.id)
            )
        )
    plan = db.get(SpotCheckPlanRow, task.plan_id)
    reviews = list(
        db.scalars(select(ReviewRow).where(ReviewRow.task_id == task.id).order_by(ReviewRow.id))
    )
    return render(
        request,
        "spotcheck_task.html",
        {
            "tv": tv,
            "task": task,
            "tz": tv.tz,
            "plan": plan,
            "access": access,
            "frames": frames,
            "items": channel_items(tv.channel.role),
            "verdicts": [v.value for v in Verdict],
            "form": form or ReviewForm(),
            "reviews": reviews,
            "access_reason": access_reason,
            "access_error": access_error,
            "done": query_flag(request, "done"),
            "error": query_flag(request, "error"),
            "pulled": request.query_params.get("n", ""),
            "pull_errors": PULL_ERRORS,
        },
        status_code=status_code,
    )


@router.get("/spot-checks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, db: SessionDep, user: ViewUser, task_id: int) -> HTMLResponse:
    # No check_branch here: a person outside the branch sees the task only to ask the
    # branch head for approval (D4); its frames stay hidden until the head agrees.
    return _task_page(request, db, user, load_task(db, task_id))


@router.post("/spot-checks/{task_id}/access", response_class=HTMLResponse)
def request_access(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    tv = load_task(db, task_id)
    task = tv.task
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    if access.allowed or access.pending is not None:
        return RedirectResponse(f"/spot-checks/{task_id}", status_code=303)
    text = clean_text(reason)
    if not text:
        return _task_page(
            request, db, user, tv, access_error="approval.reason_needed", status_code=400
        )
    now = web_state(request).clock()
    approval = ApprovalRow(
        requester_id=user.id,
        branch_id=tv.branch.id,
        channel_id=tv.channel.id,
        range_start=task.start,
        range_end=task.end,
        reason=text,
        requested_at=now,
        status="pending",
        decided_by=None,
        decided_at=None,
        decision_note="",
    )
    db.add(approval)
    db.flush()
    # The request is on the record as well as the viewing it leads to.
    append(
        db,
        Entry(
            actor=user.username,
            actor_role=user.role,
            action="approval_request",
            reason=text,
            branch_id=tv.branch.id,
            channel_id=tv.channel.id,
            range_start=task.start,
            range_end=task.end,
            details={"approval_id": approval.id, "task_id": task.id},
        ),
        now,
    )
    db.commit()
    return RedirectResponse(f"/spot-checks/{task_id}?done=requested", status_code=303)


def _instants(
    db: Session,
    tv: TaskView,
    mode: str,
    count: str,
    frame_id: str,
    step_s: str,
    direction: str,
) -> list[dt.datetime] | None:
    task = tv.task
    if mode == "planned":
        return spread(task.start, task.end, max(1, min(task.frames_wanted, MAX_PULL_FRAMES)))
    if mode == "more":
        n = _int(count, 1, MAX_PULL_FRAMES)
        # shift 0.0: on the slot edges, between the planned (mid-slot) instants
        return None if n is None else spread(task.start, task.end, n, shift=0.0)
    if mode == "step":
        seconds = _int(step_s, 1, MAX_STEP_S)
        fid = _int(frame_id, 1, 2**62)
        frame = db.get(TaskFrameRow, fid) if fid else None
        if seconds is None or frame is None or frame.task_id != task.id:
            return None
        base = frame.actual or frame.requested
        sign = -1 if direction == "back" else 1
        return [base + dt.timedelta(seconds=sign * seconds)]
    return None


@router.post("/spot-checks/{task_id}/pull")
def pull(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: int,
    mode: Annotated[str, Form()] = "planned",
    count: Annotated[str, Form()] = "3",
    frame_id: Annotated[str, Form()] = "",
    step_s: Annotated[str, Form()] = "5",
    direction: Annotated[str, Form()] = "forward",
) -> Response:
    state = web_state(request)
    tv = load_task(db, task_id)
    back = f"/spot-checks/{task_id}"
    instants = _instants(db, tv, mode, count, frame_id, step_s, direction)
    if not instants:
        return RedirectResponse(f"{back}?error=bad_pull#frames", status_code=303)
    access = footage_access(db, user, tv.branch.id, tv.channel.id, min(instants), max(instants))
    if not access.allowed:
        # Nothing is pulled or registered without the branch head's approval (D4).
        return RedirectResponse(f"{back}?error=not_approved", status_code=303)
    found = inventory_channel(state, tv.channel.id)
    if found is None or state.inventory is None:
        return RedirectResponse(f"{back}?error=no_inventory#frames", status_code=303)
    branch, device, channel = found
    # The register is the bank's own record (Art. 46), kept in its language.
    kind = "随机抽查" if tv.task.kind == "random" else "定向抽查"
    reason = f"抽查任务 #{tv.task.id} {kind}"
    if tv.task.reason:
        reason += f": {tv.task.reason}"
    if access.approval is not None:
        reason += f";经审批 #{access.approval.id}"
    pull_request = PullRequest(
        branch,
        device,
        channel,
        instants,
        reason,
        actor=user.username,
        actor_role=user.role,
        task_id=tv.task.id,
    )
    # The pull registers itself and writes its frames in its own transactions; end ours so
    # a SQLite reader snapshot cannot block them or go stale underneath us.
    db.rollback()
    try:
        outcome = anyio.from_thread.run(
            partial(
                pull_frames,
                pull_request,
                sessions=state.sessions,
                store=evidence_store(state),
                resolver=SecretResolver(state.inventory, state.inventory_path),
                onvif_settings=onvif_settings(state.settings),
                gb=gb_pull_settings(state.settings, state.inventory),
                now=state.clock(),
            )
        )
    except PullError as exc:
        # The message stays in the log: the page says what it means in the reader's words.
        log.warning("pull for task %s by %s failed: %s", task_id, user.username, exc)
        kind = exc.kind if exc.kind in PULL_ERRORS else "other"
        return RedirectResponse(f"{back}?error={kind}#frames", status_code=303)
    except KeyError as exc:  # the device's password reference does not resolve
        log.warning("pull for task %s: %s", task_id, exc)
        return RedirectResponse(f"{back}?error=config#frames", status_code=303)
    with state.sessions.begin() as session:
        task = session.get(SpotCheckTaskRow, task_id)
        if task is not None and task.status == "planned":
            task.status = "pulled"
    return RedirectResponse(f"{back}?done=pulled&n={len(outcome.frames)}#frames", 303)


def parse_review_form(
    posted: Mapping[str, Any], codes: list[str], frame_shas: set[str]
) -> tuple[ReviewForm, dict[str, ItemMark]]:
    form = ReviewForm(summary=clean_text(str(posted.get("summary", ""))))
    getlist = getattr(posted, "getlist", None)
    marks: dict[str, ItemMark] = {}
    for code in codes:
        verdict = str(posted.get(f"verdict.{code}", ""))
        note = clean_text(str(posted.get(f"note.{code}", "")))
        chosen = [str(v) for v in getlist(f"frames.{code}")] if getlist else []
        form.verdicts[code], form.notes[code] = verdict, note
        form.frames[code] = [sha for sha in chosen if sha in frame_shas]
        if verdict not in {v.value for v in Verdict}:
            form.errors[code] = "review.error_verdict"
        elif verdict == Verdict.FAIL and not note:
            form.errors[code] = "review.error_fail_note"
        else:
            marks[code] = ItemMark(Verdict(verdict), note, tuple(form.frames[code]))
    return form, marks


@router.post("/spot-checks/{task_id}/review", response_class=HTMLResponse)
def submit(
    request: Request, db: SessionDep, user: ReviewUser, task_id: int, posted: PostedForm
) -> Response:
    state = web_state(request)
    tv = load_task(db, task_id)
    task = tv.task
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    if not access.allowed:
        raise Forbidden("spotcheck.needs_approval")
    shas = set(
        db.scalars(
            select(TaskFrameRow.evidence_sha256).where(
                TaskFrameRow.task_id == task.id, TaskFrameRow.evidence_sha256.is_not(None)
            )
        )
    )
    codes = [item.code for item in channel_items(tv.channel.role)]
    form, marks = parse_review_form(posted, codes, {s for s in shas if s})
    if form.errors:
        form.errors[""] = "review.error_form"
        return _task_page(request, db, user, tv, form=form, status_code=400)
    if not in_scope(user, tv.branch.id):
        form.errors[""] = "review.error_own_branch"
        return _task_page(request, db, user, tv, form=form, status_code=400)
    try:
        review, findings = submit_review(
            db,
            reviewer=user,
            channel=tv.channel,
            branch_id=tv.branch.id,
            tz=zone(tv.branch.timezone),
            window_start=task.start,
            window_end=task.end,
            marks=marks,
            summary=form.summary,
            now=state.clock(),
            task_id=task.id,
        )
    except ReviewError as exc:
        db.rollback()
        form.errors[""], form.detail = "review.error_rejected", str(exc)
        return _task_page(request, db, user, tv, form=form, status_code=400)
    db.commit()
    log.info(
        "review %s of task %s by %s: %d finding(s)",
        review.id,
        task_id,
        user.username,
        len(findings),
    )
    return RedirectResponse(f"/reviews/{review.id}?done=submitted", status_code=303)
