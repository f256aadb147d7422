"""`vidaudit clip` from an exported file: the MP4 kept as evidence, its first and last frame
times (read back from the frames), the register, and the usage errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.media.clips import write_clip
from tests.media.timecode import read_timecode
from vidaudit.cli import app

runner = CliRunner()
BASE = [
    "clip",
    "-c",
    str(REPO / "cameras.yaml"),
    "--device",
    "FY001-NVR1",
    "--channel",
    "FY001-C01",
    "--reason",
    "客户投诉核实",
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    # `register verify` checks the entries' signatures (issue 12): a key must exist
    assert runner.invoke(app, ["register", "keygen"]).exit_code == 0
    return tmp_path


def test_clip_from_exported_file(env: Path) -> None:
    export = write_clip(env / "export.mp4", seconds=12, fps=25, gop_seconds=2)
    result = runner.invoke(
        app,
        [
            *BASE,
            "--file",
            str(export.path),
            "--file-start",
            "2026-11-20T10:32:10+08:00",
            "--at",
            "2026-11-20T10:32:16",  # branch time: 6 s into the file
            "--seconds",
            "6",
            "--out",
            str(env / "out"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "file" and doc["codec"] == "h264"
    # [3 s, 9 s] of the file: from the keyframe at 2 s (GOP 2 s) to the frame at 9 s
    assert doc["first"] == "2026-11-20T10:32:12.000+08:00"
    assert doc["last"] == "2026-11-20T10:32:19.000+08:00"
    assert Path(doc["path"]).parent == env / "out"
    with av.open(doc["path"]) as container:
        codes = [read_timecode(f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    assert (codes[0], codes[-1], len(codes)) == (2000, 9000, doc["frames"])
    verified = runner.invoke(app, ["register", "verify"])
    assert verified.exit_code == 0 and "INTACT: 1 entries" in verified.output
    evidence = runner.invoke(app, ["evidence", "verify"])
    assert (
        evidence.exit_code == 0
        and "evidence INTACT: 1 files and 0 references checked" in evidence.output
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--at", "2026-11-20T10:32:16", "--seconds", "4"], "--seconds must be 5-60, not 4"),
        (["--at", "2026-11-20T10:32:16", "--seconds", "61"], "--seconds must be 5-60"),
        (["--at", "2026-11-20T10:32:16", "--file", "x.mp4"], "--file needs --file-start"),
        (["--at", "yesterday"], "is not an ISO 8601 time"),
    ],
)
def test_clip_usage_errors_write_nothing(env: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, [*BASE, *extra])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    verified = runner.invoke(app, ["register", "verify"])
    assert verified.exit_code == 0 and "INTACT: 0 entries" in verified.output
