"""One spot-check task (D2, D3, D4): its frames and its review (the queue and the plans
are ``spotcheck_queue``).

``/spot-checks/{id}``       the task: channel, window, reason, pulled frames, the items
``…/pull``                  pull the planned frames, more frames, or step ±N s (POST)
``…/clip``                  pull a clip of 5-60 s around a frame or the task's event (POST)
``…/access``                ask the branch head for approval (D4) (POST)
``…/review``                submit the review (POST) -> ``/reviews/{id}``
``…/reopen``                reopen a reviewed task for another review, with a reason (POST)

Pulls, steps and clips answer JSON to the page's script (static/spotcheck.js), which
puts the new frames or clip in place without reloading, so verdicts and notes being typed
are kept; a browser without script gets the page again.  Frames are labelled by their
instant, which does not change when more are pulled.  A step outside the task's window
needs a stated reason, registered with the pull.  Each reviewer reviews a task once
unless it is reopened with a reason (on the register).

D4 comes first: before a frame is listed, served or pulled, ``footage_access`` says whether
this person may see this channel over this range; if not, the page shows the approval
request form instead of the frames.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import SpotCheckPlanRow, UserRow
from vidaudit.errors import ConfigError, ErrorKind
from vidaudit.inventory.load import SecretResolver
from vidaudit.review.access import footage_access
from vidaudit.review.approvals import ApprovalError, request_approval
from vidaudit.review.items import Verdict
from vidaudit.review.reviews import (
    ItemMark,
    ReviewError,
    may_review_task,
    reopen_task,
    submit_review,
)
from vidaudit.sampler.clips import MAX_SECONDS, MIN_SECONDS
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.sampler.pull import PullError
from vidaudit.sampler.tasks import Puller, pull_task, pull_task_clip
from vidaudit.web.deps import DbId, Forbidden, FormField, FormText, SessionDep, require_permission
from vidaudit.web.errors import wants_json
from vidaudit.web.i18n import Translator, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    TaskView,
    channel_items,
    clean_text,
    evidence_store,
    in_scope,
    load_task,
    note_viewing,
    query_flag,
    user_names,
)
from vidaudit.web.views.spotchecks import (
    clip_range,
    frame_shas,
    outside_window,
    pull_instants,
    signed_ms,
    task_clips,
    task_frames,
    task_reviews,
)
from vidaudit.web.violations import check_names

log = logging.getLogger(__name__)
router = APIRouter(tags=["spot-checks"])

#: pull failures the page explains in words; any other kind gets the generic message
PULL_ERRORS = frozenset(
    {
        ErrorKind.NOT_FOUND,
        ErrorKind.UNREACHABLE,
        ErrorKind.TIMEOUT,
        ErrorKind.AUTH,
        ErrorKind.CONFIG,
        "no_inventory",
    }
)

#: refusals of the review domain the page says in its own words (else "not saved")
REVIEW_ERRORS = frozenset({"fail_note", "fail_frame", "already_reviewed", "role"})

ReviewUser = Annotated[UserRow, require_permission(Permission.REVIEW)]
ViewUser = Annotated[UserRow, require_permission(Permission.VIEW_SPOT_CHECKS)]


async def read_form(request: Request) -> FormData:
    """The posted form as sent (the review form's fields are named after the items, so
    they cannot be declared as parameters); Starlette caches it for the CSRF check."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(read_form)]


# --- one task ------------------------------------------------------------------------------


@dataclass
class ReviewForm:
    """The reviewer's marks as entered: re-shown in full after a validation error."""

    verdicts: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    frames: dict[str, list[str]] = field(default_factory=dict)
    summary: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # item code ("" = form) -> key


