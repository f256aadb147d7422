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
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from vidaudit.db.models import ApprovalRow, BranchRow, ChannelRow, SpotCheckTaskRow, UserRow
from vidaudit.review.register import Entry, append
from vidaudit.web.deps import (
    DbId,
    FormField,
    FormText,
    SessionDep,
    branch_scope,
    check_branch,
    require_permission,
)
from vidaudit.web.roles import Permission, has_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    branch_zones,
    clean_text,
    not_found,
    query_flag,
    user_names,
)

router = APIRouter(tags=["approvals"])

DECIDED_SHOWN = 30


def _tasks_for(db: Session, approvals: list[ApprovalRow]) -> dict[int, int]:
    """approval id -> the spot-check task it was asked for (same channel and window)."""
    if not approvals:
        return {}
    conditions = [
        and_(
            SpotCheckTaskRow.channel_id == a.channel_id,
            SpotCheckTaskRow.start == a.range_start,
            SpotCheckTaskRow.end == a.range_end,
        )
        for a in approvals
    ]
    tasks = list(db.scalars(select(SpotCheckTaskRow).where(or_(*conditions))))
    out: dict[int, int] = {}
    for approval in approvals:
        for task in tasks:
            if (task.channel_id, task.start, task.end) == (
                approval.channel_id,
                approval.range_start,
                approval.range_end,
            ):
                out[approval.id] = task.id
                break
    return out


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
    pending: list[ApprovalRow] = []
    decided: list[ApprovalRow] = []
    if has_permission(user.role, Permission.APPROVE):
        scope = branch_scope(user)
        query = select(ApprovalRow)
        if scope is not None:
            query = query.where(ApprovalRow.branch_id.in_(scope))
        pending = list(
            db.scalars(query.where(ApprovalRow.status == "pending").order_by(ApprovalRow.id))
        )
        decided = list(
            db.scalars(
                query.where(ApprovalRow.status != "pending")
                .order_by(ApprovalRow.id.desc())
                .limit(DECIDED_SHOWN)
            )
        )
    mine = list(
        db.scalars(
            select(ApprovalRow)
            .where(ApprovalRow.requester_id == user.id)
            .order_by(ApprovalRow.id.desc())
            .limit(DECIDED_SHOWN)
        )
    )
    every = pending + decided + mine
    channels = {
        c.id: c
        for c in db.scalars(
            select(ChannelRow).where(ChannelRow.id.in_({a.channel_id for a in every}))
        )
    }
    branches = {b.id: b for b in db.scalars(select(BranchRow))}
    return render(
        request,
        "approval_list.html",
        {
            "pending": pending,
            "decided": decided,
            "mine": mine,
            "channels": channels,
            "branches": branches,
            "zones": branch_zones(db),
            "people": user_names(
                db, [a.requester_id for a in every] + [a.decided_by for a in every]
            ),
            "tasks": _tasks_for(db, every),
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
    if approval.status != "pending":
        return _page(
            request,
            db,
            user,
            error="approval.already_decided",
            error_id=approval_id,
            status_code=409,
        )
    if decision not in ("approve", "deny"):
        return _page(
            request,
            db,
            user,
            error="approval.choose",
            error_id=approval_id,
            note=text,
            status_code=400,
        )
    if decision == "deny" and not text:
        return _page(
            request,
            db,
            user,
            error="approval.deny_needs_note",
            error_id=approval_id,
            status_code=400,
        )
    if approval.requester_id == user.id:
        # Nobody approves their own request: that would make the rule a formality.
        return _page(
            request, db, user, error="approval.own_request", error_id=approval_id, status_code=400
        )
    now = web_state(request).clock()
    outcome = "approved" if decision == "approve" else "denied"
    # Decided only if still pending, in one statement: of two heads deciding at the same
    # moment the second is told, never silently overwrites the first.
    done = db.execute(
        update(ApprovalRow)
        .where(ApprovalRow.id == approval_id, ApprovalRow.status == "pending")
        .values(status=outcome, decided_by=user.id, decided_at=now, decision_note=text)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        return _page(
            request,
            db,
            user,
            error="approval.already_decided",
            error_id=approval_id,
            status_code=409,
        )
    db.refresh(approval)
    requester = db.get(UserRow, approval.requester_id)
    append(
        db,
        Entry(
            actor=user.username,
            actor_role=user.role,
            action="approval",
            reason=text or approval.reason,
            branch_id=approval.branch_id,
            channel_id=approval.channel_id,
            range_start=approval.range_start,
            range_end=approval.range_end,
            details={
                "approval_id": approval.id,
                "decision": approval.status,
                "requester": requester.username if requester else None,
            },
        ),
        now,
    )
    db.commit()
    return RedirectResponse(f"/approvals?done={approval.status}", status_code=303)
