"""Who may see which footage without asking first (Art. 46, D4).

Viewing the branch's own footage for its own business is part of the job; viewing another
branch's footage, or footage for a purpose unrelated to the branch's business, needs the
branch head's approval before any frame is shown.  Security and inspectors check every
branch as their business; auditors verify records and ask like anyone else to see video.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from vidaudit.db.models import ApprovalRow, UserRow

ALL_BRANCH_ROLES = frozenset({"security", "inspector"})


class Purpose(StrEnum):
    REVIEW = "review"  # routine duty review (D2/D3)
    INSPECTION = "inspection"  # targeted or random spot-check (D5/D6)
    INCIDENT = "incident"  # a complaint, dispute or incident at this branch
    OTHER = "other"  # unrelated to the branch's own business: always needs approval


def needs_approval(user: UserRow, branch_id: str, purpose: Purpose) -> bool:
    if purpose is Purpose.OTHER:
        return True
    if user.role in ALL_BRANCH_ROLES:
        return False
    if user.role == "auditor":
        return True
    return user.branch_id != branch_id


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
