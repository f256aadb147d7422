"""``/approvals`` (D4, Art. 46): viewing footage outside one's own branch or business needs
the branch head's consent first.

Branch heads see the requests for their branch and approve or deny them with a note;
everyone sees the status of their own requests.  A decision is registered, so the
register shows who allowed whom to see what.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import ApprovalRow, UserRow
from vidaudit.review.approvals import ApprovalError, decide_approval
from vidaudit.web.deps import (
    DbId,
    FormField,
    FormText,
    SessionDep,
    check_branch,
    require_permission,
)
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.approvals import approval_lists
from vidaudit.web.views.review_common import (
    branch_zones,
    clean_text,
    not_found,
    query_flag,
)

router = APIRouter(tags=["approvals"])


def _page(
    request: Request,
    db: Session,
    user: UserRow,
    *,
    error: str = "",
    error_id: int | None = None,
    note: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    data = approval_lists(db, user)
    return render(
        request,
        "approval_list.html",
        {
            "pending": data.pending,
            "decided": data.decided,
            "mine": data.mine,
            "channels": data.channels,
            "branches": data.branches,
            "zones": branch_zones(db),
            "people": data.people,
            "tasks": data.tasks,
            "done": query_flag(request, "done"),
            "error": error,
            "error_id": error_id,
            "note": note,
        },
        status_code=status_code,
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_SPOT_CHECKS)],
) -> HTMLResponse:
    return _page(request, db, user)


@router.post("/approvals/{approval_id}", response_class=HTMLResponse)
def decide(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.APPROVE)],
    approval_id: DbId,
    decision: FormField = "",
    note: FormText = "",
) -> Response:
    approval = db.get(ApprovalRow, approval_id)
    if approval is None:
        raise not_found()
    check_branch(user, approval.branch_id)
    text = clean_text(note)
    try:
        decide_approval(db, user, approval, decision, text, web_state(request).clock())
    except ApprovalError as exc:
        db.rollback()
        keep = text if exc.code == "approval.choose" else ""
        return _page(
            request,
            db,
            user,
            error=exc.code,
            error_id=approval_id,
            note=keep,
            status_code=409 if exc.conflict else 400,
        )
    db.commit()
    return RedirectResponse(f"/approvals?done={approval.status}", status_code=303)
