"""`vidaudit frames` from an exported file: exact frames, evidence, diagnostics, register."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.media.clips import write_clip
from tests.media.timecode import read_timecode
from vidaudit.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["register", "keygen"]).exit_code == 0
    return tmp_path


def test_frames_from_exported_file(env: Path) -> None:
    clip = write_clip(env / "export.mp4", seconds=6)
    result = runner.invoke(
        app,
        [
            "frames",
            "-c",
            str(REPO / "cameras.yaml"),
            "--device",
            "FY001-NVR1",
            "--channel",
            "FY001-C01",
            "--file",
            str(clip.path),
            "--file-start",
            "2026-11-20T10:32:10+08:00",
            "--at",
            "2026-11-20T10:32:12.340+08:00",
            "--at",
            "2026-11-20T10:32:15",
            "--reason",
            "客户投诉核实",
            "--by",
            "inspector-li",
            "--out",
            str(env / "out"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "file"
    first, second = doc["frames"]
    assert first["requested"] == "2026-11-20T10:32:12.340+08:00"
    # the nearest frame's own time code says which instant it shows
    image = cv2.imread(first["path"])
    assert abs(read_timecode(image) - 2340) <= clip.frame_ms / 2 + 1
    assert abs(first["delta_ms"]) <= clip.frame_ms / 2
    assert second["requested"] == "2026-11-20T10:32:15.000+08:00"  # branch time zone
    assert Path(first["path"]).parent == env / "out"
    assert first["sha256"] != second["sha256"]
    assert first["diagnostics"]["verdict"] in {"pass", "fail"}
    verified = runner.invoke(app, ["register", "verify"])
    assert verified.exit_code == 0 and "INTACT: 1 entries" in verified.output
    evidence = runner.invoke(app, ["evidence", "verify"])
    assert evidence.exit_code == 0 and "2 files and 2 references checked" in evidence.output


def test_frames_usage_errors(env: Path) -> None:
    base = [
        "frames",
        "-c",
        str(REPO / "cameras.yaml"),
        "--reason",
        "x",
        "--at",
        "2026-11-20T10:00:00",
    ]
    wrong = runner.invoke(app, [*base, "--device", "FY001-NVR1", "--channel", "FY002-C01"])
    assert wrong.exit_code == 2 and "no channel FY002-C01 on device FY001-NVR1" in wrong.output
    no_start = runner.invoke(
        app,
        [*base, "--device", "FY001-NVR1", "--channel", "FY001-C01", "--file", str(env / "x.mp4")],
    )
    assert no_start.exit_code == 2
