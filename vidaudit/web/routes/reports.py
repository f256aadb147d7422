"""Reports: the weekly branch report as print-friendly HTML and as PDF.

``/reports``                                   the branches in scope, with report links
``/reports/weekly?branch=B&week=2026-11-16``   the week's report (HTML, prints on A4)
``/reports/weekly.pdf?branch=B&week=…``        the same numbers as a PDF (reportlab)
``POST /reports/weekly/checkpoint``            sign a register checkpoint now, for the report
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import BranchRow, UserRow
from vidaudit.inventory.calendar import current_policy
from vidaudit.review.checkpoints import Outcome, checkpoint_now
from vidaudit.web.deps import (
    BranchScope,
    FormField,
    SessionDep,
    check_branch,
    require_permission,
    scoped_branches,
)
from vidaudit.web.i18n import DEFAULT_TIMEZONE, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import base_context, render
from vidaudit.web.views.duties_data import BadWeek, parse_week
from vidaudit.web.views.report_pdf import weekly_pdf
from vidaudit.web.views.report_weekly import FINDING_STATUSES, WeeklyReport, weekly_report

router = APIRouter(tags=["reports"])
#: weeks offered on the index page
INDEX_WEEKS = 6


@router.get("/reports", response_class=HTMLResponse)
def reports_index(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    scope: BranchScope,
) -> HTMLResponse:
    now = web_state(request).clock()
    branches = scoped_branches(db, scope)
    tz = branches[0].timezone if len(branches) == 1 else DEFAULT_TIMEZONE
    this_monday = parse_week(None, now.astimezone(zone(tz)).date())
    weeks = [this_monday - dt.timedelta(weeks=n) for n in range(INDEX_WEEKS)]
    return render(request, "report_index.html", {"branches": branches, "weeks": weeks})


def _report(
    request: Request, db: Session, user: UserRow, branch: str | None, week: str | None
) -> WeeklyReport | Response:
    if not branch:
        # A branch-bound user means their own branch; others choose on the index page.
        if user.branch_id is None:
            return RedirectResponse("/reports", status_code=303)
        branch = user.branch_id
    row = db.get(BranchRow, branch)
    if row is None:
        raise HTTPException(404)
    check_branch(user, branch)
    state = web_state(request)
    now = state.clock()
    try:
        monday = parse_week(week, now.astimezone(zone(row.timezone)).date())
    except BadWeek:
        raise HTTPException(400) from None
    policy = current_policy(db, state.inventory)
    return weekly_report(db, row, monday, policy, now, state.inventory)


@router.get("/reports/weekly", response_class=HTMLResponse)
def weekly_html(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    branch: str | None = None,
    week: str | None = None,
) -> Response:
    report = _report(request, db, user, branch, week)
    if isinstance(report, Response):
        return report
    state = web_state(request)
    outcome = request.query_params.get("checkpoint", "")
    return render(
        request,
        "report_weekly.html",
        {
            "report": report,
            "tz": report.tz,
            "finding_statuses": FINDING_STATUSES,
            "can_sign": state.signer.get() is not None,
            "checkpoint_outcome": outcome if outcome in set(Outcome) else "",
        },
    )


@router.post("/reports/weekly/checkpoint")
def sign_checkpoint(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    branch: FormField = "",
    week: FormField = "",
) -> Response:
    """Sign a checkpoint of the register head now, then show the report again with it.
    A deliberate action (POST, CSRF-checked): opening or printing a report signs nothing,
    it prints the newest checkpoint, which the server signs at least hourly.  Anyone who
    may read the report may ask: a checkpoint records no one's act and changes no record,
    it vouches for a chain it has just verified."""
    if branch:
        if db.get(BranchRow, branch) is None:
            raise HTTPException(404)
        check_branch(user, branch)
    state = web_state(request)
    outcome = checkpoint_now(
        state.sessions, state.signer, state.settings.checkpoints_file, state.clock()
    )
    query = urlencode({"branch": branch, "week": week, "checkpoint": outcome.value})
    return RedirectResponse(f"/reports/weekly?{query}#register", status_code=303)


@router.get("/reports/weekly.pdf")
def weekly_pdf_file(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    branch: str | None = None,
    week: str | None = None,
) -> Response:
    report = _report(request, db, user, branch, week)
    if isinstance(report, Response):
        return report
    translate = base_context(request)["t"]
    font = web_state(request).settings.report_font
    pdf = weekly_pdf(report, translate, user.display_name, font)
    name = f"vidaudit-{report.branch.id}-{report.monday.isoformat()}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}"},
    )
