"""Clips through the web view: pulled on the spot-check page from the simulated fleet
(a Hikvision playback URL, real RTSP), listed with a video element, served to those D4
lets see them, attached to a finding; and pulled and played in Debian's Chromium.

Debian's Chromium plays H.264 (found on this machine: ``canPlayType`` answers "probably"
for avc1 Main/High and a clip plays), so the clip is served as recorded; H.265 it does not
play (``canPlayType`` answers ""), which the browser test records too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.web.conftest import ARTIFACTS, LiveServer, WebEnv, build_web_env
from tests.web.test_review_browser import log_in
from tests.web.test_review_flow import COUNTER_ITEMS, post
from tests.web.test_review_pull_sim import fleet_in_thread
from vidaudit.db.models import (
    EvidenceRow,
    FindingRow,
    RegisterEntryRow,
    SpotCheckTaskRow,
    TaskClipRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.plan import PlannedTask, TaskKind
from vidaudit.sampler.store import save_plan
from vidaudit.web.deps import MAX_FORM_FIELD


def targeted_task(env: WebEnv, path: Path) -> tuple[int, dt.datetime]:
    """The simulated fleet's inventory synced, and one targeted task on its Hikvision
    camera (vendor playback URL over RTSP) five hours ago: (task id, event instant)."""
    inventory = load_inventory(path)
    start = (env.now - dt.timedelta(hours=5)).replace(microsecond=0)
    event = start + dt.timedelta(minutes=1)
    with env.sessions.begin() as db:
        sync_inventory(db, inventory, source=str(path), now=env.now)
        plan = save_plan(
            db,
            kind="targeted",
            created_by="sec",
            now=env.now,
            tasks=[
                PlannedTask(
                    "B1",
                    "B1-HIK-C1",
                    start,
                    start + dt.timedelta(minutes=2),
                    TaskKind.TARGETED,
                    reason="large_withdrawal: 50000",
                    event_at=event,
                )
            ],
            params={},
            frames_per_task=2,
        )
        task_id = db.scalars(
            select(SpotCheckTaskRow.id).where(SpotCheckTaskRow.plan_id == plan.id)
        ).one()
    return task_id, event


@pytest.mark.timeout(180)
def test_a_clip_pulled_on_the_task_page_and_attached_to_a_finding(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cameras.sim.yaml"
    with fleet_in_thread(path):
        env: WebEnv = build_web_env(
            db_url,
            monkeypatch,
            inventory=path,
            data_dir=tmp_path / "data",
        )
        task_id, event = targeted_task(env, path)
        url = f"/spot-checks/{task_id}"
        with env.client_as("admin") as admin:
            # out of bounds: refused before anything is registered
            for form in (
                {"seconds": "4"},
                {"seconds": "61"},
                {"seconds": "x"},
                {"seconds": "1" * 9},
                {"seconds": "10", "frame_id": "987654"},  # not a frame of this task
                {"seconds": "10", "frame_id": "-1"},
            ):
                refused = post(admin, f"{url}/clip", form)
                assert "error=bad_clip" in refused.headers["location"], form
            # oversize fields and ids no table holds are refused before the handler
            for path, form in (
                (f"{url}/clip", {"seconds": "1" * (MAX_FORM_FIELD + 1)}),
                (f"{url}/clip", {"seconds": "10", "frame_id": "1" * (MAX_FORM_FIELD + 1)}),
                ("/spot-checks/0/clip", {"seconds": "10"}),
                (f"/spot-checks/{2**63}/clip", {"seconds": "10"}),
            ):
                refused = post(admin, path, form)
                assert 400 <= refused.status_code < 500, (path, form, refused.status_code)
            with env.sessions() as db:
                assert db.scalars(select(RegisterEntryRow)).all() == []
            pulled = post(admin, f"{url}/clip", {"seconds": "6"})
            assert pulled.status_code == 303, pulled.text
            assert "done=clip" in pulled.headers["location"]
            page = admin.get(url).text
            with env.sessions() as db:
                (clip,) = db.scalars(select(TaskClipRow)).all()
                (entry,) = db.scalars(select(RegisterEntryRow)).all()
            assert clip.first_at is not None and clip.last_at is not None
            # centred on the task's event: from the keyframe at or before event - 3 s
            assert (
                event - dt.timedelta(seconds=5.1)
                <= clip.first_at
                <= event - dt.timedelta(seconds=2.9)
            )
            assert (
                event + dt.timedelta(seconds=2.8)
                <= clip.last_at
                <= event + dt.timedelta(seconds=3.05)
            )
            assert entry.action == "clip_pull" and entry.actor == "admin"
            # why, as a code the register page says in its reader's language (issue 15)
            assert (entry.details["purpose"], entry.details["task_kind"]) == ("task", "targeted")
            assert entry.details["task_id"] is not None
            source = f'src="/review-evidence/{clip.evidence_sha256}"'
            assert f'<video controls preload="metadata" muted playsinline {source}' in page
            assert "录像片段(1)" in page and "h264 · 海康回放地址" in page
            video = admin.get(f"/review-evidence/{clip.evidence_sha256}")
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
            assert video.content[4:8] == b"ftyp"
            # a browser asks for byte ranges to seek
            part = admin.get(
                f"/review-evidence/{clip.evidence_sha256}", headers={"Range": "bytes=0-99"}
            )
            assert part.status_code == 206 and len(part.content) == 100

            # the clip is evidence for a failed item: the finding carries it
            data = {f"verdict.{code}": "pass" for code in COUNTER_ITEMS}
            data.update(
                {
                    "verdict.two_staff": "fail",
                    "note.two_staff": "录像片段显示只有一名柜员",
                    "frames.two_staff": clip.evidence_sha256 or "",
                    "summary": "定向抽查",
                }
            )
            submitted = post(admin, f"{url}/review", data)
            assert submitted.status_code == 303, submitted.text
            record = admin.get(submitted.headers["location"]).text
            assert f'src="/review-evidence/{clip.evidence_sha256}" class="rv-thumb-video"' in record
            with env.sessions() as db:
                (finding,) = db.scalars(select(FindingRow)).all()
            assert finding.frames == [clip.evidence_sha256]
            detail = admin.get(f"/findings/{finding.id}").text
            assert f'<video controls preload="metadata" muted {source}' in detail
        # D4: another branch's head does not see the clip (nor learns it exists)
        with env.client_as("head2") as other:
            assert other.get(f"/review-evidence/{clip.evidence_sha256}").status_code == 404
        with env.sessions() as db:
            assert verify(db).ok
            assert EvidenceStore(env.settings.evidence_dir).verify(db).ok
        env.engine.dispose()


@pytest.fixture
def live_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The simulated fleet running, its inventory the one the live server loads."""
    path = tmp_path / "cameras.sim.yaml"
    with fleet_in_thread(path):
        monkeypatch.setenv("VIDAUDIT_INVENTORY", str(path))
        monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
        yield path


