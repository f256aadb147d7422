"""Pulling real frames through the web view from the simulated fleet (real ONVIF, real
RTSP replay serving H.264): the planned frames, a step of +N seconds, and a pull where
there is no footage; each pull is registered and each frame shows its actual instant."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.web.conftest import WebEnv, build_web_env
from tests.web.test_review_flow import post
from vidaudit.db.models import RegisterEntryRow, SpotCheckTaskRow, TaskFrameRow
from vidaudit.inventory import load_inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.review.register import verify
from vidaudit.sampler.plan import PlannedTask, TaskKind
from vidaudit.sampler.store import save_plan
from vidaudit.sim import parse_scenario, running_fleet
from vidaudit.sim.fleet import Fleet

ALL_DAYS = {d: "00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SCENARIO: dict[str, Any] = {
    "seed": 5,
    "branches": [
        {
            "id": "B1",
            "name": "城关支行营业部",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "B1-HIK",
                    "vendor": "hikvision",
                    "clock_drift_s": 12,
                    "channels": [{"id": "B1-HIK-C1", "role": "counter"}],
                }
            ],
        }
    ],
}


@contextlib.contextmanager
def fleet_in_thread(path: Path) -> Iterator[Fleet]:
    """The fleet on its own event loop in a thread: the web app under TestClient runs
    on another loop, and a pull must reach the devices while a request is being served."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        box["stop"], box["loop"] = stop, asyncio.get_running_loop()
        async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
            box["fleet"] = fleet
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(60):
        pytest.fail("the simulated fleet did not start within 60 s")
    try:
        yield box["fleet"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=30)


@pytest.mark.timeout(180)
def test_frames_pulled_through_the_web_view(
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
                        event_at=start + dt.timedelta(minutes=1),
                    ),
                    PlannedTask(
                        "B1",
                        "B1-HIK-C1",
                        env.now - dt.timedelta(days=400),
                        env.now - dt.timedelta(days=400) + dt.timedelta(minutes=1),
                        TaskKind.TARGETED,
                        reason="too old",
                    ),
                ],
                params={},
                frames_per_task=2,
            )
            task_id, old_id = db.scalars(
                select(SpotCheckTaskRow.id)
                .where(SpotCheckTaskRow.plan_id == plan.id)
                .order_by(SpotCheckTaskRow.id)
            ).all()
        url = f"/spot-checks/{task_id}"
        with env.client_as("insp") as insp:
            pulled = post(insp, f"{url}/pull", {"mode": "planned"})
            assert pulled.status_code == 303, pulled.text
            assert "done=pulled&n=2" in pulled.headers["location"]
            with env.sessions() as db:
                frames = db.scalars(select(TaskFrameRow).order_by(TaskFrameRow.id)).all()
            assert len(frames) == 2
            page = insp.get(url).text
            for frame in frames:
                assert frame.actual is not None and abs(frame.delta_ms or 0) <= 50
                image = insp.get(f"/review-evidence/{frame.evidence_sha256}")
                assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
                # labelled by its actual instant in the branch's time (Asia/Shanghai), to
                # the millisecond, with its date beside it
                shown = frame.actual.astimezone(dt.timezone(dt.timedelta(hours=8)))
                label = shown.strftime("%H:%M:%S") + f".{shown.microsecond // 1000:03d}"
                assert f'data-label="{label}"' in page
                assert shown.strftime("%Y-%m-%d") in page
            stepped = post(
                insp,
                f"{url}/pull",
                {
                    "mode": "step",
                    "frame_id": str(frames[0].id),
                    "step_s": "7",
                    "direction": "forward",
                },
            )
            assert "done=pulled&n=1" in stepped.headers["location"]
            with env.sessions() as db:
                newest = db.scalars(select(TaskFrameRow).order_by(TaskFrameRow.id.desc())).first()
                assert newest is not None and newest.actual is not None
                assert frames[0].actual is not None
                gap = (newest.actual - frames[0].actual).total_seconds()
                assert abs(gap - 7) <= 0.1
                assert db.get(SpotCheckTaskRow, task_id).status == "pulled"  # type: ignore[union-attr]

            missing = post(insp, f"/spot-checks/{old_id}/pull", {"mode": "planned"})
            assert "error=not_found" in missing.headers["location"]
            assert "所选时刻设备上没有录像" in insp.get(missing.headers["location"]).text
        with env.sessions() as db:
            pulls = db.scalars(
                select(RegisterEntryRow).where(RegisterEntryRow.action == "frame_pull")
            ).all()
            # three pulls, the failed one too, each with who and why
            assert [p.actor for p in pulls] == ["insp"] * 3
            # the purpose as a code with values, the task's own words as the reason
            assert [p.details["purpose"] for p in pulls] == ["task"] * 3
            assert {p.details["task_kind"] for p in pulls} == {"targeted"}
            assert [p.details["task_id"] for p in pulls] == [task_id, task_id, old_id]
            assert [p.reason for p in pulls] == ["large_withdrawal: 50000"] * 2 + ["too old"]
            assert verify(db).ok
        env.engine.dispose()
