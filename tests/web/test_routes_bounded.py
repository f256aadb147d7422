"""Every route with out-of-range ids, dates and numbers and oversize fields: never a 500
(pen test item 4: ids >= 2**63, years 1 and 9999, CSV fields over 131,072 characters all
gave 500s and reset the keep-alive connection).

Built on test_routes_guarded's walk: routes, their path, query and form parameters come
from the app itself, so a route added later is swept without editing this file.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant

from tests.web.conftest import WebEnv
from tests.web.test_routes_guarded import SAMPLE_PARAMS
from vidaudit.accounts.roles import has_permission
from vidaudit.web.app import api_routes
from vidaudit.web.deps import CSRF_HEADER

#: who asks: the first of these whose role may use the route
ASKERS = ("sec", "admin", "head", "insp", "audit")
ROLE_OF = {
    "sec": "security",
    "admin": "administrator",
    "head": "branch_head",
    "insp": "inspector",
    "audit": "auditor",
}

HUGE_IDS = ["9223372036854775808", "18446744073709551616", "-1", "0", "1e9", "99999999999"]
BAD_VALUES = [
    "0001-01-01",
    "9999-12-31",
    "0001-W01",
    "9999-W52",
    "2026-W99",
    "0000-00-00",
    "0001-01-01T00:00:00+08:00",
    "9999-12-31T23:59:59+08:00",
    "9223372036854775808",
    "-9223372036854775809",
    "1e308",
    "NaN",
    "-1",
    "x" * 5000,
    "\x00",
    "../../etc/passwd",
    "<script>",
    "%ff",
]
#: a field larger than any the app takes (Starlette refuses parts over 1 MiB itself)
OVERSIZE = "字" * 200_000


def _csv(rows: list[str]) -> bytes:
    return ("branch,channel,instant,kind,note\n" + "\n".join(rows) + "\n").encode()


CSV_FILES = [
    _csv(["B1,B1-C1,0001-01-01T00:00:00+08:00,cash,year one"]),
    _csv(["B1,B1-C1,9999-12-31T23:59:59+08:00,cash,year 9999"]),
    _csv(["B1,B1-C1,2026-11-19T10:00:00+08:00,cash," + "n" * 140_000]),  # > csv's 131072
    _csv(['B1,B1-C1,2026-11-19T10:00:00+08:00,cash,"unterminated']),
    b"\xff\xfe\x00garbage",
    b"x" * (2 << 20),  # over the 1 MiB CSV limit
]


def asker(permissions: set[str]) -> str | None:
    return next(
        (u for u in ASKERS if all(has_permission(ROLE_OF[u], p) for p in permissions)), None
    )


def _names(params: list[Any]) -> list[str]:
    return [p.alias or p.name for p in params]


def variants(
    path: str, methods: set[str], dependant: Dependant
) -> Iterator[tuple[str, str, dict, dict, dict]]:
    """(method, url, query, form, files) to try."""
    path_names = _names(dependant.path_params)
    query_names = _names(dependant.query_params)
    body = list(dependant.body_params)
    is_file = {(p.alias or p.name): "UploadFile" in str(p.field_info.annotation) for p in body}
    form_names = [n for n, file in is_file.items() if not file]
    file_names = [n for n, file in is_file.items() if file]

    def url_with(values: dict[str, str]) -> str:
        out = path
        for name in path_names:
            out = out.replace("{" + name + "}", values.get(name, SAMPLE_PARAMS.get(name, "1")))
        return out

    for method in sorted(methods - {"HEAD"}):
        base = url_with({})
        for name in path_names:
            for bad in [*HUGE_IDS, "x" * 3000]:
                yield method, url_with({name: bad}), {}, {}, {}
        for name in query_names:
            for bad in BAD_VALUES:
                yield method, base, {name: bad}, {}, {}
        if method == "POST":
            for bad in [*BAD_VALUES, OVERSIZE]:
                yield method, base, {}, {n: bad for n in form_names}, {}
            for content in CSV_FILES:
                if file_names:
                    files = {n: ("x.csv", io.BytesIO(content), "text/csv") for n in file_names}
                    yield method, base, {}, {n: "6" for n in form_names}, files


def test_no_route_answers_500_to_out_of_range_or_oversize_input(web: WebEnv) -> None:
    web.now = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
    tried = 0
    failures: list[str] = []
    clients = {u: web.client_as(u, raise_server_exceptions=False) for u in ASKERS}
    try:
        tokens = {
            u: c.get("/").text.split('name="csrf-token" content="', 1)[1].split('"')[0]
            for u, c in clients.items()
        }
        for route in api_routes(web.app):
            if route.is_public or route.path == "/logout":
                continue
            user = asker(route.permissions)
            assert user is not None, route.path
            for method, url, query, form, files in variants(
                route.path, set(route.methods), route.dependant
            ):
                response = clients[user].request(
                    method,
                    url,
                    params=query,
                    data=form or None,
                    files=files or None,
                    headers={CSRF_HEADER: tokens[user]},
                )
                tried += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{response.status_code} {method} {url[:80]} {list(query)}"
                        f" {list(form)} {list(files)}"
                    )
    finally:
        for client in clients.values():
            client.close()
    assert tried > 300
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Long": "x" * 20_000}, 431),
        ({f"X-Many-{n}": "1" for n in range(150)}, 431),
        ({"Content-Length": str(1 << 40)}, 413),
    ],
)
def test_oversize_headers_and_declared_bodies_are_refused_first(
    sqlite_web: WebEnv, headers: dict[str, str], status: int
) -> None:
    with sqlite_web.client_as("sec") as client:
        response = client.request("GET", "/", headers=headers)
    assert response.status_code == status
    assert "请求" in response.text  # the error page, in Chinese


def test_a_chunked_body_over_the_limit_is_refused(sqlite_web: WebEnv) -> None:
    limit = sqlite_web.settings.web_max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536

    with sqlite_web.client_as("sec") as client:
        response = client.post("/findings/1", content=chunks())
    assert response.status_code == 413


def test_a_long_url_is_refused(sqlite_web: WebEnv) -> None:
    with sqlite_web.client_as("sec") as client:
        assert client.get("/register", params={"branch": "x" * 10_000}).status_code == 414
