"""One router per resource.  A new page module adds ``router = APIRouter(...)`` here and
is listed in ``ROUTERS`` (vidaudit/web/app.py includes them in order)."""

from __future__ import annotations

from fastapi import APIRouter

from vidaudit.web.routes import account, dashboard, health

ROUTERS: tuple[APIRouter, ...] = (health.router, account.router, dashboard.router)
