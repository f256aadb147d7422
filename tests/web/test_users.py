"""``/users`` (issue 15, problem 11): the 用户 link led to a 404 and a branch without
accounts left its findings without an owner to choose, with nothing saying why."""

from __future__ import annotations

from sqlalchemy import select

from tests.web.conftest import WebEnv
from tests.web.test_review_flow import (
    insert_frames,
    plan_task,
    post,
    review_form,
    rweb,  # noqa: F401 - the fixture
)
from vidaudit.accounts.users import authenticate
from vidaudit.db.models import FindingRow, UserRow, WebSessionRow

NEW_PASSWORD = "换个新密码-2026-12"


def user_id(env: WebEnv, username: str) -> int:
    with env.sessions() as db:
        return db.scalars(select(UserRow.id).where(UserRow.username == username)).one()


def test_the_security_department_manages_accounts(rweb: WebEnv) -> None:  # noqa: F811
    env = rweb
    for role in ("audit", "admin", "head", "insp"):
        with env.client_as(role) as other:
            assert other.get("/users").status_code == 403, role
    with env.client_as("sec") as sec:
        page = sec.get("/users").text
        assert 'id="users-table"' in page and "监控管理员刘强" in page
        # B2 has its head but no administrator (admin2 is added below); B1 has both
        assert 'id="missing-B2"' not in page  # the fixture made admin2 for B2
        # a refused account keeps what was typed, never the password
        short = post(
            sec,
            "/users",
            {"username": "clerk3", "display_name": "柜员三", "role": "administrator",
             "branch": "B2", "password": "short"},
        )  # fmt: skip
        assert short.status_code == 400 and "密码太短" in short.text
        assert 'value="clerk3"' in short.text and "short" not in short.text.split("<main")[1]
        no_branch = post(sec, "/users", {"username": "admin3", "role": "administrator",
                                         "password": NEW_PASSWORD})  # fmt: skip
        assert no_branch.status_code == 400 and "须选择所属网点" in no_branch.text
        # a role that sees every branch has none, whatever the branch list says
        everywhere = post(sec, "/users", {"username": "sec3", "role": "security", "branch": "B1",
                                          "password": NEW_PASSWORD})  # fmt: skip
        assert everywhere.status_code == 303
        added = post(
            sec,
            "/users",
            {"username": "clerk3", "display_name": "柜员三", "role": "administrator",
             "branch": "B2", "password": NEW_PASSWORD},
        )  # fmt: skip
        assert added.status_code == 303 and "done=created" in added.headers["location"]
        assert "柜员三" in sec.get("/users").text
    with env.sessions() as db:
        clerk = db.scalars(select(UserRow).where(UserRow.username == "clerk3")).one()
        assert NEW_PASSWORD not in clerk.password_hash and clerk.branch_id == "B2"
        sec3 = db.scalars(select(UserRow).where(UserRow.username == "sec3")).one()
        assert sec3.branch_id is None
        assert authenticate(db, "clerk3", NEW_PASSWORD) is not None

    # disabling ends the person's logins at once; enabling lets them log in again
    admin_id = user_id(env, "admin")
    with env.client_as("admin") as admin, env.client_as("sec") as sec:
        assert admin.get("/").status_code == 200
        assert post(sec, f"/users/{admin_id}", {"action": "disable"}).status_code == 303
        assert admin.get("/").status_code in (302, 303)  # back to the login page
        assert "已停用" in sec.get("/users").text
        assert post(sec, f"/users/{admin_id}", {"action": "enable"}).status_code == 303
    with env.sessions() as db:
        assert db.get(UserRow, admin_id).disabled_at is None  # type: ignore[union-attr]

    # a password reset ends the logins too; the new password works
    head_id = user_id(env, "head")
    with env.client_as("sec") as sec:
        refused = post(sec, f"/users/{head_id}", {"action": "reset", "password": "x"})
        assert refused.status_code == 400 and "密码太短" in refused.text
        reset = post(sec, f"/users/{head_id}", {"action": "reset", "password": NEW_PASSWORD})
        assert reset.status_code == 303
        # nobody locks themselves out
        me = user_id(env, "sec")
        own = post(sec, f"/users/{me}", {"action": "disable"})
        assert own.status_code == 400 and "不能停用自己的账号" in own.text
    with env.sessions() as db:
        assert authenticate(db, "head", NEW_PASSWORD) is not None
        live = db.scalars(
            select(WebSessionRow).where(
                WebSessionRow.user_id == head_id, WebSessionRow.revoked_at.is_(None)
            )
        ).all()
        assert live == []


def test_a_branch_without_accounts_is_flagged_and_its_findings_say_why(
    rweb: WebEnv,  # noqa: F811
) -> None:
    env = rweb
    task_id = plan_task(env, channel_id="B2-C1", branch_id="B2")
    shas = insert_frames(env, task_id)
    with env.client_as("sec") as sec:
        done = post(sec, f"/spot-checks/{task_id}/review", review_form(frames=shas[:1]))
        assert done.status_code == 303
        # B2's head moves to B1 and its administrator leaves: nobody is left in B2
        for name, change in (
            ("head2", {"action": "change", "role": "branch_head", "branch": "B1"}),
            ("admin2", {"action": "disable"}),
        ):
            assert post(sec, f"/users/{user_id(env, name)}", change).status_code == 303
        page = sec.get("/users").text
        assert 'id="missing-B2"' in page and 'id="missing-B1"' not in page
        missing = page.split('id="missing-B2"')[1].split("</li>")[0]
        assert "网点负责人" in missing and "监控管理员" in missing
        with env.sessions() as db:
            finding = db.scalars(select(FindingRow).where(FindingRow.branch_id == "B2")).one()
        detail = sec.get(f"/findings/{finding.id}").text
        assert 'id="no-accounts"' in detail and 'href="/users#branches-missing"' in detail
        # the navigation's 用户 leads to this page
        assert 'href="/users"' in sec.get("/").text


def test_a_missing_page_keeps_a_signed_in_person_in_the_application(
    rweb: WebEnv,  # noqa: F811
) -> None:
    """Problem 11: the error page dropped the navigation and offered the login page to a
    person who was logged in; every page asked for a favicon that was not there."""
    env = rweb
    with env.client_as("sec") as sec:
        missing = sec.get("/no-such-page")
        assert missing.status_code == 404
        assert 'class="mainnav"' in missing.text and 'href="/users"' in missing.text
        assert 'href="/login"' not in missing.text and "保卫部王科长" in missing.text
        assert '<link rel="icon" href="data:,">' in sec.get("/").text
    with env.client() as anonymous:
        stranger = anonymous.get("/no-such-page")
        assert stranger.status_code == 404 and 'href="/login"' in stranger.text
        assert 'class="mainnav"' not in stranger.text
