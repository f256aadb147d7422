"""Drill-down from the dashboard: ``/branches/{id}``, ``/devices/{id}``, ``/channels/{id}``,
and ``/evidence/{sha256}`` for the channel page's latest snapshot.

Every page checks the branch scope of what it shows (a head of one branch gets 403 for
another's pages) and answers 404 for an id that does not exist.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from vidaudit.accounts.roles import Permission
from vidaudit.collector.history import open_tickets, retention_trend
from vidaudit.compliance.rules import BAD_DISK_STATES
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    DeviceRow,
    EvidenceRow,
    UserRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.calendar import branch_calendar, current_policy
from vidaudit.readings import DISK_STATES
from vidaudit.web.deps import SessionDep, branch_scope, check_branch, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.dashboard_data import latest_runs
from vidaudit.web.views.dashboard_detail import (
    branch_channels,
    branch_devices,
    device_history,
    drift_chart,
    latest_channel_observation,
    latest_snapshot,
    recording_timeline,
    retention_chart,
    snapshot_branches,
)
from vidaudit.web.violations import DIAG_CHECKS, explain

log = logging.getLogger(__name__)
router = APIRouter(tags=["dashboard"])

ViewerUser = Annotated[UserRow, require_permission(Permission.VIEW_DASHBOARD)]
#: how far back the retention chart looks
TREND_DAYS = 60


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _branch(db: SessionDep, user: UserRow, branch_id: str) -> BranchRow:
    # Scope first: a branch outside it is 403 whether or not it exists, so ids cannot be
    # probed; a branch inside it that does not exist is a plain 404.
    check_branch(user, branch_id)
    branch = db.get(BranchRow, branch_id)
    if branch is None:
        raise _not_found()
    return branch


@router.get("/branches/{branch_id}", response_class=HTMLResponse)
def branch_page(request: Request, db: SessionDep, user: ViewerUser, branch_id: str) -> HTMLResponse:
    branch = _branch(db, user, branch_id)
    latest, last_ok = latest_runs(db, [branch.id])
    run = latest.get(branch.id)
    run_id = run.run_id if run else None
    t = web_state(request).catalogue.translator(request.state.lang)
    channels = branch_channels(db, branch.id, run_id)
    return render(
        request,
        "branch.html",
        {
            "branch": branch,
            "run": run,
            "last_compliant": last_ok.get(branch.id),
            "devices": branch_devices(db, branch.id, run_id),
            "channels": channels,
            "explained": {
                line.channel.id: [explain(v, t) for v in line.observation.violations]
                for line in channels
                if line.observation is not None
            },
            "tickets": open_tickets(db, branch.id),
            "policy": current_policy(db, web_state(request).inventory),
        },
    )


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, db: SessionDep, user: ViewerUser, device_id: str) -> HTMLResponse:
    device = db.get(DeviceRow, device_id)
    if device is None:
        # Nothing to leak: the id does not exist in any branch.
        raise _not_found()
    branch = _branch(db, user, device.branch_id)
    history = device_history(db, device.id)
    policy = current_policy(db, web_state(request).inventory)
    latest, _ = latest_runs(db, [branch.id])
    run = latest.get(branch.id)
    return render(
        request,
        "device.html",
        {
            "branch": branch,
            "device": device,
            "history": history,
            "latest": history[0] if history else None,
            "chart": drift_chart(history, policy.max_clock_drift_s, branch.timezone),
            "policy": policy,
            "channels": branch_channels(
                db, branch.id, run.run_id if run else None, device_id=device.id
            ),
            # which disk states stop a recorder recording is the rules' word (R6.storage)
            "bad_disk_states": BAD_DISK_STATES,
            "disk_states": DISK_STATES,
        },
    )


@router.get("/channels/{channel_id}", response_class=HTMLResponse)
def channel_page(
    request: Request, db: SessionDep, user: ViewerUser, channel_id: str
) -> HTMLResponse:
    channel = db.get(ChannelRow, channel_id)
    if channel is None:
        raise _not_found()
    device = db.get(DeviceRow, channel.device_id)
    if device is None:
        raise _not_found()
    branch = _branch(db, user, device.branch_id)
    state = web_state(request)
    inventory = state.inventory  # once: an edit may be taken up meanwhile
    policy = current_policy(db, inventory)
    observation = latest_channel_observation(db, channel.id)
    since = state.clock() - dt.timedelta(days=TREND_DAYS)
    trend = retention_trend(db, channel.id, since)
    snapshot = latest_snapshot(db, channel.id)
    t = state.catalogue.translator(request.state.lang)
    timeline = None
    if observation is not None:
        timeline = recording_timeline(
            observation, branch_calendar(branch, inventory), policy, branch.timezone
        )
    return render(
        request,
        "channel.html",
        {
            "branch": branch,
            "device": device,
            "channel": channel,
            "observation": observation,
            "violations": [explain(v, t) for v in observation.violations] if observation else [],
            "chart": retention_chart(trend, branch.timezone),
            "trend_days": TREND_DAYS,
            "timeline": timeline,
            "snapshot": snapshot,
            "policy": policy,
            "required_days": observation.required_days if observation else channel.required_days,
            "diag_checks": DIAG_CHECKS,
        },
    )


@router.get("/evidence/{sha256}")
def evidence_file(request: Request, db: SessionDep, user: ViewerUser, sha256: str) -> FileResponse:
    """A stored *live snapshot* image, for users who may see its channel's branch.

    Only snapshots: a frame pulled from recorded footage is viewing under D4 (register,
    and the branch head's approval outside one's own business), which this route does not
    check, so such frames are served by the spot-check pages, never here.
    """
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise _not_found()
    branch_ids = snapshot_branches(db, sha256)
    row = db.get(EvidenceRow, sha256)
    if row is None or not branch_ids:
        raise _not_found()
    scope = branch_scope(user)
    # Content-addressed: the same bytes (say, two black frames) may be a snapshot of
    # channels in two branches; a user who may see either has already seen these bytes.
    if scope is not None and not (branch_ids & scope):
        check_branch(user, sorted(branch_ids)[0])
    store = EvidenceStore(web_state(request).settings.evidence_dir)
    path = store.path_of(row).resolve()
    if not path.is_relative_to(store.root.resolve()) or not path.is_file():
        log.warning("evidence %s: file %s is missing or outside the store", sha256, path)
        raise _not_found()
    return FileResponse(path, media_type=row.media_type)
