"""``/``: the compliance dashboard, one row per branch in the user's scope; and its exports
``/dashboard.csv`` and ``/dashboard.xlsx`` (same filter and order as the page).

Sorting and filtering are query parameters on plain links and a GET form, so a view can be
bookmarked, shared and printed without any script.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import BranchRow, UserRow
from vidaudit.web.deps import BranchScope, SessionDep, require_permission
from vidaudit.web.export import Cell, download, to_csv, to_xlsx
from vidaudit.web.i18n import DEFAULT_TIMEZONE, localtime
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views import dashboard_export as export
from vidaudit.web.views.dashboard_data import (
    PROBLEMS,
    PROBLEMS_FIRST_DESC,
    BranchSummary,
    View,
    dashboard_rows,
    scoped_branches,
    select_rows,
)

router = APIRouter(tags=["dashboard"])

QueryText = Annotated[str | None, Query(max_length=64)]


def _view(q: str | None, problem: str | None, sort: str | None, order: str | None) -> View:
    return View.parse(q, problem, sort, order)


def _rows(
    request: Request, db: SessionDep, scope: set[str] | None, view: View
) -> tuple[list[BranchSummary], list[BranchSummary]]:
    state = web_state(request)
    everything = dashboard_rows(db, scope, state.inventory, state.clock())
    return everything, select_rows(everything, view)


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_DASHBOARD)],
    scope: BranchScope,
    q: QueryText = None,
    problem: QueryText = None,
    sort: QueryText = None,
    dir: QueryText = None,
) -> HTMLResponse:
    view = _view(q, problem, sort, dir)
    everything, rows = _rows(request, db, scope, view)
    own: list[BranchRow] = scoped_branches(db, scope) if scope is not None else []
    # A branch-bound user sees times in the branch's zone; everyone else in the default.
    tz = own[0].timezone if len(own) == 1 else DEFAULT_TIMEZONE
    latest = max((r.run.observed_at for r in everything if r.run), default=None)

    def sort_link(key: str) -> str:
        # Clicking the current column flips it; a new column starts with problems first.
        if key == view.sort:
            order = "asc" if view.desc else "desc"
        else:
            order = "desc" if key in PROBLEMS_FIRST_DESC else "asc"
        return "/?" + urlencode(view.query(sort=key, dir=order))

    return render(
        request,
        "dashboard.html",
        {
            "all_branches": scope is None,
            "branches": own,
            "rows": rows,
            "total": len(everything),
            "with_problems": sum(1 for r in everything if r.problems),
            "latest_run": latest,
            "tz": tz,
            "view": view,
            "problems": PROBLEMS,
            "sort_link": sort_link,
            "export_query": urlencode(view.query()),
            "duty_state": export.duty_state,
            "d1_text": export.d1_text,
        },
    )


def _export(
    request: Request,
    db: SessionDep,
    scope: set[str] | None,
    view: View,
) -> tuple[list[str], list[list[Cell]], str]:
    _everything, rows = _rows(request, db, scope, view)
    t = web_state(request).catalogue.translator(request.state.lang)
    headers, body = export.table(rows, t)
    stamp = localtime(web_state(request).clock(), DEFAULT_TIMEZONE).strftime("%Y%m%d-%H%M")
    return headers, body, f"vidaudit-dashboard-{stamp}"


@router.get("/dashboard.csv")
def dashboard_csv(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    scope: BranchScope,
    q: QueryText = None,
    problem: QueryText = None,
    sort: QueryText = None,
    dir: QueryText = None,
) -> Response:
    headers, body, name = _export(request, db, scope, _view(q, problem, sort, dir))
    return download(to_csv(headers, body), f"{name}.csv")


@router.get("/dashboard.xlsx")
def dashboard_xlsx(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    scope: BranchScope,
    q: QueryText = None,
    problem: QueryText = None,
    sort: QueryText = None,
    dir: QueryText = None,
) -> Response:
    headers, body, name = _export(request, db, scope, _view(q, problem, sort, dir))
    t = web_state(request).catalogue.translator(request.state.lang)
    return download(to_xlsx(headers, body, t("dashboard.title"), freeze="C2"), f"{name}.xlsx")
