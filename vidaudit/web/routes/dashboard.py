"""``/``: the placeholder dashboard; greets the user with their role and branch scope.

The compliance dashboard (issue 6) replaces this module's handler; keep the path and the
``view_dashboard`` permission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from vidaudit.db.models import BranchRow, UserRow
from vidaudit.web.deps import CurrentSession, SessionDep, branch_scope, require_permission
from vidaudit.web.i18n import DEFAULT_TIMEZONE
from vidaudit.web.roles import Permission, role_info
from vidaudit.web.templating import render

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_DASHBOARD)],
    web_session: CurrentSession,
) -> HTMLResponse:
    scope = branch_scope(user)
    branches: list[BranchRow] = []
    if scope:
        branches = list(
            db.scalars(select(BranchRow).where(BranchRow.id.in_(scope)).order_by(BranchRow.id))
        )
    info = role_info(user.role)
    # A branch-bound user sees times in the branch's zone; everyone else in the default.
    tz = branches[0].timezone if len(branches) == 1 else DEFAULT_TIMEZONE
    return render(
        request,
        "dashboard.html",
        {
            "all_branches": scope is None,
            "branches": branches,
            "permissions": [p for p in Permission if info and p in info.permissions],
            "tz": tz,
            "session_expires": web_session.expires_at,
        },
    )
