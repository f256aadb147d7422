"""``/search?q=…``: the navigation bar's search box (``views.search``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import UserRow
from vidaudit.web.deps import SessionDep, require_permission
from vidaudit.web.templating import render
from vidaudit.web.views.search import MAX_QUERY, PER_KIND, search

router = APIRouter(tags=["search"])


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_DASHBOARD)],
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    text = q.strip()[:MAX_QUERY]
    hits = search(db, user, text)
    return render(
        request,
        "search.html",
        {"q": text, "hits": hits, "per_kind": PER_KIND},
    )
