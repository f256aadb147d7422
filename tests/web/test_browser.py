"""In a real browser (Debian's Chromium, headless): log in in Chinese, switch to English,
log out.  Screenshots go to test-artifacts/."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import ARTIFACTS, PASSWORD, LiveServer


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def test_login_greeting_language_switch_logout(live_server: LiveServer, browser_page: Any) -> None:
    page = browser_page
    page.goto(live_server.url + "/")
    assert page.url.endswith("/login")  # anonymous visitors are sent to log in
    assert page.locator("h1").inner_text() == "登录 vidaudit"
    shot(page, "1-login-zh")

    page.fill("#username", "head")
    page.fill("#password", "wrong password!")
    page.click("#login-submit")
    assert "用户名或密码不正确" in page.locator("#login-error").inner_text()

    page.fill("#username", "head")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(live_server.url + "/")
    assert page.locator("#greeting").inner_text() == "您好,张行长"
    assert page.locator("#role").inner_text() == "网点负责人"
    assert "B1 城关支行营业部" in page.locator("#scope").inner_text()
    assert page.locator("nav.mainnav a", has_text="用户").count() == 0  # not a head's page
    shot(page, "2-dashboard-zh")

    page.click("#switch-language")
    page.wait_for_selector("text=Hello, 张行长")
    assert page.locator("#role").inner_text() == "Branch head"
    assert page.locator("html").get_attribute("lang") == "en"
    shot(page, "3-dashboard-en")

    page.click("#logout")
    page.wait_for_url(live_server.url + "/login")
    # The revoked session no longer opens anything.
    page.goto(live_server.url + "/")
    assert page.url.endswith("/login")
    shot(page, "4-logged-out")
