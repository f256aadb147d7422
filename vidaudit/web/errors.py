"""Error responses: a page for people, JSON for fetch/HTMX/API callers.

A request "wants JSON" when its path starts with /api/, it comes from HTMX
(``HX-Request``), or it accepts application/json but not text/html.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidaudit.web.deps import SAFE_METHODS, Forbidden, LoginRequired
from vidaudit.web.templating import render

log = logging.getLogger(__name__)

_STATUS_KEYS = {
    400: "error.bad_request",
    401: "error.login_required",
    403: "error.forbidden",
    404: "error.not_found",
    405: "error.method_not_allowed",
    413: "error.too_large",
    414: "error.too_long",
    422: "error.bad_request",
    431: "error.too_long",
    429: "error.too_many",
    500: "error.server",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.headers.get("HX-Request"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login/language switch; anything else (another host,
    ``//evil``, ``/\\evil``, a scheme) becomes ``default`` so there is no open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\r\n\t") or ":" in target.split("?", 1)[0]:
        return default
    return target


def error_response(request: Request, status: int, message_key: str | None = None) -> Response:
    key = message_key or _STATUS_KEYS.get(status, "error.server")
    if wants_json(request):
        return JSONResponse({"detail": key}, status_code=status)
    return render(request, "error.html", {"status": status, "message_key": key}, status_code=status)


async def _login_required(request: Request, exc: Exception) -> Response:
    if wants_json(request):
        headers = {"HX-Redirect": "/login"} if request.headers.get("HX-Request") else {}
        return JSONResponse({"detail": "error.login_required"}, status_code=401, headers=headers)
    target = "/login"
    if request.method in SAFE_METHODS and request.url.path != "/":
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(path, safe="")
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    key = exc.message_key if isinstance(exc, Forbidden) else None
    return error_response(request, 403, key)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = error_response(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # A path that names no possible record (an id out of range, a malformed one) is a page
    # that does not exist; a bad query or form field is a bad request.
    status = 404 if any(e["loc"][:1] == ("path",) for e in exc.errors()) else 400
    if wants_json(request):
        # Only where and what: the input itself may be a password typed into a form.
        errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": _STATUS_KEYS[status], "errors": errors}, status)
    return error_response(request, status)


async def _out_of_range(request: Request, exc: Exception) -> Response:
    # The last line of defence, not the first: ids and dates are bounded where they are
    # read (DbId, the date parsers).  A number or date that still overflows (Python's date
    # arithmetic, SQLite's 64-bit integers, PostgreSQL's numeric ranges) was bad input,
    # not a server fault: 400, and a log line naming the route so the bound gets added.
    log.warning("out-of-range input on %s %s: %s", request.method, request.url.path, exc)
    return error_response(request, 400)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