@pytest.mark.timeout(180)
def test_a_clip_pulled_in_chromium_keeps_what_the_reviewer_typed(
    live_fleet: Path, live_server: LiveServer, browser_page: Any
) -> None:
    """The clip form posted and reloaded the page, so findings typed but not yet saved
    were lost; it is sent by the page's script now, as frame pulls are: the clip appears
    in the list (with its link, its evidence chip and the task's new status) and what the
    reviewer typed is still there."""
    from playwright.sync_api import expect

    page, base, env = browser_page, live_server.url, live_server.env
    task_id, _event = targeted_task(env, live_fleet)
    log_in(page, base, "admin")
    url = f"{base}/spot-checks/{task_id}"
    page.goto(url)
    expect(page.locator("#no-clips")).to_be_visible()
    expect(page.locator("#task-status")).to_have_text("待调阅")
    note = "柜台只有一名柜员,另一人离岗约两分钟"
    page.check("input[name='verdict.two_staff'][value='fail']")
    page.fill("#note-two_staff", note)
    page.fill("#summary", "定向抽查:大额取款")
    page.fill("#clips input[name=seconds]", "6")
    page.click("#pull-clip")
    # while it streams (about as long as the clip) the page says so
    expect(page.locator("#clip-status")).to_contain_text("正在截取录像片段")
    # vendor playback streams in real time: the pull takes about as long as the clip
    clip_row = page.locator("#clips figure.rv-clip")
    expect(clip_row).to_have_count(1, timeout=90_000)
    expect(page.locator("#clip-status")).to_have_text("录像片段已截取并保存为证据。")
    # the same page, not reloaded: nothing typed is lost
    assert page.url == url
    assert page.input_value("#note-two_staff") == note
    assert page.input_value("#summary") == "定向抽查:大额取款"
    assert page.is_checked("input[name='verdict.two_staff'][value='fail']")
    with env.sessions() as db:
        (clip,) = db.scalars(select(TaskClipRow).where(TaskClipRow.task_id == task_id)).all()
        (entry,) = db.scalars(
            select(RegisterEntryRow).where(RegisterEntryRow.action == "clip_pull")
        ).all()
    assert entry.actor == "admin" and entry.details["task_id"] == task_id
    # listed as a reload would list it: video, download link, and a chip to attach it
    sha = clip.evidence_sha256
    expect(page.locator(f"#clip-{clip.id} video")).to_have_attribute(
        "src", f"/review-evidence/{sha}"
    )
    expect(page.locator(f"#clip-{clip.id} a[download]")).to_have_attribute(
        "href", f"/review-evidence/{sha}"
    )
    expect(page.locator(f"#item-two_staff input[value='{sha}']")).to_have_count(1)
    expect(page.locator("#task-status")).to_have_text("已调阅")
    expect(page.locator("#no-clips")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "clip-kept-typing.png"), full_page=True)


