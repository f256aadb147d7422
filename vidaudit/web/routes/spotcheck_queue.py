"""Spot-check queue and plans (D5, D6): ``/spot-checks`` lists my queue; managers plan
random checks (with their seed) or targeted ones (from an events CSV) here.  A task's
own page, its pulls and its review are ``spotcheck_task``."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.dates import parse_date
from vidaudit.db.models import UserRow
from vidaudit.errors import Problem
from vidaudit.inventory.schema import ChannelRole
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
from vidaudit.sampler.store import save_plan
from vidaudit.web.deps import FormField, SessionDep, require_permission
from vidaudit.web.i18n import Translator, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import query_flag, with_query
from vidaudit.web.views.spotchecks import MAX_PULL_FRAMES, queue_page, read_int

log = logging.getLogger(__name__)
router = APIRouter(tags=["spot-checks"])

#: a targeted CSV is a few hundred rows of events; anything much bigger is a mistake
MAX_CSV_BYTES = 1 << 20

ViewUser = Annotated[UserRow, require_permission(Permission.VIEW_SPOT_CHECKS)]
PlanUser = Annotated[UserRow, require_permission(Permission.MANAGE_PLANS)]


# --- the queue and plans -----------------------------------------------------------------


class RandomPlanInput(BaseModel):
    """The random-plan form as posted (FastAPI form model).  Fields stay text so that a
    wrong value re-renders the form as typed with its error, rather than a bare 422;
    ``parsed`` turns them into a plan request or says the form is invalid."""

    model_config = ConfigDict(extra="ignore")  # the CSRF token is posted too

    count: str = Field("", max_length=12)
    period_start: str = Field("", max_length=32)
    period_days: str = Field("", max_length=12)
    roles: list[Annotated[str, Field(max_length=32)]] = Field([], max_length=len(ChannelRole))
    branches: list[Annotated[str, Field(max_length=64)]] = Field([], max_length=5000)
    window_min: str = Field("", max_length=12)
    frames: str = Field("", max_length=12)

    def parsed(self) -> tuple[RandomPlanRequest, int] | None:
        """(the plan request, frames per task), or None when a field is out of bounds."""
        n, days = read_int(self.count, 1, 500), read_int(self.period_days, 1, 366)
        window = read_int(self.window_min, 1, 240)
        per_task = read_int(self.frames, 1, MAX_PULL_FRAMES)
        first = parse_date(self.period_start)
        if first is None:  # not a date, or outside 2000-2199 (year 1 or 9999 overflows)
            return None
        known = {r.value for r in ChannelRole}
        if n is None or days is None or window is None or per_task is None:
            return None
        if not self.roles or not set(self.roles) <= known:
            return None
        request = RandomPlanRequest(
            count=n,
            period_start=first,
            period_days=days,
            roles=frozenset(ChannelRole(r) for r in self.roles),
            window=dt.timedelta(minutes=window),
            branches=frozenset(self.branches) or None,
        )
        return request, per_task


@dataclass
class PlanForm:
    """What a manager typed into the plan forms, kept to re-render after an error."""

    count: str = "10"
    period_start: str = ""
    period_days: str = "7"
    roles: list[str] = field(default_factory=lambda: [ChannelRole.COUNTER.value])
    branches: list[str] = field(default_factory=list)
    window_min: str = "10"
    frames: str = "6"
    error: str = ""
    #: what was wrong, each said in the reader's words (``spotcheck.problem.<code>``)
    problems: list[Problem] = field(default_factory=list)
    #: the targeted-plan card's own frames, error and problems (a CSV's bad lines)
    csv_frames: str = "6"
    csv_error: str = ""
    csv_problems: list[Problem] = field(default_factory=list)


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
    t = state.catalogue.translator(request.state.lang)
    data = queue_page(db, user, status=status, kind=kind, branch=branch, page=page)
    form = plan_form or PlanForm(period_start=_default_period_start(state.clock()).isoformat())
    filters = {"status": status, "kind": kind, "branch": branch}
    return render(
        request,
        "spotcheck_queue.html",
        {
            "tasks": data.tasks,
            "zones": data.zones,
            "branch_names": data.names,
            "channels": data.channels,
            "branches": data.branches,
            "filters": filters,
            "page": data.page,
            "pages": data.pages,
            "total": data.total,
            "page_url": lambda n: with_query("/spot-checks", {**filters, "page": n}),
            "plans": data.plans,
            "plan_sizes": data.plan_sizes,
            "plan_form": form,
            "plan_problem": lambda p: plan_problem_text(p, t),
            "roles": [r.value for r in ChannelRole],
            "has_inventory": state.inventory is not None,
            "done": query_flag(request, "done"),
            "done_plan": request.query_params.get("plan", ""),
        },
        status_code=status_code,
    )


def plan_problem_text(problem: Problem, t: Translator) -> str:
    """A plan's problem in the reader's words; one without words says the plan failed."""
    key = f"spotcheck.problem.{problem.code}"
    return t(key, **problem.params) if t.has(key) else t("spotcheck.plan_failed")


def last_day(plan: RandomPlanRequest) -> dt.date:
    return plan.period_start + dt.timedelta(days=plan.period_days - 1)


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


@router.post("/spot-checks/plans/random", response_class=HTMLResponse)
def create_random_plan(
    request: Request,
    db: SessionDep,
    user: PlanUser,
    posted: Annotated[RandomPlanInput, Form()],
) -> Response:
    state = web_state(request)
    inventory = state.inventory  # once: an edit may be taken up meanwhile
    form = PlanForm(**posted.model_dump())
    parsed = posted.parsed()
    today = state.clock().astimezone(zone(None)).date()
    if parsed is None:
        form.error = "spotcheck.plan_invalid"
    elif last_day(parsed[0]) > today:
        # footage from the future does not exist; such tasks also sorted to the queue's top
        form.error = "spotcheck.plan_future"
    elif inventory is None:
        form.error = "spotcheck.no_inventory"
    if form.error:
        return _refused_plan(request, db, user, form)
    assert parsed is not None and inventory is not None
    plan_request, per_task = parsed
    seed = new_seed()
    try:
        tasks = random_plan(inventory, plan_request, seed)
    except PlanError as exc:
        form.error, form.problems = "spotcheck.plan_failed", exc.problems
        return _refused_plan(request, db, user, form)
    first = plan_request.period_start
    params = {
        "period_start": first.isoformat(),
        "period_days": plan_request.period_days,
        "roles": sorted(form.roles),
        "count": plan_request.count,
        "window_min": int(plan_request.window / dt.timedelta(minutes=1)),
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
    frames: FormField = "6",
) -> Response:
    state = web_state(request)
    inventory = state.inventory  # once: an edit may be taken up meanwhile
    # the random card keeps its defaults (its date is not cleared by this form's error)
    form = PlanForm(
        period_start=_default_period_start(state.clock()).isoformat(), csv_frames=frames
    )
    per_task = read_int(frames, 1, MAX_PULL_FRAMES)
    data = events.file.read(MAX_CSV_BYTES + 1) if events is not None else b""
    name = (events.filename if events is not None else None) or "events.csv"
    if per_task is None or not data:
        form.csv_error = "spotcheck.csv_missing"
    elif len(data) > MAX_CSV_BYTES:
        form.csv_error = "spotcheck.csv_too_big"
    elif inventory is None:
        form.csv_error = "spotcheck.no_inventory"
    tasks: list[PlannedTask] = []
    if not form.csv_error:
        assert inventory is not None
        try:
            text = data.decode("utf-8")
            tasks = targeted_plan(inventory, parse_events_csv(text, inventory, name), source=name)
        except UnicodeDecodeError:
            form.csv_error = "spotcheck.csv_encoding"
        except PlanError as exc:
            # every bad line, each with its number, in the reader's words
            form.csv_error, form.csv_problems = "spotcheck.csv_bad_lines", exc.problems
        else:
            if not tasks:
                form.csv_error = "spotcheck.csv_missing"
    if form.csv_error:
        return _refused_plan(request, db, user, form)
    assert per_task is not None
    params = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    plan_id = _save(db, user, state.clock(), "targeted", tasks, params, per_task, None)
    return RedirectResponse(f"/spot-checks?done=planned&plan={plan_id}", status_code=303)
