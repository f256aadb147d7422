"""The CLI as a user runs it: exit codes, messages, every command's --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.inventory.test_load import minimal
from vidaudit.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    return tmp_path


def commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import typer.main

    click_group = typer.main.get_command(app) if group is None else group
    found = [prefix]
    for name, sub in getattr(click_group, "commands", {}).items():
        found += commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize("argv", commands(None), ids=lambda argv: " ".join(argv) or "vidaudit")
def test_every_command_has_help(argv: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_config_check_example_structure() -> None:
    result = runner.invoke(app, ["config", "check", "--no-secrets", str(REPO / "cameras.yaml")])
    assert result.exit_code == 0, result.output
    assert "inventory is valid" in result.output
    assert "城关支行营业部" in result.output


def test_config_check_bad_file_exit_2_with_path(env: Path) -> None:
    data = minimal()
    data["branches"][0]["devices"][0]["channels"][1]["role"] = "safe"  # type: ignore[index]
    bad = env / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: branches[0].devices[0].channels[1].role" in result.output


def test_config_check_unresolved_secret_exit_2(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = env / "c.yaml"
    path.write_text(yaml.safe_dump(minimal(), allow_unicode=True), encoding="utf-8")
    monkeypatch.delenv("VIDAUDIT_PW_B1", raising=False)
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "VIDAUDIT_PW_B1 is not set" in result.output
    monkeypatch.setenv("VIDAUDIT_PW_B1", "topsecret-pw")
    ok = runner.invoke(app, ["config", "check", str(path)])
    assert ok.exit_code == 0 and "topsecret-pw" not in ok.output


def test_sync_refuses_without_schema_then_works(env: Path) -> None:
    example = str(REPO / "cameras.yaml")
    refused = runner.invoke(app, ["inventory", "sync", example])
    assert refused.exit_code == 2
    assert "run `vidaudit db upgrade` first" in refused.output
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(app, ["inventory", "sync", example])
    assert first.exit_code == 0 and "0 retired" in first.output
    again = runner.invoke(app, ["inventory", "sync", example])
    assert "0 added, 0 changed, 0 retired, 0 restored" in again.output
    shown = runner.invoke(app, ["inventory", "show"])
    assert shown.exit_code == 0 and "FY001-C01" in shown.output


@pytest.mark.parametrize("module", ["vidaudit.cli", "vidaudit.collector.shard"])
def test_the_collector_does_not_load_video_libraries(module: str) -> None:
    """`vidaudit collect` and its helper processes never decode video: OpenCV, numpy and
    PyAV (~45 MB per process) load only for the commands that do."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; "
            "print(' '.join(m for m in ('cv2', 'numpy', 'av') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == ""


@pytest.mark.parametrize(
    "argv", [["worker"], ["schedule", "--once"], ["metrics"]], ids=lambda argv: argv[0]
)
def test_distributed_commands_say_they_need_postgresql(env: Path, argv: list[str]) -> None:
    """On the default SQLite database the distributed path refuses clearly and writes
    nothing; `collect` is the way there."""
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "needs PostgreSQL" in result.output
    assert "vidaudit collect" in result.output
    assert not (env / "data").exists()
