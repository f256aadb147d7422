"""Video-wall patrol (D8): the latest live snapshots of the priority areas, cycling.

``/patrol``                       tiles for vault, cash area, counter and ATM channels in
                                  scope; failed pictures first, in red, with the failed
                                  checks; static/patrol.js shows a page of tiles at a time
``/patrol/snapshot/{snapshot_id}``  the picture itself, after the branch-scope check
``/patrol/rounds``                ATM patrol rounds (D9): each ATM's latest picture, today's
                                  rounds, and (POST) a new round: normal or abnormal + note
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import ChannelRow, DeviceRow, EvidenceRow, SnapshotRow, UserRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.calendar import current_policy
from vidaudit.review.patrols import MAX_NOTE, PatrolError, record_round
from vidaudit.web.deps import (
    MAX_DB_ID,
    BranchScope,
    DbId,
    SessionDep,
    check_branch,
    require_permission,
)
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.duties_snapshots import PATROL_ROLES, latest_snapshots
from vidaudit.web.views.patrol_rounds import atm_board

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


def _rounds_page(
    request: Request,
    db: SessionDep,
    scope: set[str] | None,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    state = web_state(request)
    policy = current_policy(db, state.inventory)
    board = atm_board(db, scope=scope, now=state.clock(), policy=policy)
    return render(
        request,
        "patrol_rounds.html",
        {
            "board": board,
            "policy": policy.duties,
            "error": error,
            "done": request.query_params.get("done") == "1",
            "max_note": MAX_NOTE,
        },
        status_code=status_code,
    )


@router.get("/patrol/rounds", response_class=HTMLResponse)
def patrol_rounds_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_PATROL)],
    scope: BranchScope,
) -> HTMLResponse:
    return _rounds_page(request, db, scope)


@router.post("/patrol/rounds", response_class=HTMLResponse)
def patrol_round_record(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.PATROL_ROUND)],
    scope: BranchScope,
    channel_id: Annotated[str, Form(max_length=64)],
    outcome: Annotated[Literal["normal", "abnormal"], Form()],
    snapshot_id: Annotated[int | None, Form(ge=1, le=MAX_DB_ID)] = None,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    try:
        record_round(
            db,
            user,
            channel_id=channel_id,
            snapshot_id=snapshot_id,
            outcome=outcome,
            note=note,
            now=web_state(request).clock(),
        )
    except PatrolError as exc:
        db.rollback()
        status = 403 if exc.code == "patrol.error_scope" else 400
        return _rounds_page(request, db, scope, error=exc.code, status_code=status)
    db.commit()
    return RedirectResponse(f"/patrol/rounds?done=1#atm-{channel_id}", status_code=303)
