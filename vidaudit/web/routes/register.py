"""``/register`` (D4, Art. 46): every playback, frame pull, review and approval, as entered
in the append-only, hash-chained register; auditors and the security department can
recompute the chain and check the evidence files here (``POST /register/verify``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import UserRow
from vidaudit.evidence.store import EvidenceCheck
from vidaudit.review.register import verify
from vidaudit.web.deps import SessionDep, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.register import (
    KNOWN_ACTIONS,
    Filters,
    parse_filters,
    register_page_data,
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
    data = register_page_data(db, user, filters, page)
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
            "page_url": lambda n: with_query("/register", {**filters.query(), "page": n}),
            "result": result,
        },
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
    filters = parse_filters(branch, channel, action, date_from, date_to)
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
