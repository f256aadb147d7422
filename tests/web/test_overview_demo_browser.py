"""The demo fleet over three simulated weeks of collection runs, then ``/overview`` in
Debian's Chromium: a row per region, the 12-week trend drawn with a point for each week
that had runs, and this week's online rate equal to one counted here from the stored
polls (each poll once, Beijing weeks from Monday: the demo's branches all keep Beijing
time).

The wall clock is moved (time-machine) for the simulated fleet and the collector alike,
as in tests/collector/test_collect_golden.py; the fleet is planned at the first instant,
and its footage runs 30 days past it, so three weeks later its recorders still record.
Screenshot: test-artifacts/overview-demo.png.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

from tests.collector.test_collect_golden import fleet_in_thread
from tests.web.conftest import ARTIFACTS, PASSWORD, ReadyServer
from vidaudit.accounts.users import create_user
from vidaudit.cli import app as cli_app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import BranchRow, DeviceObservationRow
from vidaudit.settings import Settings
from vidaudit.sim import load_scenario
from vidaudit.web.app import create_app

__all__ = ["fleet_in_thread"]  # a fixture this module uses

pytestmark = pytest.mark.timeout(600)

CST = dt.timezone(dt.timedelta(hours=8))
#: two runs a week for three weeks (Tuesday and Thursday evenings), then this Wednesday
RUNS = [
    dt.datetime(2026, 11, day, hour, 30, tzinfo=CST)
    for day, hour in ((10, 18), (12, 18), (17, 18), (19, 18), (24, 18), (25, 10))
]
NOW = dt.datetime(2026, 11, 25, 19, 0, tzinfo=CST)
THIS_MONDAY = dt.date(2026, 11, 23)


def collect_weeks(tmp_path: Path, start_fleet: Any) -> Path:
    """Collect at each instant of ``RUNS`` (live snapshots on the last run of each week)."""
    runner = CliRunner()
    inventory = tmp_path / "cameras.sim.yaml"
    scenario = load_scenario(
        Path(__file__).resolve().parents[2] / "vidaudit" / "demo_scenario.yaml"
    )
    with time_machine.travel(RUNS[0], tick=False) as clock:
        # the database first: the GB/T 28181 service the fleet starts keeps registrations
        assert runner.invoke(cli_app, ["db", "upgrade"]).exit_code == 0
        start_fleet(scenario, inventory)
        for index, instant in enumerate(RUNS):
            clock.move_to(instant)
            args = ["collect", "--config", str(inventory)]
            if index % 2:
                args.append("--snapshots")
            result = runner.invoke(cli_app, args)
            assert result.exit_code == 0, result.output
    return inventory


def online_this_week(settings: Settings) -> tuple[int, int]:
    """Polls answered and polls made since Monday 00:00 Beijing time, counted row by row."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            start = dt.datetime.combine(THIS_MONDAY, dt.time(), tzinfo=CST)
            polls = [
                online
                for online, at in session.execute(
                    select(DeviceObservationRow.online, DeviceObservationRow.observed_at)
                )
                if at >= start
            ]
    finally:
        engine.dispose()
    return sum(polls), len(polls)


def test_demo_fleet_weeks_on_the_overview(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fleet_in_thread: Any,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "2")
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CONNECT_TIMEOUT_S", "2")
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S", "10")
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    collect_weeks(tmp_path, fleet_in_thread)

    settings = Settings()
    ok, polls = online_this_week(settings)
    assert polls > 0 and 0 < ok < polls  # the demo has a broken NVR: never 100 %
    expected = f"{ok / polls * 100:.1f}%"

    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        regions = sorted({r for r in session.scalars(select(BranchRow.region)) if r})
        create_user(
            session,
            username="sec",
            password=PASSWORD,
            role="security",
            branch_id=None,
            display_name="保卫部王科长",
            now=NOW,
        )
    assert len(regions) >= 2, regions
    app = create_app(settings, engine, clock=lambda: NOW)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    import uvicorn

    server = ReadyServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert server.ready.wait(timeout=60), "uvicorn did not start within 60 s"
    try:
        # Playwright's sync API runs an event loop in this thread: the browser starts only
        # after the collector (which runs its own loop) is done
        page = request.getfixturevalue("browser_page")
        page.goto(url + "/login")
        page.fill("#username", "sec")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(url + "/")
        page.goto(url + "/overview")
        assert "本周:2026-11-23 至 2026-11-29" in page.locator("#week-span").inner_text()
        rows = page.locator("#this-week tbody tr")
        assert rows.count() == 1 + len(regions)
        shown = [rows.nth(i).locator("th").inner_text() for i in range(rows.count())]
        assert shown == ["全行", *regions]
        online = page.locator("#row-bank td[data-indicator=online]").inner_text()
        assert online.split()[0] == expected
        # the trend: three weeks with runs, so three points per series on the online chart
        chart = page.locator("svg#trend-online")
        assert chart.is_visible()
        assert chart.locator("circle.s0").count() == 3
        assert chart.locator("polyline.s0").count() == 1
        assert chart.locator("polyline").count() == 1 + len(regions)
        assert page.locator("svg.trend-chart").count() == 7
        assert page.locator("#worst tbody tr").count() >= 1
        assert "录像完整率:要求录像的通道时长" in page.locator("#definitions").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overview-demo.png"), full_page=True)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()
