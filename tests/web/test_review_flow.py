"""Spot-check review through HTTP, as the people in the bank do it: plan, ask for
approval, pull, review, rectify, check, and read the register.

Frames come from inserted task_frames/evidence rows here (the devices of the web test
inventory do not exist, which also gives the pull-error path); test_review_pull_sim.py
pulls real frames from the simulated fleet.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.sampler.scenes import counter_scene
from tests.web.conftest import PASSWORD, WebEnv, build_web_env, inventory
from vidaudit.accounts.users import create_user
from vidaudit.db.models import (
    ApprovalRow,
    FindingEventRow,
    FindingRow,
    RegisterEntryRow,
    ReviewRow,
    SpotCheckPlanRow,
    SpotCheckTaskRow,
    TaskFrameRow,
    UserRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.schema import ChannelRole
from vidaudit.review.items import items_for
from vidaudit.review.register import Entry, append, verify
from vidaudit.sampler.plan import ALGORITHM, PlannedTask, TaskKind
from vidaudit.sampler.store import save_plan
from vidaudit.sampler.tasks import spread
from vidaudit.web.deps import CSRF_HEADER

COUNTER_ITEMS = [item.code for item in items_for(ChannelRole.COUNTER)]
STALE_MESSAGE = "已被他人修改，请刷新后重试"


# --- helpers (the browser test uses them too) -------------------------------------------


def review_env(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> WebEnv:
    """The web test app with its inventory loaded (planning and pulls need it), evidence
    under tmp_path, and a second branch's administrator (an out-of-branch viewer)."""
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(inventory(), allow_unicode=True), encoding="utf-8")
    env = build_web_env(
        db_url, monkeypatch, inventory=path, data_dir=tmp_path / "data", **overrides
    )
    with env.sessions.begin() as db:
        create_user(
            db,
            username="admin2",
            password=PASSWORD,
            role="administrator",
            branch_id="B2",
            display_name="河西监控管理员",
            now=env.now,
        )
    return env


@pytest.fixture
def rweb(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebEnv]:
    env = review_env(db_url, tmp_path, monkeypatch)
    yield env
    env.engine.dispose()


def csrf(client: TestClient) -> str:
    page = client.get("/").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