@pytest.mark.timeout(180)
def test_a_clip_pulled_without_script_and_played_in_chromium(
    live_fleet: Path, live_server: LiveServer, browser_page: Any
) -> None:
    """In the browser, with the page's scripts not loaded (the plain form post, as a
    browser without script does it): ask for a 6 s clip around the task's event, wait
    until the page comes back saying it is kept, then play it: the video element loads
    the clip's length, starts, and its time moves on while frames are shown."""
    from playwright.sync_api import expect

    page, base, env = browser_page, live_server.url, live_server.env
    task_id, _event = targeted_task(env, live_fleet)
    log_in(page, base, "admin")
    page.route("**/static/*.js", lambda route: route.abort())
    page.goto(f"{base}/spot-checks/{task_id}")
    expect(page.locator("#no-clips")).to_be_visible()
    page.fill("#clips input[name=seconds]", "6")
    page.click("#pull-clip")
    # vendor playback streams in real time: the pull takes about as long as the clip
    expect(page.locator("#clip-done")).to_be_visible(timeout=90_000)
    with env.sessions() as db:
        (clip,) = db.scalars(select(TaskClipRow).where(TaskClipRow.task_id == task_id)).all()
        evidence = db.get(EvidenceRow, clip.evidence_sha256)
        assert evidence is not None and clip.first_at and clip.last_at
        width = evidence.origin["size"][0]
    expected = (clip.last_at - clip.first_at).total_seconds() + 0.1  # the fleet's 10 fps
    video = page.locator(f"#clip-{clip.id} video")
    expect(video).to_have_count(1)
    video.scroll_into_view_if_needed()
    # metadata loaded (readyState >= HAVE_METADATA) with the clip's length
    page.wait_for_function(
        "v => v.readyState >= 1 && isFinite(v.duration) && v.duration > 0",
        arg=video.element_handle(),
    )
    duration = video.evaluate("v => v.duration")
    assert abs(duration - expected) < 0.2, (duration, expected)
    assert video.evaluate("v => v.error") is None
    # it plays: a frame is there to show (HAVE_CURRENT_DATA) and time moves on, twice
    video.evaluate("v => v.play()")
    page.wait_for_function(
        "v => v.currentTime > 0.5 && v.readyState >= 2 && !v.paused", arg=video.element_handle()
    )
    seen = video.evaluate("v => v.currentTime")
    page.wait_for_function(
        "([v, t]) => v.currentTime > t + 0.5", arg=[video.element_handle(), seen]
    )
    assert video.evaluate("v => v.videoWidth") == width
    assert video.evaluate("v => v.error") is None
    # what this browser can play, written down with the test's screenshots
    support = page.evaluate(
        """() => { const v = document.createElement('video');
           return {h264: v.canPlayType('video/mp4; codecs="avc1.64001f"'),
                   hevc: v.canPlayType('video/mp4; codecs="hvc1.1.6.L93.B0"')}; }"""
    )
    assert support["h264"] in ("probably", "maybe")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "clip-codecs.txt").write_text(f"{support}\n", encoding="utf-8")
    page.screenshot(path=str(ARTIFACTS / "clip-task.png"), full_page=True)
