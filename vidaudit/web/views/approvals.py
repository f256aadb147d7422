"""What the approvals page lists: requests to decide, decided ones, one's own (queries
only; the rules are ``vidaudit.review.approvals``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, has_permission
from vidaudit.db.models import ApprovalRow, BranchRow, ChannelRow, SpotCheckTaskRow, UserRow
from vidaudit.web.deps import branch_scope
from vidaudit.web.views.review_common import user_names

DECIDED_SHOWN = 30


@dataclass(frozen=True)
class ApprovalLists:
    pending: list[ApprovalRow]
    decided: list[ApprovalRow]
    mine: list[ApprovalRow]
    channels: dict[str, ChannelRow]
    branches: dict[str, BranchRow]
    people: dict[int, UserRow]
    #: approval id -> the spot-check task it was asked for
    tasks: dict[int, int]


def approval_lists(db: Session, user: UserRow) -> ApprovalLists:
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
    return ApprovalLists(
        pending,
        decided,
        mine,
        channels,
        {b.id: b for b in db.scalars(select(BranchRow))},
        user_names(db, [a.requester_id for a in every] + [a.decided_by for a in every]),
        _tasks_for(db, every),
    )


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


@dataclass(frozen=True)
class Waiting:
    """What waits on approvals, for the navigation and the dashboard."""

    #: requests this person may decide that nobody has decided yet (a branch head's)
    to_decide: int = 0
    #: this person's own requests still waiting for a decision
    mine: int = 0


def waiting(db: Session, user: UserRow) -> Waiting:
    pending = select(func.count()).select_from(ApprovalRow).where(ApprovalRow.status == "pending")
    to_decide = 0
    if has_permission(user.role, Permission.APPROVE):
        scope = branch_scope(user)
        mine_to_decide = pending.where(ApprovalRow.requester_id != user.id)
        if scope is not None:
            mine_to_decide = mine_to_decide.where(ApprovalRow.branch_id.in_(scope))
        to_decide = db.scalar(mine_to_decide) or 0
    mine = db.scalar(pending.where(ApprovalRow.requester_id == user.id)) or 0
    return Waiting(to_decide, mine)
