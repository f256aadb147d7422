"""A password reference that does not resolve is a configuration error (kind ``config``):
every command that would reach a device says so in one line, exits 2, and writes nothing
(no register entry, no inventory sync, no retention check, no evidence)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import REPO
from vidaudit.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    for name in ("VIDAUDIT_PW_FY001_NVR1", "VIDAUDIT_PW_FY001_ATM1", "VIDAUDIT_PW_FY002_NVR1"):
        monkeypatch.delenv(name, raising=False)
    # the example inventory, without the env file its references could come from
    shutil.copy(REPO / "cameras.yaml", tmp_path / "cameras.yaml")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def written(env: Path) -> dict[str, object]:
    """Rows in every table, and the files in the data folder besides the database."""
    engine = sa.create_engine(f"sqlite:///{env / 'data' / 'vidaudit.db'}")
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        counts: dict[str, object] = {
            t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
            for t in tables
            if t != "alembic_version"
        }
    engine.dispose()
    counts["files"] = sorted(
        str(p.relative_to(env)) for p in (env / "data").rglob("*") if "vidaudit.db" not in p.name
    )
    return counts


def one_clear_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output and "KeyError" not in output
    return lines[0]


def test_retention_verify_with_an_unset_password(env: Path) -> None:
    before = written(env)
    assert before["register_entries"] == before["branches"] == before["retention_checks"] == 0
    result = runner.invoke(app, ["retention", "verify", "-c", str(env / "cameras.yaml")])
    assert result.exit_code == 2, result.output
    line = one_clear_line(result.output)
    assert line.startswith("error: config: FY001-NVR1: environment variable ")
    assert "VIDAUDIT_PW_FY001_NVR1 is not set" in line
    assert written(env) == before


def test_frames_with_an_unset_password(env: Path) -> None:
    before = written(env)
    argv = ["frames", "-c", str(env / "cameras.yaml"), "--device", "FY002-NVR1"]
    argv += ["--channel", "FY002-C01", "--at", "2026-11-20T10:32:15+08:00", "--reason", "x"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "VIDAUDIT_PW_FY002_NVR1 is not set" in one_clear_line(result.output)
    assert written(env) == before


def test_sample_pull_with_an_unset_password(env: Path) -> None:
    inventory = str(env / "cameras.yaml")
    planned = runner.invoke(
        app, ["sample", "plan", "-c", inventory, "--random", "3", "--period", "7d"]
    )
    assert planned.exit_code == 0, planned.output
    before = written(env)
    assert before["spot_check_tasks"] == 3
    result = runner.invoke(app, ["sample", "pull", "1", "-c", inventory])
    assert result.exit_code == 2, result.output
    line = one_clear_line(result.output)
    # the plan is random: its first device may use ${VIDAUDIT_PW_…} or a password_file
    assert line.startswith("error: config: FY00")
    assert "is not set" in line or "does not exist" in line
    assert written(env) == before
