"""Login, logout and the language switch.

The login form is protected against CSRF by a double-submit token (a cookie and a hidden
field that must match) because there is no session yet to hold one; every later form uses
the session's token.  Failures say the same thing whether the user is unknown, the
password wrong or the account disabled.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.accounts.users import authenticate
from vidaudit.db.models import UserRow
from vidaudit.web.auth import load_session, revoke_session, same_token, start_session
from vidaudit.web.deps import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    CurrentSession,
    FormField,
    SessionDep,
    request_language,
    require_permission,
)
from vidaudit.web.errors import safe_next
from vidaudit.web.i18n import LANGUAGES, normalise_language
from vidaudit.web.state import web_state
from vidaudit.web.templating import render

log = logging.getLogger(__name__)
router = APIRouter(tags=["account"])

#: longer input is refused before hashing (argon2 of megabytes would be a cheap DoS)
_MAX_PASSWORD = 1024
_MAX_USERNAME = 64
_LANG_COOKIE_AGE = 365 * 24 * 3600


def secure_cookies(request: Request) -> bool:
    mode = web_state(request).settings.web_secure_cookies
    if mode == "auto":
        # uvicorn sets the scheme from X-Forwarded-Proto when the proxy is trusted
        # (--forwarded-allow-ips), so this is right behind nginx on the same host too.
        return request.url.scheme == "https"
    return mode == "always"


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def _login_page(
    request: Request,
    *,
    error_key: str | None = None,
    error_values: dict[str, object] | None = None,
    username: str = "",
    next_url: str = "/",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    lang = request_language(request)
    request.state.lang = lang
    response = render(
        request,
        "login.html",
        {
            "error_key": error_key,
            "error_values": error_values or {},
            "username": username,
            "next_url": next_url,
        },
        status_code=status_code,
        headers=headers,
    )
    # A fresh token per rendering; the form and the cookie must match on POST.
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    chosen = normalise_language(request.query_params.get("lang"))
    if chosen:
        _set_cookie(request, response, LANG_COOKIE, chosen, _LANG_COOKIE_AGE)
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
def login_form(request: Request, db: SessionDep, next: str = "/") -> Response:
    state = web_state(request)
    if load_session(db, request.cookies.get(SESSION_COOKIE), state.clock()) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
def login(
    request: Request,
    db: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    state = web_state(request)
    # Cut before any use (the limiter's keys, the log, the page): the pen test sent 1 MB
    # names 300 times and the process kept 281 MB.  A longer name exists nowhere, so the
    # cut one fails like any wrong name.
    too_long = len(username) > _MAX_USERNAME or len(password) > _MAX_PASSWORD
    username = username.strip()[:_MAX_USERNAME]
    password = password[:_MAX_PASSWORD]
    next_url = safe_next(next[:2048])
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE) or "", csrf_token or None):
        return _login_page(
            request,
            error_key="login.expired",
            username=username,
            next_url=next_url,
            status_code=403,
        )
    address = _client_address(request)
    wait_s = state.limiter.retry_after(username, address)
    if wait_s > 0:
        log.warning("login refused (rate limit) for %r from %s", username, address)
        return _login_page(
            request,
            error_key="login.too_many",
            error_values={"seconds": math.ceil(wait_s)},
            username=username,
            next_url=next_url,
            status_code=429,
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    user = None
    if username and password and not too_long:
        user = authenticate(db, username, password)
    if user is None:
        state.limiter.failed(username, address)
        log.info("login failed for %r from %s", username, address)
        return _login_page(
            request, error_key="login.failed", username=username, next_url=next_url, status_code=401
        )
    state.limiter.succeeded(username, address)
    now = state.clock()
    _end_current_session(request, db)
    new = start_session(db, user, now, state.settings.web_session_hours)
    db.commit()
    log.info("login of %s (%s) from %s", user.username, user.role, address)
    response = RedirectResponse(next_url, status_code=303)
    age = int(state.settings.web_session_hours * 3600)
    _set_cookie(request, response, SESSION_COOKIE, new.token, age)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def _end_current_session(request: Request, db: Session) -> None:
    # Logging in again over a live session: retire the old one rather than leave it valid.
    state = web_state(request)
    found = load_session(db, request.cookies.get(SESSION_COOKIE), state.clock())
    if found is not None:
        revoke_session(db, found[0], state.clock())


@router.post("/logout", dependencies=[require_permission(Permission.ACCOUNT)])
def logout(request: Request, db: SessionDep, web_session: CurrentSession) -> Response:
    revoke_session(db, web_session, web_state(request).clock())
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/language")
def set_language(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.ACCOUNT)],
    lang: FormField = "",
    next: Annotated[str, Form(max_length=4096)] = "/",
) -> Response:
    chosen = normalise_language(lang)
    if chosen in LANGUAGES and chosen != user.locale:
        user.locale = chosen
        db.commit()
    # The ?lang= of the page we came from would override the new choice: drop it.
    target = safe_next(next)
    return RedirectResponse(_without_lang(target), status_code=303)


def _without_lang(target: str) -> str:
    path, _, query = target.partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith("lang=")]
    return path + ("?" + "&".join(kept) if kept else "")
