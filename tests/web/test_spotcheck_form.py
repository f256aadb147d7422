"""The spot-check task page as a reviewer works it (issue 15, problems 3-6 and 8):
one review per task per reviewer unless reopened with a reason; a fail needs its frame;
frames keep their labels when more are pulled; a step outside the task's window needs a
stated reason and is registered as such; pulls of frames and of clips answer the page's
script in JSON (so what is typed stays on the page); seeing frames is registered once per
login.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from tests.web.conftest import WebEnv
from tests.web.test_review_flow import (
    count,
    insert_frames,
    plan_task,
    post,
    review_form,
    rweb,  # noqa: F401 - the fixture
)
from vidaudit.db.models import (
    RegisterEntryRow,
    ReviewRow,
    SpotCheckTaskRow,
    TaskClipRow,
    TaskFrameRow,
)
from vidaudit.review.register import verify
from vidaudit.web.deps import MAX_FORM_FIELD

JSON = {"Accept": "application/json"}


def labels(page: str) -> dict[str, str]:
    """frame id -> its label on the page."""
    return dict(re.findall(r'id="frame-(\d+)" data-label="([^"]+)"', page))


def test_a_second_review_is_refused_until_the_task_is_reopened_with_a_reason(
    rweb: WebEnv,  # noqa: F811
) -> None:
    """Problem 4: a reviewed task showed the full form and took a contradicting review."""
    env = rweb
    task_id = plan_task(env)
    shas = insert_frames(env, task_id)
    url = f"/spot-checks/{task_id}"
    with env.client_as("admin") as admin:
        assert post(admin, f"{url}/review", review_form(frames=shas[:1])).status_code == 303
        page = admin.get(url).text
        # the form is gone; the record is linked with who and when; reopening is offered
        assert 'id="review-form"' not in page and 'id="reopen-form"' in page
        assert "您已检查过此任务" in page and 'href="/reviews/' in page
        second = post(admin, f"{url}/review", review_form(fail=None))
        assert second.status_code == 409 and "未再次保存" in second.text
        assert count(env, ReviewRow) == 1
        no_reason = post(admin, f"{url}/reopen", {"reason": "  "})
        assert no_reason.status_code == 400 and "请写明重新检查的理由" in no_reason.text
        reopened = post(admin, f"{url}/reopen", {"reason": "看错了柜台,重新检查"})
        assert reopened.status_code == 303
        page = admin.get(reopened.headers["location"]).text
        assert 'id="review-form"' in page and "重新打开的理由已登记" in page
        again = post(admin, f"{url}/review", review_form(fail=None))
        assert again.status_code == 303
    with env.sessions() as db:
        assert count(env, ReviewRow) == 2
        reopen = db.scalars(
            select(RegisterEntryRow).where(RegisterEntryRow.action == "review_reopen")
        ).one()
        assert reopen.reason == "看错了柜台,重新检查" and reopen.details["task_id"] == task_id
        assert verify(db).ok


def test_a_fail_needs_its_frame_and_what_was_typed_stays(rweb: WebEnv) -> None:  # noqa: F811
    """Problem 6: a 'fail' without the evidence frame the form says it needs."""
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id)
    with env.client_as("admin") as admin:
        refused = post(admin, f"/spot-checks/{task_id}/review", review_form())
    assert refused.status_code == 400
    assert "不合格项须勾选能说明问题的证据画面" in refused.text
    assert "柜台只有一人办理业务" in refused.text  # the note is kept
    assert count(env, ReviewRow) == 0


def test_frames_keep_their_labels_when_more_are_pulled(rweb: WebEnv) -> None:  # noqa: F811
    """Problem 5: frames renumbered after each pull, so '#2' in a note moved."""
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id, count=2)
    with env.client_as("admin") as admin:
        before = labels(admin.get(f"/spot-checks/{task_id}").text)
        insert_frames(env, task_id, count=5)  # more frames, some earlier than the first
        after = labels(admin.get(f"/spot-checks/{task_id}").text)
    assert len(before) == 2 and len(after) == 7
    assert all(after[frame] == label for frame, label in before.items())
    # labels are instants (to the ms), not positions
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", label) for label in after.values())
    assert "#1" not in "".join(after.values())


def test_a_step_outside_the_window_needs_a_reason_and_is_registered_so(
    rweb: WebEnv,  # noqa: F811
) -> None:
    """Problem 5: a step of -3600 s pulled 14:41 for a 15:40-15:50 task silently."""
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id)
    with env.sessions() as db:
        first = db.scalars(
            select(TaskFrameRow).where(TaskFrameRow.task_id == task_id).order_by(TaskFrameRow.id)
        ).first()
        assert first is not None
    step = {"mode": "step", "frame_id": str(first.id), "step_s": "3600", "direction": "back"}
    url = f"/spot-checks/{task_id}/pull"
    with env.client_as("admin") as admin:
        pulls = count(env, RegisterEntryRow, RegisterEntryRow.action == "frame_pull")
        # the page's script gets JSON with the message in the reader's words
        refused = post(admin, url, step, headers=JSON)
        assert refused.status_code == 400
        assert refused.json()["error"] == "outside_window"
        assert "超出任务时段" in refused.json()["message"]
        # a browser without script gets the page back with the same message
        plain = post(admin, url, step)
        assert plain.status_code == 303 and "error=outside_window" in plain.headers["location"]
        assert "超出任务时段,须填写理由" in admin.get(plain.headers["location"]).text
        assert count(env, RegisterEntryRow, RegisterEntryRow.action == "frame_pull") == pulls
        # with a reason it goes ahead (the test NVR does not exist: the pull fails after
        # it is registered, outside the window, with the reason given)
        tried = post(admin, url, {**step, "reason": "核对一小时前的交接"}, headers=JSON)
        assert tried.status_code == 502 and tried.json()["error"] == "unreachable"
        assert tried.json()["message"] and "http" not in tried.json()["message"]
    with env.sessions() as db:
        entry = db.scalars(
            select(RegisterEntryRow)
            .where(RegisterEntryRow.action == "frame_pull")
            .order_by(RegisterEntryRow.seq.desc())
        ).first()
        assert entry is not None and entry.reason == "核对一小时前的交接"
        assert entry.details["outside_window"] is True
        task = db.get(SpotCheckTaskRow, task_id)
        assert task is not None and entry.range_start is not None
        assert entry.range_start < task.start - dt.timedelta(minutes=50)
    with env.client_as("sec") as sec:
        assert "超出任务时段" in sec.get("/register?action=frame_pull").text


def test_seeing_frames_is_registered_once_per_login(rweb: WebEnv) -> None:  # noqa: F811
    """Problem 8: viewing frames after an approval was not registered (Art. 46)."""
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id)
    views = (RegisterEntryRow.action == "footage_view",)
    with env.client_as("sec") as sec:
        for _ in range(3):  # reloading the page adds nothing
            assert sec.get(f"/spot-checks/{task_id}").status_code == 200
        assert count(env, RegisterEntryRow, *views) == 1
    env.now += dt.timedelta(hours=2)
    with env.client_as("sec") as sec:  # the next login's viewing is on record again
        sec.get(f"/spot-checks/{task_id}")
    with env.client_as("audit") as audit:  # no approval: no frames shown, nothing viewed
        audit.get(f"/spot-checks/{task_id}")
    with env.sessions() as db:
        seen = db.scalars(select(RegisterEntryRow).where(*views)).all()
        assert [e.actor for e in seen] == ["sec", "sec"]
        assert seen[0].details["task_id"] == task_id and seen[0].details["frames"] == 3
        assert verify(db).ok


def test_a_clip_pull_answers_the_pages_script_in_words_and_never_a_500(
    rweb: WebEnv,  # noqa: F811
) -> None:
    """The clip form reloaded the page (losing findings being typed): it answers the
    page's script in JSON as frame pulls do, each refusal a message in the reader's
    language, and a browser without script still gets the page back."""
    env = rweb
    task_id = plan_task(env)
    insert_frames(env, task_id)
    with env.sessions() as db:
        frame_ids = [
            str(i)
            for i in db.scalars(select(TaskFrameRow.id).where(TaskFrameRow.task_id == task_id))
        ]
    url = f"/spot-checks/{task_id}/clip"
    pulls = (RegisterEntryRow.action == "clip_pull",)
    with env.client() as anonymous:
        # no session: JSON (not the login page) and nothing registered
        answer = anonymous.post(url, data={"seconds": "10"}, headers=JSON)
        assert answer.status_code == 401 and answer.json()["detail"] == "error.login_required"
    with env.client_as("audit") as audit:  # an auditor reads, never pulls
        refused = post(audit, url, {"seconds": "10"}, headers=JSON)
        assert refused.status_code == 403 and refused.json()["detail"] == "error.forbidden"
    with env.client_as("head2") as head2:  # another branch: D4 first, nothing registered
        refused = post(head2, url, {"seconds": "10"}, headers=JSON)
        assert refused.status_code == 403 and refused.json()["error"] == "not_approved"
        assert refused.json()["message"] == "需经网点负责人同意"
    with env.client_as("admin") as admin:
        for form in (
            {"seconds": "4"},
            {"seconds": "61"},
            {"seconds": "x"},
            {"seconds": "1" * MAX_FORM_FIELD},
            {"seconds": "1e9"},
            {"seconds": "10", "frame_id": "987654"},  # no frame of this task
            {"seconds": "10", "frame_id": "9223372036854775808"},
            {"seconds": "10", "frame_id": "-1"},
        ):
            refused = post(admin, url, form, headers=JSON)
            assert refused.status_code == 400, (form, refused.text)
            assert refused.json() == {
                "ok": False,
                "error": "bad_clip",
                "message": "录像片段长度须为 5–60 秒,并以本任务已调取的画面为中心。",
            }, form
        # oversize fields are refused before the handler, still as JSON
        for form in (
            {"seconds": "1" * (MAX_FORM_FIELD + 1)},
            {"seconds": "10", "frame_id": "1" * (MAX_FORM_FIELD + 1)},
        ):
            refused = post(admin, url, form, headers=JSON)
            assert 400 <= refused.status_code < 500 and "detail" in refused.json()
        # in English for an English reader
        english = post(admin, f"{url}?lang=en", {"seconds": "3"}, headers=JSON)
        assert english.json()["message"].startswith("A clip is 5–60 seconds long")
        assert count(env, RegisterEntryRow, *pulls) == 0
        # the device is absent: registered, then a failure said in words (no URL, no 500)
        failed = post(admin, url, {"seconds": "10", "frame_id": frame_ids[0]}, headers=JSON)
        assert failed.status_code == 502, failed.text
        assert failed.json()["ok"] is False and failed.json()["error"] == "unreachable"
        assert failed.json()["message"] == "调阅失败:无法连接设备。"
        english = post(admin, f"{url}?lang=en", {"seconds": "10"}, headers=JSON)
        assert english.json()["message"] == "Pull failed: the device could not be reached."
        assert count(env, RegisterEntryRow, *pulls) == 2
        # without script: the page again, the same words, at the clips
        plain = post(admin, url, {"seconds": "10"})
        assert plain.status_code == 303
        assert plain.headers["location"] == f"/spot-checks/{task_id}?error=unreachable#clips"
        assert "调阅失败:无法连接设备。" in admin.get(plain.headers["location"]).text
        plain = post(admin, url, {"seconds": "61"})
        assert plain.headers["location"] == f"/spot-checks/{task_id}?error=bad_clip#clips"
        page = admin.get(plain.headers["location"]).text
        assert "录像片段长度须为 5–60 秒" in page
        # the page's script sends every clip form (the event's and each frame's)
        clip_forms = re.findall(r'<form [^>]*action="/spot-checks/\d+/clip"[^>]*>', page)
        assert len(clip_forms) == 1 + len(frame_ids)
        assert all(" data-partial " in form for form in clip_forms)
    with env.sessions() as db:
        assert db.scalars(select(TaskClipRow)).all() == []
        assert verify(db).ok
