"""Fixtures for the web view: a real app on a real (temporary) database with one user per
role, a TestClient, and for browser tests a uvicorn server on loopback plus Debian's
Chromium driven by Playwright.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import IN_CI, REPO
from vidaudit.accounts import users
from vidaudit.accounts.users import create_user
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import UserRow
from vidaudit.inventory import parse_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.signing import generate_key
from vidaudit.settings import Settings
from vidaudit.web.app import create_app
from vidaudit.web.auth import start_session
from vidaudit.web.deps import SESSION_COOKIE
from vidaudit.web.state import web_state

PASSWORD = "correct horse battery staple"
#: a camera password that must never appear in any response
CAMERA_PASSWORD = "Cam-Secret-7f3a9c1e"
CAMERA_PASSWORD_ENV = "VIDAUDIT_PW_WEBTEST_NVR"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"

#: username -> (role, branch, display name); one per role, plus a second branch's head
USERS: dict[str, tuple[str, str | None, str]] = {
    "sec": ("security", None, "保卫部王科长"),
    "insp": ("inspector", None, "检查员李敏"),
    "head": ("branch_head", "B1", "张行长"),
    "admin": ("administrator", "B1", "监控管理员刘强"),
    "audit": ("auditor", None, "审计陈静"),
    "head2": ("branch_head", "B2", "赵行长"),
}
ROLE_USER = {role: name for name, (role, _b, _n) in USERS.items() if name != "head2"}


def inventory() -> dict[str, Any]:
    def branch(bid: str, name: str, tz: str) -> dict[str, Any]:
        return {
            "id": bid,
            "name": name,
            "timezone": tz,
            "hours": {"mon": "08:30-17:00", "sun": "closed"},
            "devices": [
                {
                    "id": f"{bid}-NVR",
                    "kind": "nvr",
                    "vendor": "hikvision",
                    "onvif": "http://127.0.0.1:9/onvif/device_service",
                    "username": "audit",
                    "password": "${" + CAMERA_PASSWORD_ENV + "}",
                    "channels": [
                        {
                            "id": f"{bid}-C1",
                            "name": "1号柜台",
                            "role": "counter",
                            "ref": {"channel": 1},
                        },
                        {"id": f"{bid}-C2", "name": "金库", "role": "vault", "ref": {"channel": 2}},
                    ],
                }
            ],
        }

    return {
        "timezone": "Asia/Shanghai",
        "branches": [
            branch("B1", "城关支行营业部", "Asia/Shanghai"),
            branch("B2", "河西分理处", "Asia/Urumqi"),
        ],
    }


#: the module's own hasher, saved before any test swaps it
PRODUCTION_HASHER = users._hasher


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with tiny costs: the production costs (64 MiB, 3 passes) are the point in
    production and a waste in tests; test_auth checks the production parameters."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(users, "_dummy_hash", None)


@dataclass
class WebEnv:
    """One app on one database; ``now`` is the app's clock (tests move it)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.app = create_app(self.settings, self.engine, clock=lambda: self.now)
        # The app's own sessions: what tests append to the register is signed like the
        # app's own entries.
        self.sessions = web_state(self.app).sessions

    def client(self, **kwargs: Any) -> TestClient:
        # Redirects are part of what the tests check, so they are never followed.
        return TestClient(self.app, follow_redirects=False, **kwargs)

    def session_token(self, username: str) -> str:
        """A live session for ``username`` without the (slow, on purpose) password check."""
        with self.sessions.begin() as db:
            user = db.scalars(select(UserRow).where(UserRow.username == username)).one()
            new = start_session(db, user, self.now, self.settings.web_session_hours)
            return new.token

    def client_as(self, username: str, **kwargs: Any) -> TestClient:
        client = self.client(**kwargs)
        client.cookies.set(SESSION_COOKIE, self.session_token(username))
        return client


def build_web_env(db_url: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> WebEnv:
    monkeypatch.setenv(CAMERA_PASSWORD_ENV, CAMERA_PASSWORD)
    if "register_key" not in overrides:
        # Every test app signs its register, as a deployment does after `register keygen`.
        keys = Path(tempfile.mkdtemp(prefix="vidaudit-web-key-"))
        generate_key(keys / "register-key.pem")
        overrides["register_key"] = f"file:{keys / 'register-key.pem'}"
        overrides.setdefault("register_checkpoints", keys / "checkpoints.txt")
    settings = Settings(database_url=db_url, **overrides)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    text = yaml.safe_dump(inventory(), allow_unicode=True)
    with sessions.begin() as db:
        sync_inventory(db, parse_inventory(text), source="web-test.yaml", now=now)
        for username, (role, branch, name) in USERS.items():
            create_user(
                db,
                username=username,
                password=PASSWORD,
                role=role,
                branch_id=branch,
                display_name=name,
                now=now,
            )
    return WebEnv(settings=settings, engine=engine, sessions=sessions, now=now)


@pytest.fixture
def web(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebEnv]:
    env = build_web_env(db_url, monkeypatch)
    yield env
    env.engine.dispose()


@pytest.fixture
def sqlite_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebEnv]:
    """SQLite only: for tests about HTTP behaviour rather than the database."""
    env = build_web_env(f"sqlite:///{tmp_path / 'web.db'}", monkeypatch)
    yield env
    env.engine.dispose()


_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def csrf_from(html: str) -> str:
    found = _CSRF_INPUT.search(html) or _CSRF_META.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    """Log in through the form, as a browser does; returns the POST's response."""
    page = client.get("/login")
    assert page.status_code == 200
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )


# --- browser tests -------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: WebEnv


class ReadyServer(uvicorn.Server):
    """uvicorn's server with an event set once it listens: tests wait on it, bounded."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()


def expect_images_loaded(images: Any, count: int) -> None:
    """Wait (Playwright's bounded expect) until each of the ``count`` images matched by
    ``images`` has finished loading, then check none is broken.  Lazy images are scrolled
    into view first, or they would never start."""
    from playwright.sync_api import expect

    expect(images).to_have_count(count)
    for i in range(count):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0, f"image {i} is broken"


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The real app under uvicorn on 127.0.0.1 (an ephemeral port) in a thread."""

    env = build_web_env(f"sqlite:///{tmp_path / 'live.db'}", monkeypatch)
    # Bind first, then hand the socket over: the port is known before the server starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(env.app, log_level="warning", lifespan="off")
    server = ReadyServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not server.ready.wait(timeout=60):
        pytest.fail("uvicorn did not start within 60 s")
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", env)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        env.engine.dispose()


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A Playwright page in Debian's Chromium with a fresh profile.

    Needs the Debian package ``chromium`` (the project's test set-up installs it); never
    ``playwright install``.  Outside CI a missing browser skips; in CI it fails.
    """
    executable = Path(os.environ.get("VIDAUDIT_CHROMIUM", str(CHROMIUM)))
    if not executable.exists() and shutil.which("chromium") is None:
        message = f"{executable} is missing: apt-get install chromium (Debian's package)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            args=CHROMIUM_ARGS,
            headless=True,
            locale="zh-CN",
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            context.close()
