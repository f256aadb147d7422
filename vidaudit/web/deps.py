"""Typed dependencies every route uses: the database session, the logged-in user, guards.

A route is either public (``dependencies=[PUBLIC]``: only /login and /healthz) or
declares the permission it needs (``require_permission("review")``), which implies a
login and, for any method that can change something, a valid CSRF token.  ``create_app``
refuses to build an app with a route that does neither, and
tests/web/test_routes_guarded.py requests every route as every role.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Form, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, branch_scope_for, has_permission
from vidaudit.db.models import BranchRow, UserRow, WebSessionRow
from vidaudit.web.auth import load_session, same_token
from vidaudit.web.i18n import DEFAULT_LANGUAGE, normalise_language
from vidaudit.web.state import web_state

SESSION_COOKIE = "vidaudit_session"
#: double-submit token for the login form (there is no session yet to hold one)
LOGIN_CSRF_COOKIE = "vidaudit_login_csrf"
#: language chosen on the login page, before anyone is logged in
LANG_COOKIE = "vidaudit_lang"
CSRF_FIELD = "csrf_token"
#: fetch() and HTMX send the token in this header (static/app.js adds it from a <meta>)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No live session: pages redirect to /login, JSON and HTMX get 401."""


class Forbidden(Exception):
    """Logged in but not allowed (role, branch scope, or a failed CSRF check): 403."""

    def __init__(self, message_key: str = "error.forbidden") -> None:
        super().__init__(message_key)
        self.message_key = message_key


class CsrfFailed(Forbidden):
    def __init__(self) -> None:
        super().__init__("error.csrf")


def get_db(request: Request) -> Iterator[Session]:
    with web_state(request).sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]

#: the largest id a table's integer key holds (PostgreSQL ``integer``); ids are positive
MAX_DB_ID = 2**31 - 1
#: a record id in a path: anything else (0, negative, 2**63, not a number) is a 404
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
#: longest note, reason or comment a person types into a form
MAX_FORM_TEXT = 4000
#: longest other form field (choices, numbers, dates, ids)
MAX_FORM_FIELD = 200
#: form fields with their bound: a longer value is a 400 page before the handler runs
FormText = Annotated[str, Form(max_length=MAX_FORM_TEXT)]
FormField = Annotated[str, Form(max_length=MAX_FORM_FIELD)]
FormChoices = Annotated[list[str] | None, Form(max_length=MAX_FORM_FIELD)]


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a request carries: the header, else the form field; None for GET."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette caches the parsed form, so the handler's Form(...) fields still work.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def request_language(request: Request, user: UserRow | None = None) -> str:
    """?lang= for this request, else the user's choice, else the login page's cookie, else zh."""
    return (
        normalise_language(request.query_params.get("lang"))
        or (normalise_language(user.locale) if user is not None else None)
        or normalise_language(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LANGUAGE
    )


def get_current_user(
    request: Request,
    db: SessionDep,
    csrf: Annotated[str | None, Depends(submitted_csrf)],
) -> UserRow:
    state = web_state(request)
    found = load_session(db, request.cookies.get(SESSION_COOKIE), state.clock())
    if found is None:
        raise LoginRequired
    web_session, user = found
    if request.method not in SAFE_METHODS and not same_token(web_session.csrf_token, csrf):
        raise CsrfFailed
    # Templates and error pages read these (templating.render).
    request.state.user = user
    request.state.web_session = web_session
    request.state.csrf_token = web_session.csrf_token
    request.state.lang = request_language(request, user)
    return user


CurrentUser = Annotated[UserRow, Depends(get_current_user)]


def current_web_session(request: Request, user: CurrentUser) -> WebSessionRow:
    web_session = request.state.web_session
    assert isinstance(web_session, WebSessionRow)
    return web_session


CurrentSession = Annotated[WebSessionRow, Depends(current_web_session)]


class PermissionGuard:
    """A dependency that lets the request through only if the user's role holds
    ``permission``; tests find it in ``route.dependant`` to know what a route needs."""

    def __init__(self, permission: Permission | str) -> None:
        self.permission = Permission(permission)

    def __call__(self, user: CurrentUser) -> UserRow:
        if not has_permission(user.role, self.permission):
            raise Forbidden
        return user

    def __repr__(self) -> str:
        return f"PermissionGuard({self.permission.value!r})"


def require_permission(permission: Permission | str) -> Any:
    """``dependencies=[require_permission("review")]`` on a route or router, or as a
    parameter: ``user: Annotated[UserRow, require_permission("review")]``."""
    return Depends(PermissionGuard(permission))


def public() -> None:
    """Marks a route as open to anonymous visitors (see PUBLIC)."""


#: ``dependencies=[PUBLIC]``: the route needs no login.  Keep this list short.
PUBLIC: Any = Depends(public)


def branch_scope(user: UserRow) -> set[str] | None:
    """Branch ids the user may see; None means every branch."""
    return branch_scope_for(user.role, user.branch_id)


def get_branch_scope(user: CurrentUser) -> set[str] | None:
    return branch_scope(user)


BranchScope = Annotated[set[str] | None, Depends(get_branch_scope)]


def check_branch(user: UserRow, branch_id: str) -> None:
    """Raise Forbidden if ``branch_id`` is outside the user's scope (use on every page
    that shows one branch's data, e.g. ``/branches/{branch_id}``)."""
    scope = branch_scope(user)
    if scope is not None and branch_id not in scope:
        raise Forbidden("error.branch_scope")


def scoped_branches(db: Session, scope: set[str] | None) -> list[BranchRow]:
    """The active branches a user may see (``scope`` from ``BranchScope``), by id."""
    query = select(BranchRow).where(BranchRow.retired_at.is_(None)).order_by(BranchRow.id)
    if scope is not None:
        query = query.where(BranchRow.id.in_(scope))
    return list(db.scalars(query))
