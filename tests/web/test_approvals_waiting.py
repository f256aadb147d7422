"""Problem 7: branch heads could not see that someone waited for their approval (only a
button deep in spot-checks); the person who asked could not see where the request was."""

from __future__ import annotations

from sqlalchemy import select

from tests.web.conftest import WebEnv
from tests.web.test_review_flow import plan_task, post, rweb  # noqa: F401 - the fixture
from vidaudit.db.models import ApprovalRow


def test_a_waiting_request_shows_in_the_navigation_and_on_the_dashboard(
    rweb: WebEnv,  # noqa: F811
) -> None:
    env = rweb
    task_id = plan_task(env)
    with env.client_as("head") as head:
        quiet = head.get("/").text
        assert 'id="nav-approvals-count"' not in quiet and 'id="approvals-waiting"' not in quiet
    with env.client_as("admin2") as outsider:  # another branch's administrator asks B1
        asked = post(outsider, f"/spot-checks/{task_id}/access", {"reason": "协查客户投诉"})
        assert asked.status_code == 303
        mine = outsider.get("/").text
        assert 'id="nav-approvals-mine"' in mine and "您有 1 项调阅申请等待网点负责人审批" in mine
    with env.client_as("head") as head:
        for path in ("/", "/findings", "/register"):  # on every page, in the navigation
            page = head.get(path).text
            assert '<span class="nav-count" id="nav-approvals-count"' in page, path
        dashboard = head.get("/").text
        assert 'id="approvals-waiting"' in dashboard and "有 1 项调阅申请等待您审批" in dashboard
        assert 'href="/approvals"' in dashboard
        with env.sessions() as db:
            approval_id = db.scalars(select(ApprovalRow.id)).one()
        decided = post(head, f"/approvals/{approval_id}", {"decision": "approve", "note": "同意"})
        assert decided.status_code == 303
        after = head.get("/").text
        assert 'id="nav-approvals-count"' not in after and 'id="approvals-waiting"' not in after
    with env.client_as("head2") as other_head:  # another branch's head has nothing to decide
        assert 'id="nav-approvals-count"' not in other_head.get("/").text
    with env.client_as("admin2") as outsider:
        assert 'id="nav-approvals-mine"' not in outsider.get("/").text
        assert "已同意" in outsider.get("/approvals").text
