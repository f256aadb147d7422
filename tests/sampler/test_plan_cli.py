"""`vidaudit sample plan` stores plans whose random tasks re-derive from the printed seed."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import REPO
from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import (
    RegisterEntryRow,
    SpotCheckPlanRow,
    SpotCheckTaskRow,
    TaskFrameRow,
)
from vidaudit.settings import Settings

runner = CliRunner()
EXAMPLE = str(REPO / "cameras.yaml")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["register", "keygen"]).exit_code == 0
    return tmp_path


def tasks_of(plan_id: int) -> list[tuple[str, str]]:
    sessions = make_sessionmaker(make_engine(Settings()))
    with sessions() as s:
        rows = s.scalars(
            select(SpotCheckTaskRow)
            .where(SpotCheckTaskRow.plan_id == plan_id)
            .order_by(SpotCheckTaskRow.id)
        )
        return [(r.channel_id, r.start.isoformat()) for r in rows]


def test_random_plan_reproducible_from_its_seed(env: Path) -> None:
    args = [
        "sample",
        "plan",
        "-c",
        EXAMPLE,
        "--random",
        "6",
        "--period",
        "7d",
        "--start",
        "2026-11-16",
        "--roles",
        "counter",
        "--by",
        "保卫部张三",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    seed = re.search(r"seed (\d+)", first.output)
    assert seed is not None
    again = runner.invoke(app, [*args, "--seed", seed.group(1)])
    assert again.exit_code == 0
    assert tasks_of(1) == tasks_of(2) and len(tasks_of(1)) == 6
    sessions = make_sessionmaker(make_engine(Settings()))
    with sessions() as s:
        plans = s.scalars(select(SpotCheckPlanRow).order_by(SpotCheckPlanRow.id)).all()
    assert plans[0].seed == seed.group(1) and plans[0].created_by == "保卫部张三"
    assert plans[0].params["roles"] == ["counter"]


def test_targeted_plan_and_errors(env: Path) -> None:
    csv = env / "events.csv"
    csv.write_text(
        "branch,channel,instant,kind\nFY001,1号柜台,2026-11-18T10:32:15,large_withdrawal\n",
        encoding="utf-8",
    )
    ok = runner.invoke(app, ["sample", "plan", "-c", EXAMPLE, "--targeted", str(csv)])
    assert ok.exit_code == 0, ok.output
    assert tasks_of(1) == [("FY001-C01", "2026-11-18T02:30:15+00:00")]
    csv.write_text("branch,channel,instant,kind\nFY009,x,2026-11-18T10:00:00,k\n", encoding="utf-8")
    bad = runner.invoke(app, ["sample", "plan", "-c", EXAMPLE, "--targeted", str(csv)])
    assert bad.exit_code == 2 and "events.csv:2: unknown branch 'FY009'" in bad.output
    both = runner.invoke(
        app, ["sample", "plan", "-c", EXAMPLE, "--random", "2", "--targeted", str(csv)]
    )
    assert both.exit_code == 2


def test_register_and_evidence_verify_on_empty_store(env: Path) -> None:
    result = runner.invoke(app, ["register", "verify"])
    assert result.exit_code == 0 and "INTACT: 0 entries" in result.output
    result = runner.invoke(app, ["evidence", "verify"])
    assert result.exit_code == 0 and "0 files and 0 references checked" in result.output


@pytest.fixture(scope="module")
def sim_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A one-NVR fleet in its own process (the CLI runs its own event loop)."""
    tmp = tmp_path_factory.mktemp("planfleet")
    hours = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    scenario = {
        "seed": 2,
        "branches": [
            {
                "id": "LAB",
                "name": "实验网点",
                "hours": hours,
                "devices": [
                    {
                        "id": "UNV",
                        "vendor": "uniview",
                        "channels": [
                            {"id": "C1", "role": "counter"},
                            {"id": "C2", "role": "counter"},
                        ],
                    }
                ],
            }
        ],
    }
    (tmp / "scenario.yaml").write_text(yaml.safe_dump(scenario, allow_unicode=True), "utf-8")
    inventory = tmp / "cameras.sim.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vidaudit.sim",
            "--scenario",
            str(tmp / "scenario.yaml"),
            "--inventory-out",
            str(inventory),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "ready" in process.stdout.readline()
    try:
        yield inventory
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_planned_tasks_get_their_frames(env: Path, sim_inventory: Path) -> None:
    planned = runner.invoke(
        app,
        [
            "sample",
            "plan",
            "-c",
            str(sim_inventory),
            "--random",
            "2",
            "--period",
            "3d",
            "--frames",
            "3",
        ],
    )
    assert planned.exit_code == 0, planned.output
    pulled = runner.invoke(app, ["sample", "pull", "1", "-c", str(sim_inventory)])
    assert pulled.exit_code == 0, pulled.output
    assert "2/2 planned tasks pulled" in pulled.output
    sessions = make_sessionmaker(make_engine(Settings()))
    with sessions() as s:
        tasks = s.scalars(select(SpotCheckTaskRow)).all()
        assert {t.status for t in tasks} == {"pulled"}
        frames = s.scalars(select(TaskFrameRow)).all()
        assert len(frames) == 6 and all(f.task_id in {t.id for t in tasks} for f in frames)
        for frame in frames:
            task = next(t for t in tasks if t.id == frame.task_id)
            assert task.start <= frame.requested <= task.end
        # the register words a task's pull as the web does (one wording, in Chinese)
        reasons = s.scalars(
            select(RegisterEntryRow.reason).where(RegisterEntryRow.action == "frame_pull")
        ).all()
        assert sorted(reasons) == sorted(f"抽查任务 #{t.id} 随机抽查" for t in tasks)
    missing = runner.invoke(app, ["sample", "pull", "9", "-c", str(sim_inventory)])
    assert missing.exit_code == 2 and "no spot-check plan 9" in missing.output
