"""`vidaudit collect` as a security department runs it: against a fleet in its own
process, JSON another tool can rely on, exit status 0 even when rules are broken."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sim_process import sim_process
from vidaudit.cli import app
from vidaudit.cli.collect import parse_every
from vidaudit.collector.lock import LockTimeout, run_lock

runner = CliRunner()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("clifleet")
    inventory = tmp / "cameras.sim.yaml"
    args = ("--nvrs", "2", "--channels", "4", "--cameras", "1", "--seed", "4")
    with sim_process(*args, "--inventory-out", str(inventory)):
        yield inventory


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "2")
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def test_json_document_shape(fleet: Path, env: Path) -> None:
    result = runner.invoke(app, ["collect", "--config", str(fleet), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"collected_at", "policy", "devices", "channels"}
    assert doc["collected_at"].endswith("+08:00")  # the branches' time zone, with offset
    assert doc["policy"]["retention_days"] == 30
    device_keys = {
        "id",
        "branch",
        "online",
        "error",
        "clock_drift_s",
        "manufacturer",
        "model",
        "firmware",
        "services",
        "unknown",
    }
    channel_keys = {
        "id",
        "device",
        "branch",
        "role",
        "recording_state",
        "earliest",
        "latest",
        "retention_days",
        "required_days",
        "occupancy",
        "gaps",
        "business_hours_covered",
        "audio",
        "verified",
        "unknown",
        "violations",
        "compliant",
    }
    assert all(device_keys <= set(d) for d in doc["devices"])
    assert all(channel_keys <= set(c) for c in doc["channels"])
    online = [d for d in doc["devices"] if d["online"]]
    assert online and all(d["error"] is None for d in online)
    for d in doc["devices"]:
        if not d["online"]:
            assert d["error"]["kind"] in {
                "unreachable",
                "timeout",
                "auth",
                "unsupported",
                "malformed",
                "device_fault",
                "config",
            }
    judged = [c for c in doc["channels"] if c["earliest"] is not None]
    assert judged
    for c in judged:
        assert "+08:00" in c["earliest"]
        assert all({"start", "end"} == set(g) for g in c["gaps"] or [])
        assert all({"rule", "severity", "detail"} <= set(v) for v in c["violations"])
        assert c["compliant"] == (not c["violations"])
    # the password never leaves the env file
    secrets = (fleet.parent / "cameras.sim.env").read_text(encoding="utf-8")
    for line in secrets.splitlines():
        if "=" in line:
            assert line.split("=", 1)[1].strip("'\"") not in result.stdout


def test_table_and_second_run(fleet: Path, env: Path) -> None:
    first = runner.invoke(app, ["collect", "-c", str(fleet)])
    assert first.exit_code == 0, first.output
    assert "channels compliant" in first.output
    second = runner.invoke(app, ["collect", "-c", str(fleet), "--branch", "FY001"])
    assert second.exit_code == 0
    assert "run 2:" in second.output


def test_usage_errors_exit_2(fleet: Path, env: Path) -> None:
    assert runner.invoke(app, ["collect", "-c", str(fleet), "--branch", "NOPE"]).exit_code == 2
    assert runner.invoke(app, ["collect", "-c", str(fleet), "--every", "5x"]).exit_code == 2
    assert runner.invoke(app, ["collect", "-c", str(env / "missing.yaml")]).exit_code == 2


def test_every_parses_durations() -> None:
    assert parse_every("30s") == 30 and parse_every("5m") == 300 and parse_every("1h") == 3600
    import typer

    with pytest.raises(typer.BadParameter):
        parse_every("5s")


def test_runs_never_overlap(tmp_path: Path) -> None:
    lock = tmp_path / "collect.lock"
    order: list[str] = []
    contended = threading.Event()  # set by the second run when it finds the lock held
    with run_lock(lock, wait_s=1):
        order.append("first holds")

        def second() -> None:
            with run_lock(lock, wait_s=60, on_wait=contended.set):
                order.append("second runs")

        thread = threading.Thread(target=second)
        thread.start()
        # The second run has tried the lock and been refused: the lock was contended,
        # not merely taken in turn.
        assert contended.wait(timeout=60), "the second run never found the lock held"
        order.append("first done")
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert order == ["first holds", "first done", "second runs"]
    # flock is per open file description: a second open in the same process conflicts
    with (
        run_lock(lock, wait_s=1),
        pytest.raises(LockTimeout, match="still holds"),
        run_lock(lock, wait_s=0.3),
    ):
        pass
