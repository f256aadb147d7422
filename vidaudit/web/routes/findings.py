"""Findings and their rectification (D7): the list, one finding's history, its actions,
and the CSV / XLSX exports.

Every action form carries the version it was rendered with; ``apply_change`` refuses a
change made against an older version, and the page then shows the current state with the
message instead of overwriting what someone else saved.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, has_permission
from vidaudit.db.models import (
    FindingRow,
    UserRow,
)
from vidaudit.review.findings import (
    TRANSITIONS,
    Action,
    Change,
    FindingError,
    StaleFinding,
    Status,
    apply_change,
    is_overdue,
)
from vidaudit.review.items import BY_CODE
from vidaudit.web.deps import (
    DbId,
    Forbidden,
    FormField,
    FormText,
    SessionDep,
    check_branch,
    require_permission,
)
from vidaudit.web.export import Cell, dated_export
from vidaudit.web.i18n import DEFAULT_TIMEZONE, fmt_dt, localtime
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.terms import item_name, status_text
from vidaudit.web.views.casework import (
    PhotoRefused,
    case_page,
    export_links,
    store_photo,
)
from vidaudit.web.views.findings import (
    PAGE_LIMIT,
    STATUSES,
    Filters,
    all_branches,
    branch_today,
    channels_by_id,
    detail_of,
    findings_in_scope,
    parse_filters,
)
from vidaudit.web.views.review_common import (
    branch_zones,
    branches_in_scope,
    clean_text,
    not_found,
    user_names,
)
from vidaudit.web.views.spotchecks import clips_by_sha

log = logging.getLogger(__name__)
router = APIRouter(tags=["findings"])

ViewUser = Annotated[UserRow, require_permission(Permission.VIEW_FINDINGS)]
ReportUser = Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)]

#: The web permission each action needs (besides the role check in review/findings.py):
#: fixing is rectification; closing, reopening and re-assigning are the checker's job,
#: which the branch head shares for her own branch (she owns its rectification, D3).
ACTION_PERMISSIONS: dict[Action, frozenset[Permission]] = {
    Action.FIX: frozenset({Permission.RECTIFY}),
    Action.CLOSE: frozenset({Permission.VERIFY_RECTIFICATION}),
    Action.REOPEN: frozenset({Permission.VERIFY_RECTIFICATION}),
    Action.ASSIGN: frozenset({Permission.VERIFY_RECTIFICATION}),
    Action.COMMENT: frozenset(
        {Permission.RECTIFY, Permission.VERIFY_RECTIFICATION, Permission.REVIEW}
    ),
}


def may_act(user: UserRow, finding: FindingRow, action: Action) -> bool:
    allowed_from, _to, roles = TRANSITIONS[action]
    permitted = any(has_permission(user.role, p) for p in ACTION_PERMISSIONS[action])
    return permitted and user.role in roles and Status(finding.status) in allowed_from


def _filters(status: str = "active", branch: str = "", overdue: str = "") -> Filters:
    return parse_filters(status, branch, overdue)


#: the list's query string, the same for the page and both exports
FindingFilters = Annotated[Filters, Depends(_filters)]


@router.get("/findings", response_class=HTMLResponse)
def findings_list(
    request: Request, db: SessionDep, user: ViewUser, filters: FindingFilters
) -> HTMLResponse:
    now = web_state(request).clock()
    rows = findings_in_scope(db, user, filters, now)
    zones = branch_zones(db)
    return render(
        request,
        "finding_list.html",
        {
            "findings": rows,
            "filters": filters,
            "statuses": STATUSES,
            "branches": branches_in_scope(db, user),
            "channels": channels_by_id(db, {f.channel_id for f in rows}),
            "people": user_names(db, [f.owner_id for f in rows]),
            "overdue": {f.id for f in rows if is_overdue(f, branch_today(f, zones, now))},
            "zones": zones,
            "limit": PAGE_LIMIT,
            **export_links("/findings", filters.query()),
        },
    )


# --- exports ----------------------------------------------------------------------------


#: the export's "overdue" column: its rows are highlighted in the XLSX
OVERDUE_COLUMN = 8


def _export(
    kind: Literal["csv", "xlsx"], request: Request, db: Session, user: UserRow, filters: Filters
) -> Response:
    state = web_state(request)
    now = state.clock()
    lang = getattr(request.state, "lang", "zh")
    t = state.catalogue.translator(lang)
    rows = findings_in_scope(db, user, filters, now)
    zones = branch_zones(db)
    branches = all_branches(db)
    channels = channels_by_id(db, {f.channel_id for f in rows})
    people = user_names(db, [f.owner_id for f in rows])
    header = [
        t(key)
        for key in (
            "findings.col_id",
            "findings.col_branch",
            "findings.col_channel",
            "findings.col_item",
            "findings.col_note",
            "findings.col_owner",
            "findings.col_deadline",
            "findings.col_status",
            "findings.col_overdue",
            "findings.col_created",
            "findings.col_updated",
        )
    ]
    out: list[list[Cell]] = []
    for f in rows:
        tz = zones.get(f.branch_id, DEFAULT_TIMEZONE)
        branch = branches.get(f.branch_id)
        channel = channels.get(f.channel_id)
        owner = people.get(f.owner_id) if f.owner_id else None
        out.append(
            [
                f.id,
                f"{f.branch_id} {branch.name}" if branch else f.branch_id,
                f"{f.channel_id} {channel.name}" if channel else f.channel_id,
                item_name(f.item_code, lang, t),
                f.note,
                owner.display_name if owner else "",
                f.deadline.isoformat(),
                status_text(f.status, t),
                t("findings.yes") if is_overdue(f, branch_today(f, zones, now)) else "",
                fmt_dt(f.created_at, tz),
                fmt_dt(f.updated_at, tz),
            ]
        )
    return dated_export(
        kind, "findings", header, out, now, highlight=lambda row: bool(row[OVERDUE_COLUMN])
    )


@router.get("/findings.csv")
def findings_csv(
    request: Request, db: SessionDep, user: ReportUser, filters: FindingFilters
) -> Response:
    return _export("csv", request, db, user, filters)


@router.get("/findings.xlsx")
def findings_xlsx(
    request: Request, db: SessionDep, user: ReportUser, filters: FindingFilters
) -> Response:
    return _export("xlsx", request, db, user, filters)


# --- one finding ------------------------------------------------------------------------


@dataclass
class ActionForm:
    """What was typed into an action form, re-shown after a refusal."""

    action: str = ""
    note: str = ""
    owner_id: str = ""
    deadline: str = ""


def _detail(
    request: Request,
    db: Session,
    user: UserRow,
    finding: FindingRow,
    *,
    error: str = "",
    form: ActionForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = web_state(request).clock()
    d = detail_of(db, finding)
    common = case_page(request, d, error=error, form=form or ActionForm())
    return render(
        request,
        "finding_detail.html",
        {
            **common,
            "finding": finding,
            "channel": d.channel,
            "review": d.review,
            "item": BY_CODE.get(finding.item_code),
            "people": user_names(
                db,
                [
                    finding.owner_id,
                    *(e.actor_id for e in d.events),
                    d.review.reviewer_id if d.review else None,
                ],
            ),
            "overdue": is_overdue(finding, localtime(now, common["tz"]).date()),
            "actions": {a.value: may_act(user, finding, a) for a in Action},
            "clip_shas": set(
                clips_by_sha(
                    db,
                    {*finding.frames, *(e.evidence_sha256 for e in d.events if e.evidence_sha256)},
                )
            ),
        },
        status_code=status_code,
    )


def _load(db: Session, user: UserRow, finding_id: int) -> FindingRow:
    finding = db.get(FindingRow, finding_id)
    if finding is None:
        raise not_found()
    check_branch(user, finding.branch_id)
    return finding


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_detail(
    request: Request, db: SessionDep, user: ViewUser, finding_id: DbId
) -> HTMLResponse:
    return _detail(request, db, user, _load(db, user, finding_id))


@router.post("/findings/{finding_id}", response_class=HTMLResponse)
def finding_change(
    request: Request,
    db: SessionDep,
    user: ViewUser,
    finding_id: DbId,
    action: FormField = "",
    version: FormField = "",
    note: FormText = "",
    owner_id: FormField = "",
    deadline: FormField = "",
    evidence: Annotated[UploadFile | None, File()] = None,
) -> Response:
    finding = _load(db, user, finding_id)
    form = ActionForm(action=action, note=clean_text(note), owner_id=owner_id, deadline=deadline)
    try:
        chosen = Action(action)
    except ValueError:
        return _detail(
            request, db, user, finding, error="findings.error_action", form=form, status_code=400
        )
    if not any(has_permission(user.role, p) for p in ACTION_PERMISSIONS[chosen]):
        raise Forbidden
    try:
        expected = int(version)
    except ValueError:
        return _detail(
            request, db, user, finding, error="findings.error_action", form=form, status_code=400
        )
    new_owner: int | None = None
    new_deadline: dt.date | None = None
    if chosen is Action.ASSIGN:
        try:
            new_owner = int(owner_id) if owner_id.strip() else None
            new_deadline = dt.date.fromisoformat(deadline) if deadline.strip() else None
        except ValueError:
            new_owner = new_deadline = None
        owner = db.get(UserRow, new_owner) if new_owner is not None else None
        if (new_owner is None and new_deadline is None) or (
            new_owner is not None and (owner is None or owner.branch_id != finding.branch_id)
        ):
            return _detail(
                request,
                db,
                user,
                finding,
                error="findings.error_assign",
                form=form,
                status_code=400,
            )
    state = web_state(request)
    now = state.clock()
    try:
        evidence_sha = store_photo(
            state,
            db,
            evidence,
            allowed=chosen is Action.FIX,
            details={"kind": "rectification", "finding": finding.id, "by": user.username},
            now=now,
        )
    except PhotoRefused:
        return _detail(
            request, db, user, finding, error="findings.error_upload", form=form, status_code=400
        )
    try:
        apply_change(
            db,
            finding.id,
            user,
            Change(
                action=chosen,
                expected_version=expected,
                note=form.note,
                evidence_sha256=evidence_sha,
                owner_id=new_owner,
                deadline=new_deadline,
            ),
            now,
        )
    except StaleFinding:
        db.rollback()
        current = _load(db, user, finding_id)
        log.info("stale change of finding %s by %s refused", finding_id, user.username)
        return _detail(
            request, db, user, current, error="findings.stale", form=form, status_code=409
        )
    except FindingError as exc:
        db.rollback()
        current = _load(db, user, finding_id)
        return _detail(
            request,
            db,
            user,
            current,
            error=f"findings.error_{exc.code}",
            form=form,
            status_code=400,
        )
    db.commit()
    return RedirectResponse(f"/findings/{finding_id}?done={chosen.value}", status_code=303)
