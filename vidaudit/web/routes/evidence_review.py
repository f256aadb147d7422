"""``/review-evidence/{sha256}``: a pulled frame or a rectification photo, guarded.

A frame is footage, so D4 applies to every request for it, not only to the page that
links it: the person must be allowed to see that channel at the frame's instant (own
branch, own business, or an approval that covers it).  A rectification photo is not
footage; whoever may see the finding's branch may see it.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import (
    ChannelRow,
    DeviceRow,
    EvidenceRow,
    FindingEventRow,
    FindingRow,
    TaskFrameRow,
    UserRow,
)
from vidaudit.review.access import footage_access
from vidaudit.web.deps import SessionDep, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.views.review_common import (
    evidence_store,
    in_scope,
    not_found,
)

router = APIRouter(tags=["evidence"])

_SHA256 = re.compile(r"[0-9a-f]{64}")


@router.get("/review-evidence/{sha256}")
def evidence_file(
    request: Request,
    db: SessionDep,
    sha256: str,
    user: Annotated[UserRow, require_permission(Permission.VIEW_FINDINGS)],
) -> FileResponse:
    # Unknown, malformed and forbidden all answer 404: a digest says nothing to a person
    # who may not see the file, not even that it exists.
    if not _SHA256.fullmatch(sha256):
        raise not_found()
    row = db.get(EvidenceRow, sha256)
    if row is None:
        raise not_found()
    frames = db.execute(
        select(TaskFrameRow, DeviceRow.branch_id)
        .join(ChannelRow, ChannelRow.id == TaskFrameRow.channel_id)
        .join(DeviceRow, DeviceRow.id == ChannelRow.device_id)
        .where(TaskFrameRow.evidence_sha256 == sha256)
    ).all()
    allowed = False
    if frames:
        for frame, branch_id in frames:
            instant = frame.actual or frame.requested
            if footage_access(db, user, branch_id, frame.channel_id, instant, instant).allowed:
                allowed = True
                break
    else:
        branches = db.scalars(
            select(FindingRow.branch_id)
            .join(FindingEventRow, FindingEventRow.finding_id == FindingRow.id)
            .where(FindingEventRow.evidence_sha256 == sha256)
        )
        allowed = any(in_scope(user, branch_id) for branch_id in branches)
    path = evidence_store(web_state(request)).path_of(row)
    if not allowed or not path.is_file():
        raise not_found()
    return FileResponse(
        path, media_type=row.media_type, headers={"Cache-Control": "private, no-store"}
    )