def _task_page(
    request: Request,
    db: Session,
    user: UserRow,
    tv: TaskView,
    *,
    form: ReviewForm | None = None,
    access_reason: str = "",
    access_error: str = "",
    reopen_error: str = "",
    reopen_reason: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    task = tv.task
    t = web_state(request).catalogue.translator(request.state.lang)
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    frames = task_frames(db, task.id) if access.allowed else []
    if frames:
        instants = [f.actual or f.requested for f in frames]
        note_viewing(
            request,
            db,
            user,
            branch_id=tv.branch.id,
            channel_id=tv.channel.id,
            start=min([task.start, *instants]),
            end=max([task.end, *instants]),
            details={"task_id": task.id, "frames": len(frames)},
        )
    clips = task_clips(db, task.id) if access.allowed else []
    plan = db.get(SpotCheckPlanRow, task.plan_id)
    reviews = task_reviews(db, task.id)
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
            "clips": clips,
            "clip_seconds": (MIN_SECONDS, MAX_SECONDS),
            "items": channel_items(tv.channel.role),
            "verdicts": [v.value for v in Verdict],
            "form": form or ReviewForm(),
            "reviews": reviews,
            "reviewers": user_names(db, [r.reviewer_id for r in reviews]),
            "may_review": may_review_task(db, user, task.id),
            "access_reason": access_reason,
            "access_error": access_error,
            "reopen_error": reopen_error,
            "reopen_reason": reopen_reason,
            "done": query_flag(request, "done"),
            "error": query_flag(request, "error"),
            "pulled": request.query_params.get("n", ""),
            "pull_message": partial(pull_message, t),
            "signed_ms": signed_ms,
            "check_names": lambda d: check_names(_failed_checks(d), t),
        },
        status_code=status_code,
    )


def _failed_checks(diagnostics: dict[str, Any]) -> list[object]:
    """The failed checks of a stored diagnosis (``diagnosis_json``), the primary first."""
    checks = diagnostics.get("checks") or {}
    failed = [n for n, c in checks.items() if isinstance(c, dict) and c.get("verdict") == "fail"]
    primary = diagnostics.get("primary")
    return [primary, *(n for n in failed if n != primary)] if primary else failed


