"""Jinja2 environment and ``render``: every template gets the same base context.

Context every template can use (besides what the handler passes):
``request``, ``user`` (UserRow or None), ``t`` (translate), ``lang``, ``other_lang``,
``csrf_token``, ``csrf_field`` (the hidden input, ready to drop into a form), ``nav``
(the entries this user's role may see), ``can(permission)``, ``scope`` (branch ids or
None = all), ``url_with_lang(code)``, and the filters ``localtime`` and ``fmt_dt``
(``{{ row.opened_at | fmt_dt(branch.timezone) }}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from vidaudit.accounts.roles import branch_scope_for, has_permission
from vidaudit.db.models import UserRow
from vidaudit.web.deps import CSRF_FIELD, CSRF_HEADER, request_language
from vidaudit.web.i18n import DEFAULT_TIMEZONE, LANGUAGES, fmt_bytes, fmt_dt, localtime
from vidaudit.web.nav import nav_for
from vidaudit.web.state import web_state


def make_environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        # A misspelt variable fails loudly in tests instead of rendering as nothing.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["localtime"] = localtime
    env.filters["fmt_dt"] = fmt_dt
    env.filters["fmt_bytes"] = fmt_bytes
    env.globals["DEFAULT_TIMEZONE"] = DEFAULT_TIMEZONE
    env.globals["CSRF_HEADER"] = CSRF_HEADER
    return env


def base_context(request: Request) -> dict[str, Any]:
    state = web_state(request)
    user = getattr(request.state, "user", None)
    user = user if isinstance(user, UserRow) else None
    lang = getattr(request.state, "lang", None) or request_language(request, user)
    token = getattr(request.state, "csrf_token", None) or ""
    role = user.role if user is not None else ""
    return {
        "request": request,
        "user": user,
        "lang": lang,
        "other_lang": next(code for code in LANGUAGES if code != lang),
        "t": state.catalogue.translator(lang),
        "csrf_token": token,
        "csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, token
        ),
        "nav": nav_for(role) if user is not None else [],
        "can": lambda permission: user is not None and has_permission(role, permission),
        "scope": branch_scope_for(role, user.branch_id) if user is not None else set(),
        "url_with_lang": lambda code: _url_with_lang(request, code),
    }


def _url_with_lang(request: Request, code: str) -> str:
    """This page's path and query with ``lang`` set to ``code`` (the anonymous switch)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + "?" + urlencode([*query, ("lang", code)])


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with the base context plus ``context`` (which wins)."""
    values = base_context(request)
    if context:
        values.update(context)
    html = web_state(request).templates.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
