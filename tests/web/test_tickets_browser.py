"""Done when: a ticket is acknowledged, assigned, commented and closed with a reason in a
real browser (Debian's Chromium, headless), and the register shows each step.  The
administrator finds the ticket with the search box, acknowledges and comments; the branch
head assigns it and, after a refused attempt without a reason, closes it; an auditor
reads every step in the register.  Screenshots go to test-artifacts/tickets-*.png.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import ARTIFACTS, LiveServer, inventory
from tests.web.test_review_browser import log_in
from tests.web.test_tickets import open_ticket


@pytest.fixture(autouse=True)
def evidence_and_inventory_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(inventory(), allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_INVENTORY", str(path))


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"tickets-{name}.png"), full_page=True)


def log_out(page: Any) -> None:
    page.click("#logout")
    page.wait_for_url("**/login**")


@pytest.mark.timeout(120)
def test_ticket_handled_in_the_browser(live_server: LiveServer, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page, base, env = browser_page, live_server.url, live_server.env
    ticket = open_ticket(env)
    path = f"{base}/tickets/{ticket}"

    # The administrator finds it with the search box, acknowledges and comments.
    log_in(page, base, "admin")
    page.fill("#nav-search", "B1-NVR")
    page.press("#nav-search", "Enter")
    page.wait_for_url(f"{base}/search?q=B1-NVR")
    shot(page, "1-search")
    page.click(f"#search-results a[href='/tickets/{ticket}']")
    page.wait_for_url(path)
    expect(page.locator("#ticket-state")).to_have_text("待处理")
    shot(page, "2-open")
    page.fill("#ack-note", "已收到,马上去机房查看")
    page.click("#submit-acknowledge")
    page.wait_for_url(f"{path}?done=acknowledge")
    expect(page.locator("#ticket-state")).to_have_text("已确认")
    page.fill("#comment-note", "交换机端口松动,已重新插好")
    page.click("#submit-comment")
    page.wait_for_url(f"{path}?done=comment")
    expect(page.locator("#ticket-history")).to_contain_text("交换机端口松动")
    assert page.locator("#form-assign").count() == 0  # administrators do not assign
    log_out(page)

    # The branch head assigns it with a due time, then closes it with a reason.
    log_in(page, base, "head")
    page.goto(f"{base}/tickets")
    page.click(f"#ticket-row-{ticket} a.ticket-link")
    page.wait_for_url(path)
    page.select_option("#assign-person", label="监控管理员刘强 (监控管理员)")
    due = (env.now + dt.timedelta(days=1)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    page.fill("#assign-due", due.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#assign-note", "明天下班前处理完")
    page.click("#submit-assign")
    page.wait_for_url(f"{path}?done=assign")
    expect(page.locator("#ticket-assignee")).to_contain_text("监控管理员刘强")
    expect(page.locator("#ticket-due")).to_contain_text(due.strftime("%Y-%m-%d %H:%M"))
    shot(page, "3-assigned")
    # a reason of blanks passes the browser's "required" but not the server
    page.fill("#close-reason", "   ")
    page.click("#submit-close")
    expect(page.locator("#ticket-error")).to_contain_text("请填写备注或关闭理由")
    expect(page.locator("#ticket-state")).to_have_text("已指派")
    shot(page, "4-refused")
    page.fill("#close-reason", "端口已固定,设备恢复在线,观察无异常")
    page.click("#submit-close")
    page.wait_for_url(f"{path}?done=close")
    expect(page.locator("#ticket-state")).to_have_text("已关闭")
    expect(page.locator("#ticket-closed")).to_contain_text("端口已固定")
    history = page.locator("#ticket-history tbody tr")
    expect(history).to_have_count(4)
    shot(page, "5-closed")
    log_out(page)

    # The auditor reads each step in the register.
    log_in(page, base, "audit")
    page.click("nav.mainnav a[href='/register']")
    page.wait_for_url(f"{base}/register")
    rows = page.locator("#register-table tbody tr")
    expect(rows).to_have_count(4)
    actions = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(4)]
    assert actions == ["工单关闭", "工单指派", "工单备注", "工单确认"]  # newest first
    expect(page.locator("#register-table")).to_contain_text("端口已固定,设备恢复在线,观察无异常")
    expect(page.locator("#register-table")).to_contain_text("已收到,马上去机房查看")
    page.click("#verify-register")
    expect(page.locator("#chain-ok")).to_be_visible()
    shot(page, "6-register")
