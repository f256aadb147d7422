"""``/register`` (D4, Art. 46): every playback, frame pull, review and approval, as entered
in the append-only, hash-chained register; auditors and the security department can
recompute the chain and check the evidence files here (``POST /register/verify``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vidaudit.dates import parse_date
from vidaudit.db.models import RegisterEntryRow, UserRow
from vidaudit.review.register import verify
from vidaudit.sampler.evidence import EvidenceCheck
from vidaudit.web.deps import SessionDep, branch_scope, require_permission
from vidaudit.web.i18n import DEFAULT_TIMEZONE, zone
from vidaudit.web.roles import Permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    branch_zones,
    branches_in_scope,
    evidence_store,
    with_query,
)

router = APIRouter(tags=["register"])

PAGE_SIZE = 50
#: actions with their own label; others (written by later modules) show as they are
KNOWN_ACTIONS = ("frame_pull", "playback", "review", "approval_request", "approval", "finding")


@dataclass(frozen=True)
class Filters:
    branch: str = ""
    channel: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""

    def query(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "channel": self.channel,
            "action": self.action,
            "date_from": self.date_from,
            "date_to": self.date_to,
        }


def _date(text: str) -> dt.date | None:
    return parse_date(text)


def _select(db: Session, user: UserRow, filters: Filters) -> Select[RegisterEntryRow]:
    query = select(RegisterEntryRow)
    scope = branch_scope(user)
    if scope is not None:
        # A branch's people see their branch's entries, not who looked at other branches.
        query = query.where(RegisterEntryRow.branch_id.in_(scope))
    if filters.branch:
        query = query.where(RegisterEntryRow.branch_id == filters.branch)
    if filters.channel:
        query = query.where(RegisterEntryRow.channel_id == filters.channel)
    if filters.action:
        query = query.where(RegisterEntryRow.action == filters.action)
    # Dates are calendar days where the reader is: the chosen branch's zone, else Beijing.
    zones = branch_zones(db)
    tz = zone(zones.get(filters.branch, DEFAULT_TIMEZONE))
    first, last = _date(filters.date_from), _date(filters.date_to)
    if first is not None:
        query = query.where(RegisterEntryRow.at >= dt.datetime.combine(first, dt.time(), tz))
    if last is not None:
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
        query = query.where(RegisterEntryRow.at < end)
    return query


def _page(
    request: Request,
    db: Session,
    user: UserRow,
    filters: Filters,
    page: int,
    result: dict[str, Any] | None = None,
) -> HTMLResponse:
    query = _select(db, user, filters)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(1, min(page, pages or 1))
    entries = list(
        db.scalars(
            query.order_by(RegisterEntryRow.seq.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    scope_query = select(RegisterEntryRow.action).distinct()
    scope = branch_scope(user)
    if scope is not None:
        scope_query = scope_query.where(RegisterEntryRow.branch_id.in_(scope))
    actions = sorted(set(db.scalars(scope_query)) | set(KNOWN_ACTIONS))
    return render(
        request,
        "register.html",
        {
            "entries": entries,
            "filters": filters,
            "branches": branches_in_scope(db, user),
            "zones": branch_zones(db),
            "actions": actions,
            "known_actions": KNOWN_ACTIONS,
            "page": page,
            "pages": pages,
            "total": total,
            "page_url": lambda n: with_query("/register", {**filters.query(), "page": n}),
            "result": result,
        },
    )


def _filters(branch: str, channel: str, action: str, date_from: str, date_to: str) -> Filters:
    return Filters(
        branch=branch.strip()[:64],
        channel=channel.strip()[:64],
        action=action.strip()[:32],
        date_from=date_from.strip()[:10],
        date_to=date_to.strip()[:10],
    )


@router.get("/register", response_class=HTMLResponse)
def register_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REGISTER)],
    branch: str = "",
    channel: str = "",
    action: str = "",
    date_from: str = "",
    date_to: str = "",
    page: int = 1,
) -> HTMLResponse:
    filters = _filters(branch, channel, action, date_from, date_to)
    return _page(request, db, user, filters, page)


@router.post("/register/verify", response_class=HTMLResponse)
def verify_register(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VERIFY_REGISTER)],
) -> HTMLResponse:
    # The whole chain, whatever the reader's scope: a break anywhere matters to everyone.
    # The server checks with its own key's public half and the checkpoints file; an
    # auditor who trusts neither runs `vidaudit register verify --public-key` instead.
    state = web_state(request)
    chain = verify(db, state.public_keys(), state.kept_checkpoints())
    files: EvidenceCheck = evidence_store(state).verify(db)
    keys = state.public_keys()
    result = {
        "ok": chain.ok and files.ok and chain.signatures_checked,
        "chain": chain,
        "key_ids": ", ".join(keys.ids),
        "files": files,
        "at": state.clock(),
    }
    return _page(request, db, user, Filters(), 1, result)
