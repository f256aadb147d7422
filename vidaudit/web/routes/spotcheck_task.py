"""One spot-check task (D2, D3, D4): its frames and its review (the queue and the plans
are ``spotcheck_queue``).

``/spot-checks/{id}``       the task: channel, window, reason, pulled frames, the items
``…/pull``                  pull the planned frames, more frames, or step ±N s (POST)
``…/access``                ask the branch head for approval (D4) (POST)
``…/review``                submit the review (POST) -> ``/reviews/{id}``

D4 comes first: before a frame is listed, served or pulled, ``footage_access`` says whether
this person may see this channel over this range; if not, the page shows the approval
request form instead of the frames.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import SpotCheckPlanRow, UserRow
from vidaudit.errors import ConfigError, ErrorKind
from vidaudit.inventory.load import SecretResolver
from vidaudit.review.access import footage_access
from vidaudit.review.approvals import ApprovalError, request_approval
from vidaudit.review.items import Verdict
from vidaudit.review.reviews import ItemMark, ReviewError, submit_review
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.sampler.pull import PullError
from vidaudit.sampler.tasks import Puller, pull_task
from vidaudit.web.deps import DbId, Forbidden, FormField, FormText, SessionDep, require_permission
from vidaudit.web.i18n import zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    TaskView,
    channel_items,
    clean_text,
    evidence_store,
    in_scope,
    load_task,
    query_flag,
)
from vidaudit.web.views.spotchecks import frame_shas, pull_instants, task_frames, task_reviews

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
    frames = task_frames(db, task.id) if access.allowed else []
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
) -> Response:
    state = web_state(request)
    tv = load_task(db, task_id)
    back = f"/spot-checks/{task_id}"
    instants = pull_instants(db, tv.task, mode, count, frame_id, step_s, direction)
    if not instants:
        return RedirectResponse(f"{back}?error=bad_pull#frames", status_code=303)
    access = footage_access(db, user, tv.branch.id, tv.channel.id, min(instants), max(instants))
    if not access.allowed:
        # Nothing is pulled or registered without the branch head's approval (D4).
        return RedirectResponse(f"{back}?error=not_approved", status_code=303)
    if state.inventory is None:
        return RedirectResponse(f"{back}?error=no_inventory#frames", status_code=303)
    puller = Puller(
        state.inventory,
        state.sessions,
        evidence_store(state),
        SecretResolver(state.inventory, state.inventory_path),
        state.settings.onvif(),
        gb_pull_settings(state.settings, state.inventory),
    )
    # The pull registers itself and writes its frames in its own transactions; end ours so
    # a SQLite reader snapshot cannot block them or go stale underneath us.
    db.rollback()
    try:
        outcome = anyio.from_thread.run(
            partial(
                pull_task,
                puller,
                tv.task,
                instants,
                actor=user.username,
                actor_role=user.role,
                now=state.clock(),
                approval_id=access.approval.id if access.approval is not None else None,
            )
        )
    except (PullError, ConfigError) as exc:
        # The message stays in the log: the page says what it means in the reader's words.
        log.warning("pull for task %s by %s failed: %s", task_id, user.username, exc)
        kind = exc.kind if exc.kind in PULL_ERRORS else "other"
        return RedirectResponse(f"{back}?error={kind}#frames", status_code=303)
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
