"""``/register`` (D4, Art. 46): every playback, frame pull and viewing, review, approval and
rectification step, as entered in the append-only, hash-chained register, each said in the
reader's words and linked to its record; filtered by branch, channel, kind, person and
dates, exported as CSV or XLSX (``/register.csv``, ``/register.xlsx``, same filters).
Auditors and the security department can recompute the chain and check the evidence files
here (``POST /register/verify``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import UserRow
from vidaudit.evidence.store import EvidenceCheck
from vidaudit.review.register import verify
from vidaudit.web.deps import SessionDep, require_permission
from vidaudit.web.export import Cell, dated_export
from vidaudit.web.i18n import DEFAULT_TIMEZONE, fmt_dt
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.register import (
    KNOWN_ACTIONS,
    Filters,
    export_entries,
    parse_filters,
    person_role,
    register_page_data,
    say_entries,
)
from vidaudit.web.views.review_common import (
    branch_zones,
    branches_in_scope,
    evidence_store,
    with_query,
)

router = APIRouter(tags=["register"])


def _page(
    request: Request,
    db: Session,
    user: UserRow,
    filters: Filters,
    page: int,
    result: dict[str, Any] | None = None,
) -> HTMLResponse:
    t = web_state(request).catalogue.translator(request.state.lang)
    data = register_page_data(db, user, filters, page, t)
    return render(
        request,
        "register.html",
        {
            "entries": data.entries,
            "filters": filters,
            "branches": branches_in_scope(db, user),
            "zones": branch_zones(db),
            "actions": data.actions,
            "known_actions": KNOWN_ACTIONS,
            "page": data.page,
            "pages": data.pages,
            "total": data.total,
            "said": data.said,
            "actors": data.actors,
            "export_query": with_query("", filters.query()),
            "page_url": lambda n: with_query("/register", {**filters.query(), "page": n}),
            "result": result,
            "person_role": lambda role: person_role(role, t),
        },
    )


RegisterUser = Annotated[UserRow, require_permission(Permission.VIEW_REGISTER)]


def _filters(
    branch: str = "",
    channel: str = "",
    action: str = "",
    date_from: str = "",
    date_to: str = "",
    actor: str = "",
) -> Filters:
    return parse_filters(branch, channel, action, date_from, date_to, actor)


#: the register's query string, the same for the page and both exports
RegisterFilters = Annotated[Filters, Depends(_filters)]


@router.get("/register", response_class=HTMLResponse)
def register_page(
    request: Request, db: SessionDep, user: RegisterUser, filters: RegisterFilters, page: int = 1
) -> HTMLResponse:
    return _page(request, db, user, filters, page)


def _export(
    kind: Literal["csv", "xlsx"], request: Request, db: Session, user: UserRow, filters: Filters
) -> Response:
    t = web_state(request).catalogue.translator(request.state.lang)
    entries = export_entries(db, user, filters)
    said = say_entries(db, entries, t)
    zones = branch_zones(db)
    header = [
        t(key)
        for key in (
            "register.seq",
            "register.at",
            "register.who",
            "register.role",
            "register.action",
            "review.branch",
            "review.channel",
            "register.range_start",
            "register.range_end",
            "register.reason",
            "register.record",
            "register.hash",
        )
    ]
    rows: list[list[Cell]] = []
    for e in entries:
        tz = zones.get(e.branch_id or "", DEFAULT_TIMEZONE)
        action = t(f"register.action_{e.action}") if e.action in KNOWN_ACTIONS else e.action
        why = "; ".join(part for part in (said[e.seq].why, e.reason) if part)
        rows.append(
            [
                e.seq,
                fmt_dt(e.at, tz, "seconds"),
                e.actor,
                person_role(e.actor_role, t),
                action,
                e.branch_id,
                e.channel_id,
                fmt_dt(e.range_start, tz, "seconds") if e.range_start else None,
                fmt_dt(e.range_end, tz, "seconds") if e.range_end else None,
                why,
                said[e.seq].link,
                e.hash,
            ]
        )
    return dated_export(kind, "register", header, rows, web_state(request).clock())


@router.get("/register.csv")
def register_csv(
    request: Request, db: SessionDep, user: RegisterUser, filters: RegisterFilters
) -> Response:
    return _export("csv", request, db, user, filters)


@router.get("/register.xlsx")
def register_xlsx(
    request: Request, db: SessionDep, user: RegisterUser, filters: RegisterFilters
) -> Response:
    return _export("xlsx", request, db, user, filters)


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
