"""Weekly duties (D1–D3) and the administrator's daily check (D1).

``/duties``                     every branch in scope for one week (default: this week),
                                with a branch's recent weeks when one branch is shown
``/duties/check``               the administrator's own branch's daily check
``/duties/check/{branch_id}``   today's collector result and the confirmation (POST)
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import BranchRow, UserRow
from vidaudit.inventory.calendar import branch_calendar, current_policy
from vidaudit.review.daily_checks import (
    MAX_NOTE,
    confirm,
    confirmation_problem,
    confirmations,
    todays_check,
)
from vidaudit.web.deps import (
    BranchScope,
    SessionDep,
    check_branch,
    require_permission,
    scoped_branches,
)
from vidaudit.web.i18n import DEFAULT_TIMEZONE, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.duties_check import collector_today, confirmer_name
from vidaudit.web.views.duties_data import (
    HISTORY_WEEKS,
    BadWeek,
    DutyLine,
    branch_today,
    duties_for_weeks,
    iso_week,
    offsite_atms,
    parse_week,
    patrol_weeks,
)

router = APIRouter(tags=["duties"])


@router.get("/duties", response_class=HTMLResponse)
def duties_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_DUTIES)],
    scope: BranchScope,
    week: str | None = None,
    branch: str | None = None,
) -> HTMLResponse:
    state = web_state(request)
    now = state.clock()
    branches = scoped_branches(db, scope)
    if branch:
        check_branch(user, branch)
        branches = [b for b in branches if b.id == branch]
        if not branches:
            raise HTTPException(404)
    # "This week" in the zone of the one branch shown, else Beijing time.
    tz = branches[0].timezone if len(branches) == 1 else DEFAULT_TIMEZONE
    try:
        monday = parse_week(week, now.astimezone(zone(tz)).date())
    except BadWeek:
        raise HTTPException(400) from None
    inventory = state.inventory  # once: an edit may be taken up meanwhile
    policy = current_policy(db, inventory)
    atms = offsite_atms(db, [row.id for row in branches])
    lines: list[DutyLine] = []
    history: list[DutyLine] = []
    for row in branches:
        today = branch_today(row, now)
        [duties] = duties_for_weeks(db, row, policy, [monday], now, inventory)
        [patrol] = patrol_weeks(db, row, policy, [monday], now, atms[row.id])
        pending = (
            policy.duties.daily_check
            and monday <= today < monday + dt.timedelta(days=7)
            and branch_calendar(row, inventory).hours_on(today) is not None
            and today not in duties.checked_days
        )
        lines.append(DutyLine(row, duties, today_pending=bool(pending), patrol=patrol))
    if len(branches) == 1:
        row = branches[0]
        mondays = [monday - dt.timedelta(weeks=n) for n in range(1, HISTORY_WEEKS + 1)]
        patrols = patrol_weeks(db, row, policy, mondays, now, atms[row.id])
        history = [
            DutyLine(row, d, patrol=p)
            for d, p in zip(
                duties_for_weeks(db, row, policy, mondays, now, inventory),
                patrols,
                strict=True,
            )
        ]
    this_monday = parse_week(None, now.astimezone(zone(tz)).date())
    return render(
        request,
        "duties.html",
        {
            "lines": lines,
            "history": history,
            "monday": monday,
            "sunday": monday + dt.timedelta(days=6),
            "iso_week": iso_week(monday),
            "prev_week": (monday - dt.timedelta(weeks=1)).isoformat(),
            "next_week": (monday + dt.timedelta(weeks=1)).isoformat()
            if monday < this_monday
            else None,
            "is_this_week": monday == this_monday,
            "branch": branch,
            "policy": policy.duties,
            "any_atms": any(atms.values()),
            "atm_names": {a.channel_id: a.name for found in atms.values() for a in found},
        },
    )


@router.get("/duties/check", response_class=HTMLResponse)
def my_daily_check(
    user: Annotated[UserRow, require_permission(Permission.DAILY_CHECK)],
) -> Response:
    if not user.branch_id:
        raise HTTPException(404)
    return RedirectResponse(f"/duties/check/{user.branch_id}", status_code=303)


def _branch_or_404(db: SessionDep, user: UserRow, branch_id: str) -> BranchRow:
    row = db.get(BranchRow, branch_id)
    if row is None or row.retired_at is not None:
        raise HTTPException(404)
    check_branch(user, branch_id)
    return row


def _check_page(
    request: Request,
    db: SessionDep,
    user: UserRow,
    row: BranchRow,
    *,
    done: str | None = None,
    error: str | None = None,
    outcome: str = "",
    note: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    state = web_state(request)
    now = state.clock()
    today = branch_today(row, now)
    check = todays_check(db, row.id, today)
    return render(
        request,
        "daily_check.html",
        {
            "branch": row,
            "tz": row.timezone,
            "today": today,
            "business_day": branch_calendar(row, state.inventory).hours_on(today) is not None,
            "collector": collector_today(db, row.id, today, row.timezone, now),
            "check": check,
            "confirmed_by": confirmer_name(db, check),
            "done": done if done in ("new", "added") else None,
            "error": error,
            "outcome": outcome,
            "note": note,
            "confirmations": confirmations(db, check),
            "max_note": MAX_NOTE,
        },
        status_code=status_code,
    )


@router.get("/duties/check/{branch_id}", response_class=HTMLResponse)
def daily_check_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.DAILY_CHECK)],
    branch_id: str,
    done: str | None = None,
) -> HTMLResponse:
    return _check_page(request, db, user, _branch_or_404(db, user, branch_id), done=done)


@router.post("/duties/check/{branch_id}")
def daily_check_confirm(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.DAILY_CHECK)],
    branch_id: str,
    outcome: Annotated[Literal["ok", "problems"], Form()],
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    row = _branch_or_404(db, user, branch_id)
    now = web_state(request).clock()
    today = branch_today(row, now)
    collector = collector_today(db, branch_id, today, row.timezone, now)
    problem = confirmation_problem(outcome, note, len(collector.violations))
    if problem is not None:
        # nothing is recorded; the page comes back with what was typed and why
        return _check_page(
            request, db, user, row, error=problem, outcome=outcome, note=note, status_code=400
        )
    _check, created = confirm(
        db,
        branch_id=branch_id,
        day=today,
        user=user,
        outcome=outcome,
        note=note,
        run_id=collector.result.run_id if collector.result is not None else None,
        now=now,
    )
    db.commit()
    return RedirectResponse(
        f"/duties/check/{branch_id}?done={'new' if created else 'added'}", status_code=303
    )
