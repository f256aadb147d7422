"""Approvals (D4, Art. 46): asking the branch head to see footage outside one's own branch
or business, and the head's decision.  Both are on the register.

Rules: a request needs a reason; nobody decides their own request; a refusal says why;
a request is decided once - of two heads deciding at the same moment the second is
told, and the first decision is never overwritten (one conditional UPDATE).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from vidaudit.db.models import ApprovalRow, UserRow
from vidaudit.review.register import Entry, append


class ApprovalError(ValueError):
    """A request or decision that is refused; ``code`` names why (for translation) and
    ``conflict`` marks the one a retry cannot fix (already decided)."""

    def __init__(self, code: str, conflict: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.conflict = conflict


def request_approval(
    session: Session,
    requester: UserRow,
    *,
    branch_id: str,
    channel_id: str,
    start: dt.datetime,
    end: dt.datetime,
    reason: str,
    now: dt.datetime,
    task_id: int | None = None,
) -> ApprovalRow:
    if not reason:
        raise ApprovalError("approval.reason_needed")
    approval = ApprovalRow(
        requester_id=requester.id,
        branch_id=branch_id,
        channel_id=channel_id,
        range_start=start,
        range_end=end,
        reason=reason,
        requested_at=now,
        status="pending",
        decided_by=None,
        decided_at=None,
        decision_note="",
    )
    session.add(approval)
    session.flush()
    # The request is on the record as well as the viewing it leads to.
    append(
        session,
        Entry(
            actor=requester.username,
            actor_role=requester.role,
            action="approval_request",
            reason=reason,
            branch_id=branch_id,
            channel_id=channel_id,
            range_start=start,
            range_end=end,
            details={"approval_id": approval.id, "task_id": task_id},
        ),
        now,
    )
    return approval


def decide_approval(
    session: Session,
    head: UserRow,
    approval: ApprovalRow,
    decision: str,
    note: str,
    now: dt.datetime,
) -> ApprovalRow:
    """Approve or deny ``approval`` (``decision`` "approve" or "deny")."""
    if approval.status != "pending":
        raise ApprovalError("approval.already_decided", conflict=True)
    if decision not in ("approve", "deny"):
        raise ApprovalError("approval.choose")
    if decision == "deny" and not note:
        raise ApprovalError("approval.deny_needs_note")
    if approval.requester_id == head.id:
        # Nobody approves their own request: that would make the rule a formality.
        raise ApprovalError("approval.own_request")
    outcome = "approved" if decision == "approve" else "denied"
    # Decided only if still pending, in one statement.
    done = session.execute(
        update(ApprovalRow)
        .where(ApprovalRow.id == approval.id, ApprovalRow.status == "pending")
        .values(status=outcome, decided_by=head.id, decided_at=now, decision_note=note)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise ApprovalError("approval.already_decided", conflict=True)
    session.refresh(approval)
    requester = session.get(UserRow, approval.requester_id)
    append(
        session,
        Entry(
            actor=head.username,
            actor_role=head.role,
            action="approval",
            reason=note or approval.reason,
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
    return approval