def post(client: TestClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return client.post(url, data=data or {}, headers={CSRF_HEADER: csrf(client)}, **kw)


def plan_task(env: WebEnv, channel_id: str = "B1-C1", branch_id: str = "B1") -> int:
    """One random task yesterday at 10:00 branch time (as ``random_plan`` would draw)."""
    start = (env.now - dt.timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    with env.sessions.begin() as db:
        plan = save_plan(
            db,
            kind="random",
            created_by="sec",
            now=env.now,
            tasks=[
                PlannedTask(
                    branch_id, channel_id, start, start + dt.timedelta(minutes=10), TaskKind.RANDOM
                )
            ],
            params={"count": 1},
            frames_per_task=3,
            seed=424242,
            algorithm=ALGORITHM,
        )
        task_id = db.scalar(select(SpotCheckTaskRow.id).where(SpotCheckTaskRow.plan_id == plan.id))
    assert task_id is not None
    return task_id


def jpeg(seed: int) -> bytes:
    ok, data = cv2.imencode(".jpg", counter_scene(people_seed=seed), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(data.tobytes())


def insert_frames(
    env: WebEnv, task_id: int, count: int = 3, actor: str = "admin", role: str = "administrator"
) -> list[str]:
    """Frames as a successful pull leaves them: a frame_pull register entry, evidence files
    and task_frames rows with actual instants 40 ms after the requested ones."""
    store = EvidenceStore(env.settings.data_dir / "evidence")
    with env.sessions.begin() as db:
        task = db.get(SpotCheckTaskRow, task_id)
        assert task is not None
        instants = spread(task.start, task.end, count)
        entry = append(
            db,
            Entry(
                actor=actor,
                actor_role=role,
                action="frame_pull",
                reason=f"抽查任务 #{task_id} 随机抽查",
                branch_id=task.branch_id,
                channel_id=task.channel_id,
                range_start=min(instants),
                range_end=max(instants),
                details={"task_id": task_id, "source": "test"},
            ),
            env.now,
        )
        shas = []
        for index, instant in enumerate(instants):
            row = store.put(db, jpeg(index), "image/jpeg", {"channel": task.channel_id}, env.now)
            db.add(
                TaskFrameRow(
                    task_id=task_id,
                    channel_id=task.channel_id,
                    requested=instant,
                    actual=instant + dt.timedelta(milliseconds=40),
                    delta_ms=40.0,
                    evidence_sha256=row.sha256,
                    diagnostics={"verdict": "pass", "primary": None, "checks": {}},
                    error=None,
                    pulled_at=env.now,
                    register_seq=entry.seq,
                )
            )
            shas.append(row.sha256)
        task.status = "pulled"
    return shas


def review_form(
    fail: str | None = "two_staff", note: str = "柜台只有一人办理业务"
) -> dict[str, Any]:
    data: dict[str, Any] = {"summary": "周例行抽查,柜台一处问题"}
    for code in COUNTER_ITEMS:
        data[f"verdict.{code}"] = "fail" if code == fail else "pass"
        data[f"note.{code}"] = note if code == fail else ""
    return data


def count(env: WebEnv, model: Any, *where: Any) -> int:
    with env.sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- the whole flow ---------------------------------------------------------------------


def test_plan_approve_pull_review_rectify_close_and_register(rweb: WebEnv) -> None:
    env = rweb
    # The security department plans one random check of B1's counters; the seed is shown.
    with env.client_as("sec") as sec:
        page = sec.get("/spot-checks").text
        first_day = re.search(r'name="period_start" value="([0-9-]+)"', page)
        assert first_day
        made = post(
            sec,
            "/spot-checks/plans/random",
            {
                "count": "1",
                "period_start": first_day.group(1),
                "period_days": "7",
                "roles": ["counter"],
                "branches": ["B1"],
                "window_min": "10",
                "frames": "3",
            },
        )
        assert made.status_code == 303, made.text
        assert made.headers["location"].startswith("/spot-checks?done=planned")
        queue = sec.get("/spot-checks").text
    with env.sessions() as db:
        task = db.scalars(select(SpotCheckTaskRow)).one()
        assert (task.branch_id, task.channel_id, task.status) == ("B1", "B1-C1", "planned")
        plan = db.get(SpotCheckPlanRow, task.plan_id)
        assert plan is not None and plan.seed
    assert plan.seed in queue and f"/spot-checks/{task.id}" in queue

    # An administrator of another branch must ask B1's head first: no frame, no pull.
    url = f"/spot-checks/{task.id}"
    with env.client_as("admin2") as outsider:
        gate = outsider.get(url).text
        assert "需经网点负责人同意" in gate and 'id="approval-form"' in gate
        refused = post(outsider, f"{url}/pull", {"mode": "planned"})
        assert refused.headers["location"].endswith("error=not_approved")
        assert count(env, RegisterEntryRow, RegisterEntryRow.action == "frame_pull") == 0
        no_reason = post(outsider, f"{url}/access", {"reason": "  "})
        assert no_reason.status_code == 400 and "请写明申请事由" in no_reason.text
        asked = post(outsider, f"{url}/access", {"reason": "协查河西客户投诉,需核对柜台情况"})
        assert asked.status_code == 303
        assert 'id="approval-pending"' in outsider.get(url).text
    with env.client_as("head") as head:
        pending = head.get("/approvals").text
        assert "协查河西客户投诉" in pending and "河西监控管理员" in pending
        approval_id = count(env, ApprovalRow)
        decided = post(head, f"/approvals/{approval_id}", {"decision": "approve", "note": "同意"})
        assert decided.status_code == 303 and decided.headers["location"].endswith("approved")
        again = post(head, f"/approvals/{approval_id}", {"decision": "deny", "note": "x"})
        assert again.status_code == 409  # decided once, stays decided

    with env.client_as("admin2") as outsider:
        assert "已同意" in outsider.get("/approvals").text
        # The web test inventory's NVR does not exist: the pull is registered, then fails
        # with a message in words (and no camera password anywhere).
        failed = post(outsider, f"{url}/pull", {"mode": "planned"})
        assert failed.status_code == 303 and "error=unreachable" in failed.headers["location"]
        shown = outsider.get(failed.headers["location"]).text
        assert "调阅失败:无法连接设备" in shown
        assert count(env, RegisterEntryRow, RegisterEntryRow.action == "frame_pull") == 1
        shas = insert_frames(env, task.id, actor="admin2")
        page = outsider.get(url).text
        assert all(f"/review-evidence/{sha}" in page for sha in shas)
        image = outsider.get(f"/review-evidence/{shas[0]}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        # a branch-bound person still reviews only their own branch
        refused_review = post(outsider, f"{url}/review", review_form())
        assert refused_review.status_code == 400 and "只能检查本网点" in refused_review.text
    for nosy in ("head2", "audit"):  # neither approved for this footage
        with env.client_as(nosy) as client:
            assert client.get(f"/review-evidence/{shas[0]}").status_code == 404

    # The inspector reviews: one failed item with a frame as evidence.
    with env.client_as("insp") as insp:
        form = review_form()
        form["frames.two_staff"] = [shas[1]]
        done = post(insp, f"{url}/review", form)
        assert done.status_code == 303, done.text
        record_url = done.headers["location"].split("?")[0]
        record = insp.get(record_url).text
        assert "录像资料调阅检查记录" in record and "检查员李敏" in record
        assert "柜台只有一人办理业务" in record and f"/review-evidence/{shas[1]}" in record
        assert "@media print" in insp.get("/static/review.css").text
    with env.sessions() as db:
        review = db.scalars(select(ReviewRow)).one()
        finding = db.scalars(select(FindingRow)).one()
        head_user = db.scalars(select(UserRow).where(UserRow.username == "head")).one()
        assert finding.owner_id == head_user.id and finding.item_code == "two_staff"
        assert finding.status == "open" and finding.frames == [shas[1]]
        assert db.get(SpotCheckTaskRow, task.id).status == "reviewed"  # type: ignore[union-attr]
    assert f"登记序号 {review.register_seq}" in record

    # The finding appears; the administrator reports the fix with a photo.
    f_url = f"/findings/{finding.id}"
    with env.client_as("admin") as admin:
        listing = admin.get("/findings").text
        assert f'href="{f_url}"' in listing and "张行长" in listing
        photo = jpeg(9)
        fixed = admin.post(
            f_url,
            data={"action": "fixed", "version": "1", "note": "已安排两人临柜并培训"},
            files={"evidence": ("fix.jpg", photo, "image/jpeg")},
            headers={CSRF_HEADER: csrf(admin)},
        )
        assert fixed.status_code == 303, fixed.text
        # whoever fixed it cannot close it (four-eyes), even if their role could
        detail = admin.get(f_url).text
        assert "已整改待复核" in detail and 'id="form-close"' not in detail
    with env.sessions() as db:
        fix_event = db.scalars(
            select(FindingEventRow).where(FindingEventRow.action == "fixed")
        ).one()
        assert fix_event.evidence_sha256 is not None
    with env.client_as("sec") as sec:
        photo_response = sec.get(f"/review-evidence/{fix_event.evidence_sha256}")
        assert photo_response.status_code == 200 and photo_response.content == photo
        closed = post(sec, f_url, {"action": "closed", "version": "2", "note": "复核属实"})
        assert closed.status_code == 303, closed.text
        assert "已关闭" in sec.get(f_url).text

    # The register shows the approval, both pulls and the review, and verifies intact.
    with env.client_as("audit") as audit:
        register = audit.get("/register").text
        for action in ("approval_request", "approval", "frame_pull", "review"):
            assert f"action-{action}" in register, action
        only_pulls = audit.get("/register?action=frame_pull").text
        assert only_pulls.count('class="action-frame_pull"') == 2
        assert 'class="action-review"' not in only_pulls
        checked = post(audit, "/register/verify")
        assert checked.status_code == 200
        result = checked.text[checked.text.find('id="verify-result"') :][:3000]
        assert 'id="chain-ok"' in result and 'id="files-ok"' in result, result
    with env.sessions() as db:
        assert verify(db).ok and verify(db).entries == 5


def test_a_stale_save_is_refused_with_the_message_and_overwrites_nothing(rweb: WebEnv) -> None:
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id)
    with env.client_as("admin") as admin:
        assert post(admin, f"/spot-checks/{task_id}/review", review_form()).status_code == 303
    with env.sessions() as db:
        finding_id = db.scalars(select(FindingRow.id)).one()
    url = f"/findings/{finding_id}"
    with env.client_as("head") as head, env.client_as("admin") as admin:
        # both open the finding at version 1
        assert 'name="version" value="1"' in head.get(url).text
        assert 'name="version" value="1"' in admin.get(url).text
        assert (
            post(head, url, {"action": "fixed", "version": "1", "note": "已整改"}).status_code
            == 303
        )
        late = post(admin, url, {"action": "comment", "version": "1", "note": "我的备注"})
        assert late.status_code == 409
        assert STALE_MESSAGE in late.text
        # the page shows the current state (fixed, version 2) and keeps what was typed
        assert "已整改待复核" in late.text and 'name="version" value="2"' in late.text
        assert "我的备注" in late.text
        late_fix = post(admin, url, {"action": "fixed", "version": "1", "note": "覆盖"})
        assert late_fix.status_code == 409 and STALE_MESSAGE in late_fix.text
    with env.sessions() as db:
        finding = db.get(FindingRow, finding_id)
        assert finding is not None and finding.version == 2 and finding.status == "fixed"
        notes = list(db.scalars(select(FindingEventRow.note).order_by(FindingEventRow.id)))
        assert notes[-1] == "已整改" and "我的备注" not in notes and "覆盖" not in notes


def test_a_validation_error_keeps_everything_the_reviewer_entered(rweb: WebEnv) -> None:
    env = rweb
    task_id = plan_task(env)
    shas = insert_frames(env, task_id)
    form = review_form(fail="two_staff", note="")  # a fail without a note
    form["note.cash_secured"] = "现金已入箱"
    form["verdict.no_gifts"] = ""  # and one item left unmarked
    form["frames.two_staff"] = [shas[0], shas[2]]
    form["summary"] = "我写了很长的小结"
    with env.client_as("admin") as admin:
        page = post(admin, f"/spot-checks/{task_id}/review", form)
    assert page.status_code == 400
    html = page.text
    assert "不合格项须写明问题" in html and "请选择结论" in html
    assert "现金已入箱" in html and "我写了很长的小结" in html
    assert re.search(r'name="verdict.two_staff" value="fail" checked', html)
    assert re.search(r'name="verdict.cash_secured" value="pass" checked', html)
    for sha in (shas[0], shas[2]):
        assert re.search(rf'name="frames.two_staff" value="{sha}" checked', html)
    assert not re.search(rf'name="frames.two_staff" value="{shas[1]}" checked', html)
    assert count(env, ReviewRow) == 0 and count(env, FindingRow) == 0


def test_twenty_reviewers_submitting_at_once_lose_nothing(rweb: WebEnv) -> None:
    env = rweb
    tasks = [plan_task(env) for _ in range(20)]
    with env.sessions.begin() as db:
        for n in range(20):
            create_user(
                db,
                username=f"insp{n:02d}",
                password=PASSWORD,
                role="inspector",
                branch_id=None,
                display_name=f"检查员{n:02d}",
                now=env.now,
            )
    clients = [env.client_as(f"insp{n:02d}") for n in range(20)]
    tokens = [csrf(client) for client in clients]
    barrier = threading.Barrier(20)
    statuses: list[int] = [0] * 20

    def submit(n: int) -> None:
        barrier.wait()
        response = clients[n].post(
            f"/spot-checks/{tasks[n]}/review",
            data=review_form(fail="two_staff" if n % 2 else None),
            headers={CSRF_HEADER: tokens[n]},
        )
        statuses[n] = response.status_code

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for client in clients:
        client.close()
    assert statuses == [303] * 20
    assert count(env, ReviewRow) == 20
    assert count(env, FindingRow) == 10
    with env.sessions() as db:
        result = verify(db)
        assert result.ok, result.problems
        assert result.entries == 20
        reviewed = db.scalars(select(SpotCheckTaskRow.status)).all()
        assert set(reviewed) == {"reviewed"}


def test_findings_filters_overdue_and_exports(rweb: WebEnv) -> None:
    env = rweb
    for _ in range(2):
        task_id = plan_task(env)
        with env.client_as("admin") as admin:
            assert post(admin, f"/spot-checks/{task_id}/review", review_form()).status_code == 303
    with env.sessions.begin() as db:
        late = db.scalars(select(FindingRow).order_by(FindingRow.id)).first()
        assert late is not None
        late.deadline = env.now.date() - dt.timedelta(days=3)
        late_id = late.id
    with env.client_as("sec") as sec:
        overdue = sec.get("/findings?overdue=1").text
        assert f'id="finding-row-{late_id}"' in overdue and 'class="rv-overdue"' in overdue
        assert overdue.count('id="finding-row-') == 1
        assert sec.get("/findings?status=closed").text.count('id="finding-row-') == 0
        exported = sec.get("/findings.csv")
        assert exported.status_code == 200
        assert exported.content.startswith(b"\xef\xbb\xbf")  # BOM for Excel
        text = exported.content.decode("utf-8-sig")
        assert "整改责任人" in text and "柜台只有一人办理业务" in text and "张行长" in text
        assert len(text.strip().splitlines()) == 3
        book = sec.get("/findings.xlsx")
        assert book.status_code == 200 and book.content[:2] == b"PK"
        import io

        from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

        sheet = load_workbook(io.BytesIO(book.content)).active
        assert sheet.max_row == 3 and sheet.cell(2, 6).value == "张行长"
    with env.client_as("head2") as other_branch:  # B2's head sees none of B1's findings
        assert other_branch.get("/findings").text.count('id="finding-row-') == 0
        assert other_branch.get(f"/findings/{late_id}").status_code == 403


def test_register_filters_pages_and_scope(rweb: WebEnv) -> None:
    env = rweb
    with env.sessions.begin() as db:
        for n in range(60):
            append(
                db,
                Entry(
                    actor="admin" if n % 2 else "head2",
                    actor_role="administrator" if n % 2 else "branch_head",
                    action="playback",
                    reason=f"回放 {n}",
                    branch_id="B1" if n % 2 else "B2",
                    channel_id="B1-C1" if n % 2 else "B2-C1",
                    range_start=env.now - dt.timedelta(hours=1),
                    range_end=env.now,
                ),
                env.now,
            )
    with env.client_as("audit") as audit:
        first = audit.get("/register").text
        assert first.count('class="action-playback"') == 50 and "第 1 / 2 页" in first
        assert audit.get("/register?page=2").text.count('class="action-playback"') == 10
        b2 = audit.get("/register?branch=B2").text
        assert b2.count('class="action-playback"') == 30
        assert audit.get("/register?channel=B1-C1").text.count('class="action-playback"') == 30
        tomorrow = (env.now + dt.timedelta(days=2)).date().isoformat()
        assert "没有符合条件的登记" in audit.get(f"/register?date_from={tomorrow}").text
    with env.client_as("admin") as admin:  # a branch's people see their branch's entries
        own = admin.get("/register").text
        assert "B2-C1" not in own and own.count('class="action-playback"') == 30
        assert post(admin, "/register/verify").status_code == 403


def test_register_verify_names_an_altered_entry(rweb: WebEnv) -> None:
    env = rweb
    with env.sessions.begin() as db:
        for n in range(3):
            append(db, Entry("admin", "administrator", "playback", f"回放 {n}", "B1"), env.now)
    with env.engine.begin() as conn:
        # the triggers refuse UPDATE; an attacker with the database drops them first
        if env.engine.dialect.name == "sqlite":
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='trigger'"
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("ALTER TABLE register_entries DISABLE TRIGGER USER")
        conn.exec_driver_sql("UPDATE register_entries SET reason = '改过' WHERE seq = 2")
    with env.client_as("sec") as sec:
        page = post(sec, "/register/verify").text
        english = post(sec, "/register/verify?lang=en").text
    assert 'id="chain-bad"' in page and "第 2 条登记内容与其哈希不符(已被篡改)" in page
    assert "Entry 2: its content does not match its hash (altered)." in english
    assert 'id="signatures-checked"' in page


def test_register_verify_says_when_signatures_cannot_be_checked(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = review_env(db_url, tmp_path, monkeypatch, register_key=str(tmp_path / "none.pem"))
    with env.client_as("sec") as sec:
        page = post(sec, "/register/verify").text
    env.engine.dispose()
    assert 'id="chain-ok"' in page and 'id="signatures-unchecked"' in page
    assert "签名未核验" in page and 'class="card rv-verify bad"' in page


def test_keys_built_from_data_exist() -> None:
    from tests.conftest import REPO
    from vidaudit.review.findings import Action, Status
    from vidaudit.review.items import Verdict
    from vidaudit.web.i18n import LANGUAGES, Catalogue
    from vidaudit.web.routes.spotcheck_task import PULL_ERRORS
    from vidaudit.web.views.register import KNOWN_ACTIONS

    needed = (
        {f"review.role_{r.value}" for r in ChannelRole}
        | {f"review.verdict_{v.value}" for v in Verdict}
        | {f"findings.status_{s.value}" for s in Status}
        | {f"findings.action_{a.value}" for a in Action}
        | {"findings.action_created"}
        | {f"findings.error_{c}" for c in ("not_found", "role", "branch", "stale")}
        | {f"findings.error_{c}" for c in ("transition", "note", "four_eyes")}
        | {f"register.action_{a}" for a in KNOWN_ACTIONS}
        | {f"spotcheck.pull_error_{k}" for k in (*PULL_ERRORS, "other")}
        | {f"spotcheck.status_{s}" for s in ("open", "planned", "pulled", "reviewed", "all")}
        | {f"spotcheck.kind_{k}" for k in TaskKind}
        | {f"spotcheck.diag_{v}" for v in ("pass", "fail", "warn")}
        | {f"approval.status_{s}" for s in ("pending", "approved", "denied")}
        | {"approval.done_approved", "approval.done_denied"}
    )
    catalogue = Catalogue.load(REPO / "web" / "locales")
    for lang in LANGUAGES:
        assert needed <= set(catalogue.messages[lang]), needed - set(catalogue.messages[lang])


def test_two_heads_deciding_at_once_one_is_told(web: WebEnv) -> None:
    """Of two branch heads deciding the same request at the same moment, one decision
    stands and the other gets 'already decided' — never a silent overwrite."""
    task_id = plan_task(web)
    with web.sessions.begin() as db:
        create_user(
            db,
            username="head_b",
            password=PASSWORD,
            role="branch_head",
            branch_id="B1",
            display_name="副行长",
            now=web.now,
        )
        requester = db.scalars(select(UserRow).where(UserRow.username == "admin")).one()
        task = db.get(SpotCheckTaskRow, task_id)
        assert task is not None
        approval = ApprovalRow(
            requester_id=requester.id,
            branch_id="B1",
            channel_id=task.channel_id,
            range_start=task.start,
            range_end=task.end,
            reason="协查",
            requested_at=web.now,
            status="pending",
            decided_by=None,
            decided_at=None,
            decision_note="",
        )
        db.add(approval)
        db.flush()
        approval_id = approval.id
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def decide(username: str, decision: str) -> None:
        with web.client_as(username) as client:
            token = csrf(client)
            barrier.wait(timeout=10)
            answer = client.post(
                f"/approvals/{approval_id}",
                data={"decision": decision, "note": f"{username} 决定"},
                headers={CSRF_HEADER: token},
            )
            codes[username] = answer.status_code

    threads = [
        threading.Thread(target=decide, args=("head", "approve")),
        threading.Thread(target=decide, args=("head_b", "deny")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes.values()) == [303, 409]
    winner = next(name for name, code in codes.items() if code == 303)
    with web.sessions() as db:
        row = db.get(ApprovalRow, approval_id)
        assert row is not None and row.decision_note == f"{winner} 决定"
        assert row.status == ("approved" if winner == "head" else "denied")
    assert count(web, RegisterEntryRow, RegisterEntryRow.action == "approval") == 1


def test_the_plan_form_model_bounds_its_input(rweb: WebEnv) -> None:
    """The random-plan form is a FastAPI form model with bounded fields: an over-long value
    is refused before any code reads it, and nothing is saved."""
    with rweb.client_as("sec") as sec:
        page = sec.get("/spot-checks").text
        first_day = re.search(r'name="period_start" value="([0-9-]+)"', page)
        assert first_day
        fields = {
            "count": "1",
            "period_start": first_day.group(1),
            "period_days": "7",
            "roles": ["counter"],
            "window_min": "10",
            "frames": "3",
        }
        too_long = post(sec, "/spot-checks/plans/random", {**fields, "count": "1" * 100})
        # refused by the form model, before the handler: the app's bad-request page
        assert too_long.status_code == 400 and "请检查计划参数" not in too_long.text
        assert "请求内容有误" in too_long.text
        unknown_role = post(sec, "/spot-checks/plans/random", {**fields, "roles": ["safe"]})
        assert unknown_role.status_code == 400 and "请检查计划参数" in unknown_role.text
    with rweb.sessions() as db:
        assert db.scalars(select(SpotCheckPlanRow)).all() == []


def test_a_refused_plan_keeps_the_form_and_saves_nothing(rweb: WebEnv) -> None:
    with rweb.client_as("sec") as sec:
        bad = post(
            sec,
            "/spot-checks/plans/random",
            {
                "count": "0",  # below 1
                "period_start": "2026-11-16",
                "period_days": "7",
                "roles": ["counter"],
                "window_min": "10",
                "frames": "3",
            },
        )
        assert bad.status_code == 400
        assert "请检查计划参数" in bad.text
        assert 'name="period_start" value="2026-11-16"' in bad.text  # kept as typed
        latin1 = post(
            sec,
            "/spot-checks/plans/targeted",
            {"frames": "6"},
            files={"events": ("events.csv", "网点,通道\n".encode("gb18030"), "text/csv")},
        )
        assert latin1.status_code == 400
        assert "CSV 文件须为 UTF-8 编码" in latin1.text
    with rweb.sessions() as db:
        assert db.scalars(select(SpotCheckPlanRow)).all() == []


def test_evidence_verify_follows_every_reference_to_a_deleted_row(rweb: WebEnv) -> None:
    """Pen test item 6: an evidence row deleted together with its file left nothing for the
    file check to find, while records still pointed at it."""
    from sqlalchemy import inspect, text

    from vidaudit.db.models import ReviewRow, TaskFrameRow, UserRow

    env = rweb
    shas = insert_frames(env, plan_task(env))
    store = EvidenceStore(env.settings.data_dir / "evidence")
    with env.sessions.begin() as db:
        frame = db.scalars(
            select(TaskFrameRow).where(TaskFrameRow.evidence_sha256 == shas[1])
        ).one()
        reviewer = db.scalars(select(UserRow).where(UserRow.username == "admin")).one()
        review = ReviewRow(
            task_id=frame.task_id,
            branch_id="B1",
            channel_id="B1-C1",
            reviewer_id=reviewer.id,
            reviewer_role="administrator",
            window_start=env.now,
            window_end=env.now,
            submitted_at=env.now,
            items={"two_staff": {"verdict": "pass", "note": "", "frames": [shas[1]]}},
            summary="",
            register_seq=frame.register_seq,
        )
        db.add(review)
        db.flush()
        review_id = review.id
    with env.sessions() as db:
        check = store.verify(db)
    assert check.ok and check.files == 3 and check.references == 4
    # An insider removes frame 2 everywhere but in the records that cite it.
    with env.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            for fk in inspect(conn).get_foreign_keys("task_frames"):
                if fk["referred_table"] == "evidence":
                    conn.execute(text(f'ALTER TABLE task_frames DROP CONSTRAINT "{fk["name"]}"'))
        path = conn.execute(
            text("SELECT path FROM evidence WHERE sha256 = :s"), {"s": shas[1]}
        ).scalar_one()
        conn.execute(text("DELETE FROM evidence WHERE sha256 = :s"), {"s": shas[1]})
    (store.root / path).unlink()
    with env.sessions() as db:
        check = store.verify(db)
    assert check.files == 2
    assert [(p.code, p.values["what"], p.values["id"]) for p in check.findings] == [
        ("no_record", "task_frame", frame.id),
        ("no_record", "review", review_id),
    ]
    with env.client_as("audit") as audit:
        page = post(audit, "/register/verify").text
    assert 'id="files-bad"' in page and f"调阅画面 {frame.id} 引用的证据 {shas[1][:16]}" in page
