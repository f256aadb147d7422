"""Login throttling: per account with growing delays, per address separately, addresses
taken from X-Forwarded-For only behind a named proxy, bounded memory (pen test items 1
and 5)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.web.conftest import PASSWORD, WebEnv, build_web_env, csrf_from, login
from vidaudit.cli.web import uvicorn_options
from vidaudit.web.auth import LoginLimiter
from vidaudit.web.state import web_state


def clocked(env: WebEnv, **limits: Any) -> list[float]:
    """Give the app a limiter on a clock the test moves; returns the clock."""
    ticks = [1000.0]
    settings = {"account_free": 5, "address_free": 20, "max_delay_s": 60, "forget_s": 900}
    web_state(env.app).limiter = LoginLimiter(**{**settings, **limits}, clock=lambda: ticks[0])
    return ticks


def test_an_account_waits_growing_delays_then_the_right_password_works(web: WebEnv) -> None:
    ticks = clocked(web)
    with web.client() as client:
        for _ in range(5):  # five free failures
            assert login(client, "admin", "not the password").status_code == 401
        waits = []
        for _ in range(8):
            refused = login(client, "admin", PASSWORD)  # right password, too soon
            assert refused.status_code == 429 and "登录失败次数过多" in refused.text
            waits.append(int(refused.headers["Retry-After"]))
            ticks[0] += waits[-1]
            assert login(client, "admin", "not the password").status_code == 401
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, capped at a minute
        # Another account from the same address is not held up by admin's failures.
        assert login(client, "head", PASSWORD).status_code == 303
        client.cookies.clear()
        # The real administrator, after at most a minute, gets in.
        assert login(client, "admin", PASSWORD).status_code == 429
        ticks[0] += 60
        assert login(client, "admin", PASSWORD).status_code == 303


def test_the_account_delay_holds_from_every_address(web: WebEnv) -> None:
    ticks = clocked(web)
    for n in range(7):  # each guess from a different (real) address
        with web.client(client=(f"10.0.0.{n}", 50000)) as client:
            login(client, "admin", "not the password")
    with web.client(client=("10.9.9.9", 50000)) as client:
        assert login(client, "admin", PASSWORD).status_code == 429
        ticks[0] += 60
        assert login(client, "admin", PASSWORD).status_code == 303


def test_one_address_spraying_accounts_is_slowed_without_locking_others_out(
    web: WebEnv,
) -> None:
    ticks = clocked(web)
    with web.client(client=("192.0.2.7", 40000)) as sprayer:
        for n in range(20):
            assert login(sprayer, f"user{n}", "guess").status_code == 401
        assert login(sprayer, "user99", "guess").status_code == 429
    with web.client(client=("192.0.2.8", 40000)) as colleague:
        assert login(colleague, "head", PASSWORD).status_code == 303
    ticks[0] += 1
    with web.client(client=("192.0.2.7", 40000)) as sprayer:
        assert login(sprayer, "head", PASSWORD).status_code == 303


def test_a_megabyte_username_is_cut_before_the_limiter_and_the_log(
    web: WebEnv, caplog: pytest.LogCaptureFixture
) -> None:
    clocked(web, account_free=1000, address_free=1000)
    caplog.set_level(logging.INFO, logger="vidaudit.web.routes.account")
    with web.client() as client:
        for _ in range(20):
            # a field of a megabyte is refused by the form parser (Starlette's 1 MiB part
            # limit) before the route; one just under it reaches the route and is cut
            assert login(client, "x" * (1 << 20), "whatever-password").status_code in (400, 401)
            assert login(client, "y" * 900_000, "whatever-password").status_code == 401
    limiter = web_state(web.app).limiter
    assert limiter.keys <= 3  # the cut account(s) and one address
    assert caplog.records and max(len(r.getMessage()) for r in caplog.records) < 300


def test_the_limiter_holds_bounded_memory_under_a_spray() -> None:
    limiter = LoginLimiter(5, 20, 60, 900)
    for n in range(3 * LoginLimiter.MAX_KEYS):
        limiter.failed(f"name{n}", f"198.51.{n // 256 % 256}.{n % 256}")
    assert limiter.keys <= 2 * LoginLimiter.MAX_KEYS


@contextmanager
def serving(env: WebEnv) -> Iterator[str]:
    """The app under uvicorn as `vidaudit serve` runs it, on an ephemeral loopback port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = {**uvicorn_options(env.settings, None, None), "log_level": "warning"}
    options.pop("host")
    options.pop("port")
    server = uvicorn.Server(uvicorn.Config(env.app, lifespan="off", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def guess_with_rotating_header(url: str, username: str, count: int, first: int = 0) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url) as client:
        for n in range(first, first + count):
            token = csrf_from(client.get("/login").text)
            statuses.append(
                client.post(
                    "/login",
                    data={"username": username, "password": f"guess{n}", "csrf_token": token},
                    headers={"X-Forwarded-For": f"203.0.113.{n % 250}"},
                ).status_code
            )
    return statuses


def test_a_rotating_forwarded_for_gains_nothing(
    sqlite_web: WebEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The pen test: 30 guesses from loopback with a rotating X-Forwarded-For met no 429,
    because uvicorn believed the header from 127.0.0.1.  Now no proxy is trusted unless
    named, and the per-account delay does not look at addresses anyway."""
    with serving(sqlite_web) as url:
        statuses = guess_with_rotating_header(url, "admin", 30)
    assert statuses[:5] == [401] * 5 and statuses.count(429) >= 20
    # Spraying accounts with a rotating header: the address limit sees one address.
    with serving(sqlite_web) as url:
        sprayed = [guess_with_rotating_header(url, f"nobody{n}", 1, n)[0] for n in range(30)]
    assert 429 in sprayed

    # Behind a named proxy the header is the client's address: 30 different accounts
    # from 30 forwarded addresses are 30 people, none held up by the others.
    trusted = build_web_env(
        f"sqlite:///{tmp_path / 'trusted.db'}", monkeypatch, web_trusted_proxies=["127.0.0.1"]
    )
    with serving(trusted) as url:
        spread = [guess_with_rotating_header(url, f"nobody{n}", 1, n)[0] for n in range(30)]
        # ...while one account still waits, whichever address it is tried from.
        one_account = guess_with_rotating_header(url, "admin", 12)
    trusted.engine.dispose()
    assert spread == [401] * 30
    assert one_account.count(429) >= 5
