"""The FastAPI app factory.  No I/O at import; ``create_app`` reads only the template,
static and locale folders (no database access: ``vidaudit serve`` checks the schema first).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from vidaudit.aio import beside
from vidaudit.alerts.service import AlertService
from vidaudit.db.engine import make_sessionmaker
from vidaudit.inventory import load_inventory
from vidaudit.inventory.watch import InventoryWatch, Reloaded, looks
from vidaudit.review.checkpoints import checkpoint_every
from vidaudit.review.register import register_info
from vidaudit.review.signing import SignerSource
from vidaudit.settings import Settings
from vidaudit.web.auth import LoginLimiter
from vidaudit.web.deps import PermissionGuard, public
from vidaudit.web.errors import install_error_handlers
from vidaudit.web.i18n import Catalogue
from vidaudit.web.limits import InputLimits
from vidaudit.web.routes import ROUTERS
from vidaudit.web.state import WEB_ROOT, WebState, utc_now, web_state
from vidaudit.web.templating import make_environment

# Pages are server-rendered with no inline script or style, so the policy can be strict;
# frame-ancestors stops click-jacking of the approval and review forms.
_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the headers above to every response; pages other than /static are not cached
    (they show surveillance data, and the back button after logout must not show them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


@dataclass(frozen=True)
class RouteInfo:
    """One API route as the app serves it (include-time prefix and dependencies applied)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant

    @property
    def is_public(self) -> bool:
        return any(call is public for call in _calls(self.dependant))

    @property
    def permissions(self) -> set[str]:
        calls = _calls(self.dependant)
        return {c.permission.value for c in calls if isinstance(c, PermissionGuard)}


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of ``app``, flattened through included routers."""
    try:
        # FastAPI >= 0.16x keeps included routers as lazy nodes in app.routes; this is
        # its own public walk (the one its OpenAPI generator uses).
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts: list[Any] = list(app.routes)
    else:
        contexts = [
            c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)
        ]
    found = []
    for context in contexts:
        dependant = getattr(context, "dependant", None)
        if isinstance(context, Mount) or not isinstance(dependant, Dependant):
            continue
        found.append(RouteInfo(str(context.path), frozenset(context.methods or ()), dependant))
    return found


def _check_every_route_is_guarded(app: FastAPI) -> None:
    routes = api_routes(app)
    if not routes:
        raise RuntimeError("no routes found: the route walk no longer fits this FastAPI")
    for route in routes:
        if route.is_public == bool(route.permissions):
            what = (
                "both PUBLIC and a permission"
                if route.is_public
                else "neither PUBLIC nor a permission"
            )
            raise RuntimeError(
                f"route {sorted(route.methods)} {route.path} declares {what}; "
                "add dependencies=[require_permission(...)] (see vidaudit/accounts/roles.py)"
            )


async def _follow_inventory(
    state: WebState, watch: InventoryWatch, alerts: AlertService | None
) -> None:
    """The server runs for months; the security department edits cameras.yaml (the
    Spring Festival's closed dates, a branch's new hours, a raised retention, a recorder
    added).  Pages, reports and frame pulls read ``state.inventory`` per request, and the
    alerts read theirs per sweep: a good edit is used from the next one on, and one the
    loader rejects changes nothing (the watch logs either, with the file and key path)."""
    async for outcome in looks(watch, state.settings.inventory_check_s):
        if isinstance(outcome, Reloaded):
            state.inventory = outcome.inventory
            if alerts is not None:
                alerts.inventory = outcome.inventory


@contextlib.asynccontextmanager
async def _alerts_beside(app: FastAPI) -> AsyncIterator[AlertService]:
    """While the server runs: decide and send alerts, escalate overdue tickets
    (``vidaudit.alerts.service``), never inside a request."""
    state = web_state(app)
    service = AlertService(
        state.settings,
        state.sessions,
        state.catalogue.translator,
        inventory=state.inventory,
        clock=state.clock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop), name="vidaudit-alerts")
    try:
        yield service
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=30)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    web_root: Path | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    alerts: bool = False,
) -> FastAPI:
    """The web view on ``engine``.  ``web_root`` holds templates/, static/, locales/;
    ``alerts``: run the alerts' sweep and sender beside it (``vidaudit serve``)."""
    root = web_root or WEB_ROOT
    # The policy (duties, retention, margins) and business hours live in cameras.yaml; a
    # broken inventory stops the server with the loader's message rather than half-working.
    inventory_path = settings.inventory if settings.inventory.is_file() else None
    inventory = load_inventory(inventory_path) if inventory_path else None
    # and an edit is taken up while the server runs (``_follow_inventory``)
    watch = InventoryWatch(inventory_path, inventory) if inventory_path and inventory else None
    signer = SignerSource(settings)
    sessions = make_sessionmaker(engine, register_info(signer))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        minutes = settings.register_checkpoint_minutes
        async with contextlib.AsyncExitStack() as stack:
            if minutes > 0:
                await stack.enter_async_context(
                    beside(
                        checkpoint_every(
                            sessions, signer, settings.checkpoints_file, minutes, clock
                        )
                    )
                )
            service = await stack.enter_async_context(_alerts_beside(app)) if alerts else None
            if watch is not None:
                await stack.enter_async_context(
                    beside(_follow_inventory(web_state(app), watch, service))
                )
            yield

    app = FastAPI(
        title="vidaudit",
        lifespan=lifespan,
        # No public API documentation: every route but login needs a session anyway, and
        # the schema would list every page to an anonymous visitor.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = WebState(
        settings=settings,
        sessions=sessions,
        catalogue=Catalogue.load(root / "locales"),
        templates=make_environment(root / "templates"),
        limiter=LoginLimiter(
            account_free=settings.web_login_attempts,
            address_free=settings.web_login_address_attempts,
            max_delay_s=settings.web_login_max_delay_s,
            forget_s=settings.web_login_window_min * 60,
        ),
        web_root=root,
        clock=clock,
        inventory=inventory,
        inventory_path=inventory_path,
        signer=signer,
    )
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=root / "static"), name="static")
    install_error_handlers(app)
    app.add_middleware(InputLimits, max_body_bytes=settings.web_max_body_bytes)
    if settings.web_trusted_proxies:
        # X-Forwarded-For/-Proto only from the named proxies; from anyone else they are the
        # client's own claim (a login guesser would rotate it to escape the address limit).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.web_trusted_proxies)
    app.add_middleware(SecurityHeaders)
    _check_every_route_is_guarded(app)
    return app
