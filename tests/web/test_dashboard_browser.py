"""In Debian's Chromium: log in as the security department, read the dashboard, drill into
a branch and then a channel whose 30-day timeline and snapshot are drawn.  Screenshots go
to test-artifacts/dashboard-*.png (look at them: legibility is the point of this page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import ARTIFACTS, PASSWORD, LiveServer, expect_images_loaded
from tests.web.test_dashboard import seed


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


@pytest.fixture
def seeded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> LiveServer:
    # Evidence files go under the test's own data folder, never the repository's data/.
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    server: LiveServer = request.getfixturevalue("live_server")
    seed(server.env)
    return server


def test_dashboard_to_branch_to_channel(seeded_server: LiveServer, browser_page: Any) -> None:
    page, url = browser_page, seeded_server.url
    page.goto(url + "/")
    page.fill("#username", "sec")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(url + "/")
    assert page.locator("#greeting").inner_text() == "您好,保卫部王科长"
    table = page.locator("#dashboard-table")
    assert table.locator("tbody tr").count() == 2
    assert "12.5 / 30 天" in page.locator("#row-B1 td[data-col=retention]").inner_text()
    assert "登录认证失败" in page.locator("#row-B2 td[data-col=down]").inner_text()
    shot(page, "1-overview-zh")

    page.click("#sort-down")  # problems first: the branch with a device down
    page.wait_for_url("**/?sort=down*")
    assert page.locator("#dashboard-table tbody tr").first.get_attribute("id") == "row-B2"

    page.click("#row-B1 a[href='/branches/B1']")
    page.wait_for_url(url + "/branches/B1")
    assert "R1 录像保存期不足" in page.locator("#channel-B1-C1").inner_text()
    shot(page, "2-branch-zh")

    page.click("#channel-B1-C1 a[href='/channels/B1-C1']")
    page.wait_for_url(url + "/channels/B1-C1")
    timeline = page.locator("svg#timeline")
    assert timeline.is_visible()
    assert timeline.locator("rect.tl-gap").count() >= 1
    assert page.locator("svg#retention-chart polyline").count() >= 1
    image = page.locator("#snapshot-img")
    expect_images_loaded(image, 1)
    assert image.evaluate("img => img.naturalWidth") == 640
    shot(page, "3-channel-zh")

    page.goto(url + "/?lang=en")
    assert "Compliant channels" in page.locator("#dashboard-table thead").inner_text()
    shot(page, "4-overview-en")