@router.get("/spot-checks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, db: SessionDep, user: ViewUser, task_id: DbId) -> HTMLResponse:
    # No check_branch here: a person outside the branch sees the task only to ask the
    # branch head for approval (D4); its frames stay hidden until the head agrees.
    return _task_page(request, db, user, load_task(db, task_id))


@router.post("/spot-checks/{task_id}/access", response_class=HTMLResponse)
def request_access(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: DbId,
    reason: FormText = "",
) -> Response:
    tv = load_task(db, task_id)
    task = tv.task
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    if access.allowed or access.pending is not None:
        return RedirectResponse(f"/spot-checks/{task_id}", status_code=303)
    try:
        request_approval(
            db,
            user,
            branch_id=tv.branch.id,
            channel_id=tv.channel.id,
            start=task.start,
            end=task.end,
            reason=clean_text(reason),
            now=web_state(request).clock(),
            task_id=task.id,
        )
    except ApprovalError as exc:
        return _task_page(request, db, user, tv, access_error=exc.code, status_code=400)
    db.commit()
    return RedirectResponse(f"/spot-checks/{task_id}?done=requested", status_code=303)


def pull_message_key(error: str) -> str:
    """The catalogue key that says why a pull did not happen (page and JSON alike)."""
    special = {
        "bad_pull": "spotcheck.bad_pull",
        "bad_clip": "clip.bad_request",
        "not_approved": "spotcheck.needs_approval",
        "outside_window": "spotcheck.outside_window",
    }
    if error in special:
        return special[error]
    return f"spotcheck.pull_error_{error if error in PULL_ERRORS else 'other'}"


def pull_message(t: Translator, error: str) -> str:
    """Why a pull of frames or a clip did not happen, in the reader's words."""
    return t(pull_message_key(error), low=MIN_SECONDS, high=MAX_SECONDS)


#: what each kind of pull fills on the page: its section (the anchor a browser without
#: script comes back to), the ``done`` flag of that redirect and the words said after it
PULL_SECTIONS = {
    "frames": ("pulled", "spotcheck.pulled"),
    "clips": ("clip", "clip.pulled"),
}


def _pull_answer(
    request: Request,
    task_id: int,
    section: str,
    *,
    error: str = "",
    n: int = 0,
    status: int = 200,
) -> Response:
    """JSON for the page's script (the message in the reader's words), else a redirect
    back to the section (frames or clips) for a browser without script."""
    done, message_key = PULL_SECTIONS[section]
    if wants_json(request):
        t = web_state(request).catalogue.translator(request.state.lang)
        if error:
            answer = {"ok": False, "error": error, "message": pull_message(t, error)}
            return JSONResponse(answer, status)
        return JSONResponse({"ok": True, "n": n, "message": t(message_key, n=n)})
    back = f"/spot-checks/{task_id}"
    if error:
        # refused for want of approval: back to the page's approval form, not the section
        anchor = "" if error == "not_approved" else f"#{section}"
        return RedirectResponse(f"{back}?error={error}{anchor}", status_code=303)
    return RedirectResponse(f"{back}?done={done}&n={n}#{section}", status_code=303)


def _puller(request: Request) -> Puller | None:
    state = web_state(request)
    inventory = state.inventory  # once: an edit may be taken up meanwhile
    if inventory is None:
        return None
    return Puller(
        inventory,
        state.sessions,
        evidence_store(state),
        SecretResolver(inventory, state.inventory_path),
        state.settings.onvif(),
        gb_pull_settings(state.settings, inventory),
    )


#: one pull of a task's footage once it is allowed: (puller, approval id) -> how many
#: frames or clips it brought
TaskPull = Callable[[Puller, int | None], Coroutine[Any, Any, int]]


def _pull_footage(
    request: Request,
    db: Session,
    user: UserRow,
    tv: TaskView,
    section: str,
    span: tuple[dt.datetime, dt.datetime],
    run: TaskPull,
) -> Response:
    """What frame and clip pulls share: D4 over ``span``, a puller, the pull in its own
    transactions, and an answer in the reader's words whatever happens."""
    task_id = tv.task.id
    access = footage_access(db, user, tv.branch.id, tv.channel.id, *span)
    if not access.allowed:
        # Nothing is pulled or registered without the branch head's approval (D4).
        return _pull_answer(request, task_id, section, error="not_approved", status=403)
    puller = _puller(request)
    if puller is None:
        return _pull_answer(request, task_id, section, error="no_inventory", status=409)
    approval_id = access.approval.id if access.approval is not None else None
    # The pull registers itself and writes its footage in its own transactions; end ours
    # so a SQLite reader snapshot cannot block them or go stale underneath us.
    db.rollback()
    try:
        n = anyio.from_thread.run(run, puller, approval_id)
    except (PullError, ConfigError) as exc:
        # The message stays in the log: the page says what it means in the reader's words.
        log.warning("pull of %s for task %s by %s failed: %s", section, task_id, user.username, exc)
        kind = exc.kind if exc.kind in PULL_ERRORS else "other"
        return _pull_answer(request, task_id, section, error=str(kind), status=502)
    return _pull_answer(request, task_id, section, n=n)


@router.post("/spot-checks/{task_id}/pull")
def pull(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: DbId,
    mode: FormField = "planned",
    count: FormField = "3",
    frame_id: FormField = "",
    step_s: FormField = "5",
    direction: FormField = "forward",
    reason: FormText = "",
) -> Response:
    tv = load_task(db, task_id)
    instants = pull_instants(db, tv.task, mode, count, frame_id, step_s, direction)
    if not instants:
        return _pull_answer(request, task_id, "frames", error="bad_pull", status=400)
    outside = outside_window(tv.task, instants)
    why = clean_text(reason)
    if outside and not why:
        # Footage outside the task's window is another viewing: say why first (D4).
        return _pull_answer(request, task_id, "frames", error="outside_window", status=400)
    now = web_state(request).clock()

    async def run(puller: Puller, approval_id: int | None) -> int:
        outcome = await pull_task(
            puller,
            tv.task,
            instants,
            actor=user.username,
            actor_role=user.role,
            now=now,
            approval_id=approval_id,
            outside_reason=why if outside else None,
        )
        return len(outcome.frames)

    span = (min(instants), max(instants))
    return _pull_footage(request, db, user, tv, "frames", span, run)


@router.post("/spot-checks/{task_id}/reopen", response_class=HTMLResponse)
def reopen(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: DbId,
    reason: FormText = "",
) -> Response:
    tv = load_task(db, task_id)
    if not in_scope(user, tv.branch.id):
        raise Forbidden("review.error_own_branch")
    try:
        reopen_task(db, user, tv.task, clean_text(reason), web_state(request).clock())
    except ReviewError as exc:
        db.rollback()
        return _task_page(
            request,
            db,
            user,
            load_task(db, task_id),
            reopen_error=f"review.error_{exc.code}",
            reopen_reason=clean_text(reason),
            status_code=400,
        )
    db.commit()
    return RedirectResponse(f"/spot-checks/{task_id}?done=reopened#review-form", 303)


@router.post("/spot-checks/{task_id}/clip")
def pull_clip_of_task(
    request: Request,
    db: SessionDep,
    user: ReviewUser,
    task_id: DbId,
    seconds: FormField = "20",
    frame_id: FormField = "",
) -> Response:
    tv = load_task(db, task_id)
    wanted = clip_range(db, tv.task, frame_id, seconds)
    if wanted is None:
        return _pull_answer(request, task_id, "clips", error="bad_clip", status=400)
    start, end = wanted
    now = web_state(request).clock()

    async def run(puller: Puller, approval_id: int | None) -> int:
        await pull_task_clip(
            puller,
            tv.task,
            start,
            end,
            actor=user.username,
            actor_role=user.role,
            now=now,
            approval_id=approval_id,
        )
        return 1

    return _pull_footage(request, db, user, tv, "clips", wanted, run)


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
        elif verdict == Verdict.FAIL and not form.frames[code]:
            form.errors[code] = "review.error_fail_frame"
        else:
            marks[code] = ItemMark(Verdict(verdict), note, tuple(form.frames[code]))
    return form, marks


@router.post("/spot-checks/{task_id}/review", response_class=HTMLResponse)
def submit(
    request: Request, db: SessionDep, user: ReviewUser, task_id: DbId, posted: PostedForm
) -> Response:
    state = web_state(request)
    tv = load_task(db, task_id)
    task = tv.task
    access = footage_access(db, user, tv.branch.id, tv.channel.id, task.start, task.end)
    if not access.allowed:
        raise Forbidden("spotcheck.needs_approval")
    codes = [item.code for item in channel_items(tv.channel.role)]
    form, marks = parse_review_form(posted, codes, frame_shas(db, task.id))
    if form.errors:
        form.errors[""] = "review.error_form"
        return _task_page(request, db, user, tv, form=form, status_code=400)
    if not in_scope(user, tv.branch.id):
        form.errors[""] = "review.error_own_branch"
        return _task_page(request, db, user, tv, form=form, status_code=400)
    if not may_review_task(db, user, task.id):
        form.errors[""] = "review.error_already_reviewed"
        return _task_page(request, db, user, tv, form=form, status_code=409)
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
        log.info("review of task %s by %s refused: %s", task_id, user.username, exc)
        form.errors[""] = (
            f"review.error_{exc.code}" if exc.code in REVIEW_ERRORS else "review.error_rejected"
        )
        return _task_page(request, db, user, load_task(db, task_id), form=form, status_code=400)
    db.commit()
    log.info(
        "review %s of task %s by %s: %d finding(s)",
        review.id,
        task_id,
        user.username,
        len(findings),
    )
    return RedirectResponse(f"/reviews/{review.id}?done=submitted", status_code=303)
