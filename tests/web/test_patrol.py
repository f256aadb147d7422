"""Video-wall patrol (D8): scope, flagging, the guarded picture route, and screenshots of
the patrol and the weekly report in Debian's Chromium."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import ARTIFACTS, LiveServer, WebEnv, expect_images_loaded
from tests.web.test_duties import add_snapshot, at, evidence_in_tmp, seed_week
from vidaudit.sim.plan import Picture

__all__ = ["evidence_in_tmp"]  # the autouse fixture applies here too


def seed_snapshots(env: WebEnv) -> dict[str, int]:
    seed_week(env)
    with env.sessions.begin() as db:
        ids = {
            "B1-C1": add_snapshot(db, env, "B1-C1", Picture.NORMAL, at(19, 9, 31)).id,
            "B1-C2": add_snapshot(db, env, "B1-C2", Picture.BLACK, at(19, 9, 31)).id,
            "B2-C1": add_snapshot(
                db, env, "B2-C1", Picture.NORMAL, at(19, 9, 31), error="device down: timeout"
            ).id,
            "B2-C2": add_snapshot(db, env, "B2-C2", Picture.BLUR, at(19, 9, 32)).id,
        }
        # an older picture of B1-C2 that was fine: the patrol shows the latest only
        add_snapshot(db, env, "B1-C2", Picture.NORMAL, at(19, 8, 0))
    return ids


@pytest.fixture
def patrol_env(web: WebEnv) -> Iterator[tuple[WebEnv, dict[str, int]]]:
    yield web, seed_snapshots(web)


def tile_order(html: str) -> list[str]:
    return re.findall(r'<li class="tile[^"]*" id="tile-([^"]+)"', html)


def test_patrol_lists_failed_pictures_first_and_in_red(
    patrol_env: tuple[WebEnv, dict[str, int]],
) -> None:
    env, _ids = patrol_env
    with env.client_as("sec") as client:
        html = client.get("/patrol").text
    order = tile_order(html)
    # flagged first by branch, vault before counter; then the normal one
    assert order == ["B1-C2", "B2-C2", "B2-C1", "B1-C1"]
    flagged = re.findall(r'<li class="tile flagged" id="tile-([^"]+)"', html)
    assert flagged == ["B1-C2", "B2-C2", "B2-C1"]
    assert "黑屏/无信号" in html and "画面模糊" in html and "设备离线" in html
    assert 'id="patrol-flagged">3 路需关注' in html
    assert "2026-11-19 09:31:00" in html  # Beijing time
    assert "UTC+06:00" in html  # B2 is in Urumqi: its time says so
    assert 'data-interval="10"' in html and 'src="/static/patrol.js"' in html
    with env.client_as("sec") as client:
        assert 'data-interval="30"' in client.get("/patrol?interval=30&per_page=9").text
        assert client.get("/patrol?interval=1").status_code == 400  # a clear bad request


def test_patrol_is_scoped_and_pictures_check_the_branch(
    patrol_env: tuple[WebEnv, dict[str, int]],
) -> None:
    env, ids = patrol_env
    with env.client_as("head") as client:
        html = client.get("/patrol").text
        assert tile_order(html) == ["B1-C2", "B1-C1"]
        picture = client.get(f"/patrol/snapshot/{ids['B1-C1']}")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        assert picture.content[:2] == b"\xff\xd8"
        assert client.get(f"/patrol/snapshot/{ids['B2-C2']}").status_code == 403
        # no picture for an error row, nor for an unknown id
        assert client.get(f"/patrol/snapshot/{ids['B2-C1']}").status_code == 404
        assert client.get("/patrol/snapshot/99999").status_code == 404
    with env.client_as("audit") as client:
        assert client.get("/patrol").status_code == 403
        assert client.get(f"/patrol/snapshot/{ids['B1-C1']}").status_code == 403


def test_patrol_without_snapshots_says_how_to_get_them(web: WebEnv) -> None:
    with web.client_as("insp") as client:
        html = client.get("/patrol").text
    assert 'id="patrol-empty"' in html and "--snapshots" in html
    assert "4 路重点通道近两天没有实时画面" in html


# -- in the browser ---------------------------------------------------------------------


def login(page: Any, server: LiveServer, username: str) -> None:
    from tests.web.conftest import PASSWORD

    page.goto(server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(server.url + "/")


def test_patrol_cycles_and_pauses_in_chromium(live_server: LiveServer, browser_page: Any) -> None:
    seed_snapshots(live_server.env)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, live_server, "sec")
    # The page's timers run on Playwright's clock, paused: only the test moves time on,
    # so no interval fires because the machine was slow, and none is waited for.
    start = dt.datetime(2026, 11, 19, 10, 0, tzinfo=dt.UTC)
    page.clock.install(time=start)
    page.clock.pause_at(start + dt.timedelta(seconds=1))
    page.goto(live_server.url + "/patrol?interval=3&per_page=4")
    page.wait_for_selector("#patrol-page")
    # 4 tiles at 4 a page: one page, all visible, the failed ones marked
    assert page.locator("#patrol-page").inner_text() == "1 / 1"
    assert page.locator(".tile.flagged").count() == 3
    expect_images_loaded(page.locator(".tile img"), 3)  # the device that was down has none
    page.screenshot(path=str(ARTIFACTS / "patrol-1-wall.png"), full_page=True)

    page.goto(live_server.url + "/patrol?interval=3&per_page=1")
    label = page.locator("#patrol-page")
    expect(label).to_have_text("1 / 4")
    assert page.locator(".tile:visible").count() == 1
    assert page.locator(".tile:visible").get_attribute("id") == "tile-B1-C2"
    page.clock.run_for(2_900)
    expect(label).to_have_text("1 / 4")  # not before its 3 s
    page.clock.run_for(200)
    expect(label).to_have_text("2 / 4")
    page.click("#patrol-pause")
    assert page.locator("#patrol-pause").get_attribute("aria-pressed") == "true"
    page.clock.run_for(30_000)  # ten intervals: paused, no advance
    expect(label).to_have_text("2 / 4")
    page.click("#patrol-next")
    expect(label).to_have_text("3 / 4")
    page.screenshot(path=str(ARTIFACTS / "patrol-2-single.png"), full_page=True)


def test_weekly_report_and_duties_screenshots(live_server: LiveServer, browser_page: Any) -> None:
    seed_snapshots(live_server.env)
    page = browser_page
    login(page, live_server, "head")
    page.goto(live_server.url + "/reports/weekly?branch=B1&week=2026-11-16")
    assert "视频监控周报" in page.locator("h1").inner_text()
    page.screenshot(path=str(ARTIFACTS / "report-weekly-html.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(ARTIFACTS / "report-weekly-print.png"), full_page=True)
    page.emulate_media(media="screen")
    page.goto(live_server.url + "/duties")
    page.screenshot(path=str(ARTIFACTS / "duties-week.png"), full_page=True)
    page.context.clear_cookies()
    login(page, live_server, "admin")
    page.goto(live_server.url + "/duties/check/B1")
    page.screenshot(path=str(ARTIFACTS / "daily-check.png"), full_page=True)
