"""``/users``: the security department manages accounts (add, disable and enable, reset a
password, change role and branch) and sees which branches have nobody to act for them.

Passwords are typed by the security department and handed over in person; none is ever
shown, logged or kept in clear (argon2id, ``vidaudit.accounts.users``).  A change of role,
branch or password ends the person's logins.  Nobody disables or demotes themselves here,
so the department cannot lock itself out.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, PersonRole, role_info
from vidaudit.accounts.users import (
    MIN_PASSWORD_LENGTH,
    UserError,
    change_role,
    create_user,
    disable_user,
    enable_user,
    reset_password,
)
from vidaudit.db.models import UserRow
from vidaudit.web.deps import DbId, SessionDep, require_permission
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import clean_text, not_found, query_flag
from vidaudit.web.views.users import users_page_data

log = logging.getLogger(__name__)
router = APIRouter(tags=["users"])

ManageUser = Annotated[UserRow, require_permission(Permission.MANAGE_USERS)]
#: refusals the page says in its own words (accounts.users codes, and this page's own)
USER_ERRORS = frozenset(
    {
        "role",
        "username",
        "exists",
        "branch_needed",
        "branch_not_allowed",
        "branch_unknown",
        "password_short",
        "password_space",
        "not_found",
        "self",
        "action",
    }
)
ACTIONS = ("disable", "enable", "reset", "change")


def _page(
    request: Request,
    db: Session,
    *,
    error: str = "",
    error_id: int | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    data = users_page_data(db)
    return render(
        request,
        "users.html",
        {
            "users": data.users,
            "branches": data.branches,
            "missing": data.missing,
            "roles": [r.value for r in PersonRole],
            "branch_bound": [r.value for r in PersonRole if not _all_branches(r.value)],
            "min_password": MIN_PASSWORD_LENGTH,
            "error": f"users.error_{error}" if error else "",
            "error_id": error_id,
            "form": form or {},
            "done": query_flag(request, "done"),
        },
        status_code=status_code,
    )


def _all_branches(role: str) -> bool:
    info = role_info(role)
    return info is not None and info.all_branches


def _branch_for(role: str, branch: str) -> str | None:
    """The branch a form gives, or None for a role that sees every branch (the form keeps
    the branch list for everyone; an all-branches role simply has none)."""
    return None if _all_branches(role) else (branch or None)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, db: SessionDep, user: ManageUser) -> HTMLResponse:
    return _page(request, db)


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    db: SessionDep,
    user: ManageUser,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=128)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    branch: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    # what was typed comes back on a refusal, except the password
    kept = {"username": username, "display_name": display_name, "role": role, "branch": branch}
    try:
        created = create_user(
            db,
            username=username.strip(),
            password=password,
            role=role,
            branch_id=_branch_for(role, branch),
            display_name=clean_text(display_name, 128) or None,
            now=web_state(request).clock(),
        )
    except UserError as exc:
        db.rollback()
        code = exc.code if exc.code in USER_ERRORS else "action"
        return _page(request, db, error=code, form=kept, status_code=400)
    db.commit()
    log.info("user %s created by %s (%s)", created.username, user.username, created.role)
    return RedirectResponse("/users?done=created", status_code=303)


@router.post("/users/{user_id}", response_class=HTMLResponse)
def change_user(
    request: Request,
    db: SessionDep,
    user: ManageUser,
    user_id: DbId,
    action: Annotated[str, Form(max_length=16)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    branch: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    target = db.get(UserRow, user_id)
    if target is None:
        raise not_found()
    now = web_state(request).clock()
    try:
        if action not in ACTIONS:
            raise UserError(f"unknown action {action!r}", "action")
        if target.id == user.id and action in ("disable", "change"):
            raise UserError("nobody disables or demotes themselves", "self")
        if action == "disable":
            disable_user(db, target.username, now)
        elif action == "enable":
            enable_user(target)
        elif action == "reset":
            reset_password(db, target, password, now)
        else:
            change_role(db, target, role, _branch_for(role, branch), now)
    except UserError as exc:
        db.rollback()
        code = exc.code if exc.code in USER_ERRORS else "action"
        return _page(request, db, error=code, error_id=user_id, status_code=400)
    db.commit()
    log.info("user %s: %s by %s", target.username, action, user.username)
    return RedirectResponse(f"/users?done={action}#user-{user_id}", status_code=303)
