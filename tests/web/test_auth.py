"""Login, sessions, CSRF, rate limit, cookies and disabled users, through HTTP."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select

from tests.web.conftest import PASSWORD, PRODUCTION_HASHER, WebEnv, csrf_from, login
from vidaudit.accounts import users
from vidaudit.accounts.users import disable_user
from vidaudit.db.models import UserRow, WebSessionRow
from vidaudit.web.auth import token_hash
from vidaudit.web.deps import CSRF_HEADER, LOGIN_CSRF_COOKIE, SESSION_COOKIE
from vidaudit.web.errors import safe_next
from vidaudit.web.state import web_state


def set_cookie_headers(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined, no-any-return]


def page_csrf(client: object, path: str = "/") -> str:
    return csrf_from(client.get(path).text)  # type: ignore[attr-defined]


def test_production_hasher_is_argon2id_with_rfc9106_costs() -> None:
    # The autouse fixture swaps in a cheap hasher for speed; the module's own must not be.
    assert PRODUCTION_HASHER.type is Type.ID
    assert PRODUCTION_HASHER.memory_cost >= 64 * 1024 and PRODUCTION_HASHER.time_cost >= 3
    stored = PRODUCTION_HASHER.hash("a password of twenty")
    assert stored.startswith("$argon2id$")


def test_login_sets_a_safe_cookie_and_stores_only_its_hash(web: WebEnv) -> None:
    with web.client() as client:
        response = login(client, "head")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = next(c for c in set_cookie_headers(response) if c.startswith(SESSION_COOKIE))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        token = client.cookies[SESSION_COOKIE]
        assert len(token) >= 43  # 32 random bytes
        home = client.get("/")
        assert home.status_code == 200 and "您好,张行长" in home.text
    with web.sessions() as db:
        rows = db.scalars(select(WebSessionRow)).all()
        assert [r.token_hash for r in rows] == [token_hash(token)]
        assert token not in {r.token_hash for r in rows}
        assert rows[0].expires_at - rows[0].created_at == dt.timedelta(hours=12)


def test_cookie_is_secure_over_https_or_when_told(web: WebEnv) -> None:
    with web.client(base_url="https://testserver") as client:
        cookie = next(
            c for c in set_cookie_headers(login(client, "head")) if c.startswith(SESSION_COOKIE)
        )
        assert "Secure" in cookie
    web_state(web.app).settings = web.settings.model_copy(update={"web_secure_cookies": "always"})
    with web.client() as client:
        page = client.get("/login")
        assert all("Secure" in c for c in set_cookie_headers(page))


def test_failure_says_the_same_for_unknown_user_wrong_password_and_disabled(
    web: WebEnv,
) -> None:
    with web.sessions.begin() as db:
        disable_user(db, "head2", web.now)
    bodies = []
    with web.client() as client:
        for username, password in (
            ("nobody", PASSWORD),
            ("head", "wrong password!"),
            ("head2", PASSWORD),
        ):
            response = login(client, username, password)
            assert response.status_code == 401
            assert SESSION_COOKIE not in client.cookies
            # Tokens and the typed username aside, the pages are identical.
            bodies.append(re.sub(r'(value|content)="[^"]*"', "", response.text))
    assert bodies[0] == bodies[1] == bodies[2]
    assert "用户名或密码不正确" in bodies[0]


def test_unknown_user_costs_one_hash_like_a_known_one(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = users._hasher

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append("verify")
            return real.verify(hash, password)

    monkeypatch.setattr(users, "_hasher", Counting(time_cost=1, memory_cost=1024, parallelism=1))
    with web.sessions() as db:
        assert users.authenticate(db, "nobody", PASSWORD) is None
        assert users.authenticate(db, "head", "wrong password!") is None
        assert users.authenticate(db, "head", PASSWORD) is not None
    assert calls == ["verify"] * 3


def test_login_without_the_form_token_is_refused(web: WebEnv) -> None:
    with web.client() as client:
        client.get("/login")
        forged = client.post("/login", data={"username": "head", "password": PASSWORD})
        assert forged.status_code == 403 and SESSION_COOKIE not in client.cookies
        client.cookies.delete(LOGIN_CSRF_COOKIE)
        other = client.post(
            "/login", data={"username": "head", "password": PASSWORD, "csrf_token": "guess"}
        )
        assert other.status_code == 403 and "登录页面已过期" in other.text


def test_post_without_csrf_token_is_refused(web: WebEnv) -> None:
    with web.client_as("admin") as client:
        token = page_csrf(client)
        assert client.post("/account/language", data={"lang": "en"}).status_code == 403
        wrong = client.post("/account/language", data={"lang": "en", "csrf_token": "x" * 43})
        assert wrong.status_code == 403 and "表单已过期" in wrong.text
        assert client.post("/logout").status_code == 403
        assert client.get("/").status_code == 200  # the forged logout did nothing
        ok = client.post("/account/language", data={"lang": "en", "csrf_token": token})
        assert ok.status_code == 303
        by_header = client.post(
            "/account/language", data={"lang": "zh"}, headers={CSRF_HEADER: token}
        )
        assert by_header.status_code == 303
    with web.client_as("head") as other:
        # One session's token is worthless in another session.
        foreign = other.post("/account/language", data={"lang": "en", "csrf_token": token})
        assert foreign.status_code == 403


def test_session_expires(web: WebEnv) -> None:
    with web.client_as("insp") as client:
        assert client.get("/").status_code == 200
        web.now += dt.timedelta(hours=12, seconds=1)
        expired = client.get("/")
        assert expired.status_code == 303 and expired.headers["location"] == "/login"
        later = client.get("/?lang=en", headers={"Accept": "application/json"})
        assert later.status_code == 401


def test_logout_revokes_the_session_for_good(web: WebEnv) -> None:
    with web.client() as client:
        login(client, "sec")
        stolen = client.cookies[SESSION_COOKIE]
        out = client.post("/logout", data={"csrf_token": page_csrf(client)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert SESSION_COOKIE not in client.cookies
    with web.client() as replay:
        replay.cookies.set(SESSION_COOKIE, stolen)
        assert replay.get("/").status_code == 303
    with web.sessions() as db:
        row = db.get(WebSessionRow, token_hash(stolen))
        assert row is not None and row.revoked_at is not None


def test_a_disabled_user_is_locked_out_at_once(web: WebEnv) -> None:
    with web.client_as("admin") as client:
        assert client.get("/").status_code == 200
        with web.sessions.begin() as db:
            user = db.scalars(select(UserRow).where(UserRow.username == "admin")).one()
            user.disabled_at = web.now  # even before its sessions are revoked
        assert client.get("/").status_code == 303
        assert login(client, "admin").status_code == 401


def test_logging_in_again_retires_the_previous_session(web: WebEnv) -> None:
    with web.client() as client:
        login(client, "head")
        first = client.cookies[SESSION_COOKIE]
        # A second login form (say, a stale tab) posted over the live session.
        client.cookies.set(LOGIN_CSRF_COOKIE, "t" * 43)
        again = client.post(
            "/login", data={"username": "head", "password": PASSWORD, "csrf_token": "t" * 43}
        )
        assert again.status_code == 303
        assert client.cookies[SESSION_COOKIE] != first
    with web.sessions() as db:
        row = db.get(WebSessionRow, token_hash(first))
        assert row is not None and row.revoked_at is not None


def test_next_is_followed_only_within_the_site(web: WebEnv) -> None:
    with web.client() as client:
        anonymous = client.get("/?lang=en")
        assert anonymous.headers["location"] == "/login"
        page = client.get("/login", params={"next": "//evil.example/x"})
        response = client.post(
            "/login",
            data={
                "username": "head",
                "password": PASSWORD,
                "csrf_token": csrf_from(page.text),
                "next": "//evil.example/x",
            },
        )
        assert response.headers["location"] == "/"
    for bad in ("https://evil.example", "//evil", "/\\evil", "javascript:alert(1)", "/a\r\nb"):
        assert safe_next(bad) == "/"
    assert safe_next("/findings?status=open") == "/findings?status=open"


def test_security_headers_and_no_caching(web: WebEnv) -> None:
    with web.client_as("sec") as client:
        page = client.get("/")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "no-store" not in client.get("/static/style.css").headers.get("cache-control", "")


def test_healthz_is_public_and_terse(web: WebEnv) -> None:
    with web.client() as client:
        response = client.get("/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
