"""The county's O&M indicators per region and for the whole bank, with their 12-week trend.

``/overview``        this week per region and bank, trend charts, worst branches (prints)
``/overview.pdf``    the same numbers as a PDF for the security department's file
``/overview.xlsx``   every week of the bank, each region and each branch

The security department, inspectors and auditors see every branch; a branch head sees her
own branch.  The numbers come from ``vidaudit.overview`` (no query here).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import UserRow
from vidaudit.inventory.calendar import current_policy
from vidaudit.overview.model import INDICATORS
from vidaudit.overview.report import Overview, build_overview
from vidaudit.web.deps import BranchScope, SessionDep, require_permission, scoped_branches
from vidaudit.web.export import download, to_xlsx
from vidaudit.web.state import web_state
from vidaudit.web.templating import base_context, render
from vidaudit.web.views.overview_page import (
    cell,
    charted_series,
    export_rows,
    region_label,
    trend_chart,
)
from vidaudit.web.views.overview_pdf import overview_pdf

router = APIRouter(tags=["overview"])
Viewer = Annotated[UserRow, require_permission(Permission.VIEW_OVERVIEW)]


def _overview(request: Request, db: Session, scope: set[str] | None) -> Overview:
    state = web_state(request)
    policy = current_policy(db, state.inventory)
    rows = scoped_branches(db, scope)
    return build_overview(db, rows, state.clock(), policy, state.inventory)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(
    request: Request, db: SessionDep, user: Viewer, scope: BranchScope
) -> HTMLResponse:
    overview = _overview(request, db, scope)
    t = base_context(request)["t"]
    series = charted_series(overview, t)
    charts = [trend_chart(indicator, overview.mondays, series) for indicator in INDICATORS]
    return render(
        request,
        "overview.html",
        {
            "overview": overview,
            "indicators": INDICATORS,
            "cell": cell,
            # the bank first, then each region: (row id, label, series)
            "groups": [("bank", t("overview.bank"), overview.bank)]
            + [
                (f"region-{n}", region_label(r, t), r)
                for n, r in enumerate(overview.regions, start=1)
            ],
            "series": series,
            "charts": charts,
            "whole_bank": scope is None,
        },
    )


@router.get("/overview.pdf")
def overview_pdf_file(
    request: Request, db: SessionDep, user: Viewer, scope: BranchScope
) -> Response:
    overview = _overview(request, db, scope)
    t = base_context(request)["t"]
    pdf = overview_pdf(overview, t, user.display_name, web_state(request).settings.report_font)
    name = f"vidaudit-overview-{overview.mondays[-1].isoformat()}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/overview.xlsx")
def overview_xlsx(request: Request, db: SessionDep, user: Viewer, scope: BranchScope) -> Response:
    overview = _overview(request, db, scope)
    t = base_context(request)["t"]
    headers, body = export_rows(overview, t)
    data = to_xlsx(headers, body, t("overview.title"), freeze="E2")
    return download(data, f"vidaudit-overview-{overview.mondays[-1].isoformat()}.xlsx")
