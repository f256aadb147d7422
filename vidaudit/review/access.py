"""Who may see which footage without asking first (Art. 46, D4).

Viewing the branch's own footage for its own business is part of the job; viewing another
branch's footage, or footage for a purpose unrelated to the branch's business, needs the
branch head's approval before any frame is shown.  Security and inspectors check every
branch as their business; auditors verify records and ask like anyone else to see video.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import FOOTAGE_OF_EVERY_BRANCH, branch_scope_for
from vidaudit.db.models import (
    ApprovalRow,
    ChannelRow,
    DeviceRow,
    FaultTicketRow,
    FindingEventRow,
    FindingRow,
    TaskClipRow,
    TaskFrameRow,
    TicketEventRow,
    UserRow,
)


class Purpose(StrEnum):
    REVIEW = "review"  # routine duty review (D2/D3)
    INSPECTION = "inspection"  # targeted or random spot-check (D5/D6)
    INCIDENT = "incident"  # a complaint, dispute or incident at this branch
    OTHER = "other"  # unrelated to the branch's own business: always needs approval


def needs_approval(user: UserRow, branch_id: str, purpose: Purpose) -> bool:
    if purpose is Purpose.OTHER:
        return True
    if user.role in FOOTAGE_OF_EVERY_BRANCH:
        return False
    # Everyone else sees their own branch's footage; an all-branch role outside the set
    # above (the auditor) has no own branch (branch_id None), so always asks.
    return user.branch_id is None or user.branch_id != branch_id


def approval_covers(
    approval: ApprovalRow,
    user: UserRow,
    channel_id: str,
    start: dt.datetime,
    end: dt.datetime,
) -> bool:
    return (
        approval.status == "approved"
        and approval.requester_id == user.id
        and approval.channel_id == channel_id
        and approval.range_start <= start
        and end <= approval.range_end
    )


def purpose_for(user: UserRow) -> Purpose:
    """Security and inspectors check branches as their business (D5/D6); everyone else
    looks at footage for their branch's routine reviews (D2/D3)."""
    return Purpose.INSPECTION if user.role in FOOTAGE_OF_EVERY_BRANCH else Purpose.REVIEW


@dataclass(frozen=True)
class FootageAccess:
    """Whether ``user`` may see footage of one channel over one range, and why not."""

    allowed: bool
    needs_approval: bool
    approval: ApprovalRow | None = None  # the approval that covers the range
    pending: ApprovalRow | None = None  # a request still waiting for the branch head
    denied: ApprovalRow | None = None  # the latest refusal, to show its note


def footage_access(
    db: Session,
    user: UserRow,
    branch_id: str,
    channel_id: str,
    start: dt.datetime,
    end: dt.datetime,
) -> FootageAccess:
    """D4 (Art. 46): viewing outside one's own branch or business needs the branch head's
    approval first; a branch-bound user outside their branch is let in only that way."""
    if not needs_approval(user, branch_id, purpose_for(user)):
        return FootageAccess(allowed=True, needs_approval=False)
    requests = list(
        db.scalars(
            select(ApprovalRow)
            .where(ApprovalRow.requester_id == user.id, ApprovalRow.channel_id == channel_id)
            .order_by(ApprovalRow.id.desc())
        )
    )
    for approval in requests:
        if approval_covers(approval, user, channel_id, start, end):
            return FootageAccess(allowed=True, needs_approval=True, approval=approval)
    overlapping = [a for a in requests if a.range_start <= end and start <= a.range_end]
    pending = next((a for a in overlapping if a.status == "pending"), None)
    denied = next((a for a in overlapping if a.status == "denied"), None)
    return FootageAccess(allowed=False, needs_approval=True, pending=pending, denied=denied)


def may_see_evidence(session: Session, user: UserRow, sha256: str) -> bool:
    """Whether ``user`` may see the evidence file ``sha256``: a frame or a clip pulled from
    recorded footage under D4 (as ``footage_access`` rules for its channel and instant or
    range); a photo of a fix when the finding's branch is in the user's scope."""
    frames = session.execute(
        select(TaskFrameRow, DeviceRow.branch_id)
        .join(ChannelRow, ChannelRow.id == TaskFrameRow.channel_id)
        .join(DeviceRow, DeviceRow.id == ChannelRow.device_id)
        .where(TaskFrameRow.evidence_sha256 == sha256)
    ).all()
    if frames:
        for frame, branch_id in frames:
            instant = frame.actual or frame.requested
            if footage_access(session, user, branch_id, frame.channel_id, instant, instant).allowed:
                return True
        return False
    clips = session.execute(
        select(TaskClipRow, DeviceRow.branch_id)
        .join(ChannelRow, ChannelRow.id == TaskClipRow.channel_id)
        .join(DeviceRow, DeviceRow.id == ChannelRow.device_id)
        .where(TaskClipRow.evidence_sha256 == sha256)
    ).all()
    if clips:
        # a clip is footage over its whole range: D4 must cover all of it
        for clip, branch_id in clips:
            start = clip.first_at or clip.requested_start
            end = clip.last_at or clip.requested_end
            if footage_access(session, user, branch_id, clip.channel_id, start, end).allowed:
                return True
        return False
    scope = branch_scope_for(user.role, user.branch_id)
    branches = [
        *session.scalars(
            select(FindingRow.branch_id)
            .join(FindingEventRow, FindingEventRow.finding_id == FindingRow.id)
            .where(FindingEventRow.evidence_sha256 == sha256)
        ),
        # a photo attached to a fault ticket: whoever sees the ticket's branch
        *session.scalars(
            select(FaultTicketRow.branch_id)
            .join(TicketEventRow, TicketEventRow.ticket_id == FaultTicketRow.id)
            .where(TicketEventRow.evidence_sha256 == sha256)
        ),
    ]
    return any(scope is None or branch_id in scope for branch_id in branches)
