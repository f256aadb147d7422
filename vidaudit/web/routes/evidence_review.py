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

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import (
    EvidenceRow,
    UserRow,
)
from vidaudit.review.access import may_see_evidence
from vidaudit.web.deps import SessionDep, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.views.review_common import (
    evidence_store,
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
    allowed = may_see_evidence(db, user, sha256)
    path = evidence_store(web_state(request)).path_of(row)
    if not allowed or not path.is_file():
        raise not_found()
    return FileResponse(
        path, media_type=row.media_type, headers={"Cache-Control": "private, no-store"}
    )
