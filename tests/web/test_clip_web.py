"""Clips through the web view: pulled on the spot-check page from the simulated fleet
(a Hikvision playback URL, real RTSP), listed with a video element, served to those D4
lets see them, attached to a finding; and played in Debian's Chromium.

Debian's Chromium plays H.264 (found on this machine: ``canPlayType`` answers "probably"
for avc1 Main/High and a clip plays), so the clip is served as recorded; H.265 it does not
play (``canPlayType`` answers ""), which the browser test records too."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.media.clips import write_clip
from tests.web.conftest import ARTIFACTS, LiveServer, WebEnv, build_web_env, inventory
from tests.web.test_review_browser import log_in
from tests.web.test_review_flow import COUNTER_ITEMS, plan_task, post
from tests.web.test_review_pull_sim import fleet_in_thread
from vidaudit.db.models import FindingRow, RegisterEntryRow, SpotCheckTaskRow, TaskClipRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory, parse_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.clips import ClipRequest, pull_clip
from vidaudit.sampler.plan import PlannedTask, TaskKind
from vidaudit.sampler.store import save_plan


@pytest.mark.timeout(180)
def test_a_clip_pulled_on_the_task_page_and_attached_to_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cameras.sim.yaml"
    with fleet_in_thread(path):
        env: WebEnv = build_web_env(
            f"sqlite:///{tmp_path / 'web.db'}",
            monkeypatch,
            inventory=path,
            data_dir=tmp_path / "data",
        )
        inventory = load_inventory(path)
        start = (env.now - dt.timedelta(hours=5)).replace(microsecond=0)
        with env.sessions.begin() as db:
            sync_inventory(
                db, inventory, source=str(path), text=path.read_text("utf-8"), now=env.now
            )
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
                        event_at=start + dt.timedelta(minutes=1),
                    )
                ],
                params={},
                frames_per_task=2,
            )
            task_id = db.scalars(
                select(SpotCheckTaskRow.id).where(SpotCheckTaskRow.plan_id == plan.id)
            ).one()
        url = f"/spot-checks/{task_id}"
        with env.client_as("admin") as admin:
            # out of bounds: refused before anything is registered
            for seconds in ("4", "61", "x"):
                refused = post(admin, f"{url}/clip", {"seconds": seconds})
                assert "error=bad_clip" in refused.headers["location"]
            pulled = post(admin, f"{url}/clip", {"seconds": "6"})
            assert pulled.status_code == 303, pulled.text
            assert "done=clip" in pulled.headers["location"]
            page = admin.get(url).text
            with env.sessions() as db:
                (clip,) = db.scalars(select(TaskClipRow)).all()
                (entry,) = db.scalars(select(RegisterEntryRow)).all()
            assert clip.first_at is not None and clip.last_at is not None
            event = start + dt.timedelta(minutes=1)
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
            assert re.match(r"抽查任务 #\d+ 定向抽查", entry.reason)
            source = f'src="/review-evidence/{clip.evidence_sha256}"'
            assert f'<video controls preload="metadata" muted playsinline {source}' in page
            assert "录像片段(1)" in page
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
def live_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(inventory(), allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_INVENTORY", str(path))


@pytest.mark.timeout(120)
def test_a_clip_plays_in_chromium(
    live_inventory: None, live_server: LiveServer, browser_page: Any, tmp_path: Path
) -> None:
    """A clip cut (as recorded) from an exported H.264 file plays in the page's video
    element: metadata loads with the clip's length, and time advances when it plays."""
    page, base, env = browser_page, live_server.url, live_server.env
    task_id = plan_task(env)
    with env.sessions() as db:
        task = db.get(SpotCheckTaskRow, task_id)
        assert task is not None
        task_start = task.start
    export = write_clip(tmp_path / "export.mp4", seconds=12, fps=25)
    known = parse_inventory(yaml.safe_dump(inventory(), allow_unicode=True))
    branch, device, channel = next(f for f in known.channels() if f[2].id == "B1-C1")
    # Playwright's sync API runs an event loop in this thread: pull in another one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pulling = pool.submit(asyncio.run, pull_clip(
            ClipRequest(
                branch,
                device,
                channel,
                task_start + dt.timedelta(seconds=2),
                task_start + dt.timedelta(seconds=10),
                "抽查任务 #1 随机抽查",
                "admin",
                "administrator",
                file=export.path,
                file_start=task_start,
                task_id=task_id,
            ),
            sessions=env.sessions,
            store=EvidenceStore(env.settings.evidence_dir),
            resolver=SecretResolver(known),
            onvif_settings=env.settings.onvif(),
            now=env.now,
        ))  # fmt: skip
        outcome = pulling.result(timeout=60)
    expected = (outcome.last - outcome.first).total_seconds() + 1 / 25

    log_in(page, base, "admin")
    page.goto(f"{base}/spot-checks/{task_id}")
    video = page.locator(f"#clip-{outcome.clip_id} video")
    video.scroll_into_view_if_needed()
    # metadata loaded (readyState >= HAVE_METADATA) with the clip's length
    page.wait_for_function(
        "v => v.readyState >= 1 && isFinite(v.duration) && v.duration > 0",
        arg=video.element_handle(),
    )
    duration = video.evaluate("v => v.duration")
    assert abs(duration - expected) < 0.2, (duration, expected)
    assert video.evaluate("v => v.error") is None
    # it plays: time moves on, and a frame is there to show
    video.evaluate("v => v.play()")
    page.wait_for_function(
        "v => v.currentTime > 0.5 && v.readyState >= 2", arg=video.element_handle()
    )
    assert video.evaluate("v => v.videoWidth") == 640
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
