"""What the web view runs beside its requests while ``vidaudit serve`` runs.

- It takes up an edited cameras.yaml: the security department adds a closed date, and the
  administrator's daily check says at once (within ``inventory_check_s``) that today is
  not a business day; an edit the loader rejects changes nothing and breaks no page.
- It signs register checkpoints every ``register_checkpoint_minutes``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.web.conftest import build_web_env, inventory
from vidaudit.web.i18n import Catalogue
from vidaudit.web.state import WEB_ROOT, web_state

CST = dt.timezone(dt.timedelta(hours=8))
#: a Monday, 10:00 in Beijing: B1 is open on Mondays
MONDAY = dt.datetime(2026, 11, 16, 10, 0, tzinfo=CST)


def save(path: Path, document: dict[str, Any] | str) -> None:
    """As an editor saves: a new file renamed over the old one."""
    scratch = path.with_suffix(".saving")
    text = document if isinstance(document, str) else yaml.safe_dump(document, allow_unicode=True)
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``condition`` (the server runs in the TestClient's own thread)."""

    async def poll() -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - the state of another thread
                await asyncio.sleep(0.05)

    asyncio.run(poll())


def test_a_closed_date_added_while_the_server_runs_shows_on_the_daily_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "cameras.yaml"
    document = inventory()
    save(path, document)
    env = build_web_env(
        f"sqlite:///{tmp_path / 'web.db'}", monkeypatch, inventory=path, inventory_check_s=1
    )
    env.now = MONDAY.astimezone(dt.UTC)
    not_business_day = Catalogue.load(WEB_ROOT / "locales").translator("zh")(
        "duties.not_business_day"
    )
    state = web_state(env.app)
    try:
        with env.client_as("admin") as client:  # the context runs the app's lifespan
            page = client.get("/duties/check/B1")
            assert page.status_code == 200
            assert not_business_day not in page.text

            document["branches"][0]["closed_dates"] = ["2026-11-16"]
            save(path, document)
            wait_until(
                lambda: (
                    state.inventory is not None and bool(state.inventory.branches[0].closed_dates)
                )
            )
            page = client.get("/duties/check/B1")
            assert page.status_code == 200
            assert not_business_day in page.text

            taken_up = state.inventory
            save(path, "branches: [\n")  # broken: refused by the loader
            wait_until(
                lambda: any(
                    getattr(r, "action", None) == "inventory_rejected" for r in caplog.records
                )
            )
            page = client.get("/duties/check/B1")
            assert page.status_code == 200
            assert not_business_day in page.text
            assert state.inventory is taken_up

            del document["branches"][0]["closed_dates"]
            save(path, document)
            wait_until(
                lambda: state.inventory is not None and not state.inventory.branches[0].closed_dates
            )
            assert not_business_day not in client.get("/duties/check/B1").text
    finally:
        env.engine.dispose()


def test_the_server_signs_register_checkpoints_beside_its_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other task the web view runs beside requests (``aio.beside``): with the head
    moved, a checkpoint is signed every ``register_checkpoint_minutes``."""
    from sqlalchemy import func, select

    from vidaudit.db.models import RegisterCheckpointRow
    from vidaudit.review.register import Entry, append

    env = build_web_env(
        f"sqlite:///{tmp_path / 'web.db'}", monkeypatch, register_checkpoint_minutes=0.005
    )

    def checkpoints() -> int:
        with env.sessions() as db:
            return db.scalar(select(func.count()).select_from(RegisterCheckpointRow)) or 0

    try:
        with env.sessions.begin() as db:
            append(
                db,
                Entry(
                    actor="admin",
                    actor_role="administrator",
                    action="playback",
                    reason="spot check",
                ),
                env.now,
            )
        assert checkpoints() == 0
        with env.client():  # the context runs the app's lifespan
            wait_until(lambda: checkpoints() >= 1)
        assert env.settings.checkpoints_file.read_bytes()
    finally:
        env.engine.dispose()
