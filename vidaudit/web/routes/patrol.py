"""Video-wall patrol (D8): the latest live snapshots of the priority areas, cycling.

``/patrol``                       tiles for vault, cash area, counter and ATM channels in
                                  scope; failed pictures first, in red, with the failed
                                  checks; static/patrol.js shows a page of tiles at a time
``/patrol/snapshot/{snapshot_id}``  the picture itself, after the branch-scope check
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import ChannelRow, DeviceRow, EvidenceRow, SnapshotRow, UserRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.web.deps import BranchScope, DbId, SessionDep, check_branch, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.duties_snapshots import PATROL_ROLES, latest_snapshots

router = APIRouter(tags=["patrol"])

#: a monitoring centre's wall shows 4 or 9 pictures at a time (2×2, 3×3)
PAGE_SIZES = (1, 4, 9)


@router.get("/patrol", response_class=HTMLResponse)
def patrol_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_PATROL)],
    scope: BranchScope,
    interval: Annotated[int, Query(ge=3, le=300)] = 10,
    per_page: Annotated[int, Query(ge=1, le=9)] = 4,
) -> HTMLResponse:
    now = web_state(request).clock()
    tiles = latest_snapshots(db, scope=scope, now=now, roles=PATROL_ROLES)
    per_page = min(PAGE_SIZES, key=lambda size: abs(size - per_page))
    return render(
        request,
        "patrol.html",
        {
            "tiles": [tile for tile in tiles if tile.snapshot_id is not None],
            "without": [tile for tile in tiles if tile.snapshot_id is None],
            "flagged": sum(tile.flagged for tile in tiles),
            "interval": interval,
            "per_page": per_page,
            "page_sizes": PAGE_SIZES,
        },
    )


@router.get("/patrol/snapshot/{snapshot_id}")
def patrol_snapshot(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_PATROL)],
    snapshot_id: DbId,
) -> FileResponse:
    snapshot = db.get(SnapshotRow, snapshot_id)
    if snapshot is None or snapshot.evidence_sha256 is None:
        raise HTTPException(404)
    channel = db.get(ChannelRow, snapshot.channel_id)
    device = db.get(DeviceRow, channel.device_id) if channel is not None else None
    if device is None:
        raise HTTPException(404)
    # Scope before anything about the file: another branch's picture is a 403, not a 404.
    check_branch(user, device.branch_id)
    evidence = db.get(EvidenceRow, snapshot.evidence_sha256)
    if evidence is None:
        raise HTTPException(404)
    path = EvidenceStore(web_state(request).settings.evidence_dir).path_of(evidence)
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type=evidence.media_type)
