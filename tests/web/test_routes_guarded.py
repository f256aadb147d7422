"""Every route of the app, as an anonymous visitor and as every role.

The routes are read from ``app.routes``, and what each role must get from the permission
table in vidaudit/accounts/roles.py, so a page added later is checked without editing this
file: without a guard the app refuses to start, with the wrong one this test fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Mount

from tests.web.conftest import CAMERA_PASSWORD, ROLE_USER, WebEnv
from vidaudit.accounts.roles import ROLES, PersonRole, has_permission
from vidaudit.web import app as app_module
from vidaudit.web import routes as routes_module
from vidaudit.web.app import RouteInfo, api_routes, create_app
from vidaudit.web.deps import CSRF_HEADER, PUBLIC, require_permission

#: values for path parameters; an unknown name gets "1" (ids are integers or strings)
SAMPLE_PARAMS = {"branch_id": "B1", "channel_id": "B1-C1", "device_id": "B1-NVR"}
#: the only routes open without a login (besides the /static mount)
EXPECTED_PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")}


def endpoints(app: FastAPI) -> Iterator[tuple[str, str, RouteInfo]]:
    for route in api_routes(app):
        for method in sorted(route.methods - {"HEAD"}):
            path = re.sub(
                r"{([^}:]+)(:[^}]+)?}",
                lambda m: SAMPLE_PARAMS.get(m.group(1), "1"),
                route.path,
            )
            yield method, path, route


def secured(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    return [(m, p, r.permissions) for m, p, r in endpoints(app) if not r.is_public]


def test_only_login_and_healthz_are_public(sqlite_web: WebEnv) -> None:
    public = {(m, p) for m, p, r in endpoints(sqlite_web.app) if r.is_public}
    assert public == EXPECTED_PUBLIC
    mounts = [r.path for r in sqlite_web.app.routes if isinstance(r, Mount)]
    assert mounts == ["/static"]
    assert secured(sqlite_web.app), "no guarded routes found: the enumeration is broken"


def test_anonymous_is_sent_to_login_everywhere(sqlite_web: WebEnv) -> None:
    with sqlite_web.client() as client:
        for method, path, _perms in secured(sqlite_web.app):
            page = client.request(method, path)
            assert page.status_code == 303, (method, path, page.status_code)
            assert page.headers["location"].startswith("/login"), (method, path)
            api = client.request(method, path, headers={"Accept": "application/json"})
            assert api.status_code == 401, (method, path, api.status_code)
            htmx = client.request(method, path, headers={"HX-Request": "true"})
            assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"


@pytest.mark.parametrize("role", list(PersonRole))
def test_each_role_gets_what_the_permission_table_says(role: PersonRole, web: WebEnv) -> None:
    username = ROLE_USER[role.value]
    for method, path, permissions in secured(web.app):
        allowed = all(has_permission(role.value, p) for p in permissions)
        # A fresh session per request: /logout must not end the next request's session.
        with web.client_as(username) as client:
            csrf = client.get("/").text.split('name="csrf-token" content="', 1)[1].split('"')[0]
            response = client.request(method, path, headers={CSRF_HEADER: csrf}, data={})
        if allowed:
            assert response.status_code not in (401, 403), (role, method, path)
            assert response.status_code < 500, (role, method, path, response.status_code)
            location = response.headers.get("location", "")
            if not path.startswith("/logout"):
                assert not location.startswith("/login"), (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_every_role_can_open_the_dashboard_and_the_auditor_writes_nothing() -> None:
    from vidaudit.accounts.roles import READ_ONLY

    for info in ROLES.values():
        assert has_permission(info.role, "view_dashboard")
    assert ROLES[PersonRole.AUDITOR].permissions <= READ_ONLY


def test_an_unguarded_route_stops_the_app_from_starting(
    sqlite_web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    careless = APIRouter()

    @careless.get("/forgot-the-guard")
    def forgot() -> str:
        return "secret"

    monkeypatch.setattr(app_module, "ROUTERS", (*routes_module.ROUTERS, careless))
    with pytest.raises(RuntimeError, match=r"forgot-the-guard.*neither PUBLIC nor a permission"):
        create_app(sqlite_web.settings, sqlite_web.engine)

    confused = APIRouter()

    @confused.get("/both", dependencies=[PUBLIC, require_permission("review")])
    def both() -> str:
        return "?"

    monkeypatch.setattr(app_module, "ROUTERS", (*routes_module.ROUTERS, confused))
    with pytest.raises(RuntimeError, match="both PUBLIC and a permission"):
        create_app(sqlite_web.settings, sqlite_web.engine)


def test_no_response_contains_a_camera_password_or_a_password_hash(web: WebEnv) -> None:
    bodies: list[tuple[str, str]] = []
    with web.client() as client:
        for path in ("/login", "/login?lang=en", "/healthz", "/no-such-page", "/static/style.css"):
            bodies.append((f"anonymous {path}", client.get(path).text))
    for role, username in ROLE_USER.items():
        for method, path, _perms in secured(web.app):
            if method != "GET":
                continue
            with web.client_as(username) as client:
                for variant in (path, f"{path}?lang=en"):
                    response = client.get(variant)
                    bodies.append((f"{role} {variant}", response.text))
                    bodies.append((f"{role} {variant} headers", str(response.headers)))
    assert len(bodies) > 10
    for where, body in bodies:
        assert CAMERA_PASSWORD not in body, where
        assert "$argon2" not in body, where
