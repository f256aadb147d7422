"""The CLI as a user runs it: exit codes, messages, every command's --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

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
    monkeypatch.delenv("VIDAUDIT_LANGUAGE", raising=False)
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
    database = env / "data" / "vidaudit.db"
    # It says where it looked, and leaves no empty database behind (pen test, item 8).
    assert f"no vidaudit database at {database}" in refused.output
    assert "`vidaudit db upgrade`" in refused.output
    assert not database.exists() and not (env / "data").exists()
    for argv in (["db", "status"], ["register", "verify"], ["user", "list"], ["serve"]):
        elsewhere = runner.invoke(app, argv)
        assert elsewhere.exit_code == 2 and str(database) in elsewhere.output, argv
    assert not (env / "data").exists()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert database.stat().st_mode & 0o777 == 0o600
    assert (env / "data").stat().st_mode & 0o777 == 0o700
    schema_only = runner.invoke(app, ["inventory", "show"])
    assert schema_only.exit_code == 0
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


def test_register_verify_without_the_register_table_says_so(env: Path) -> None:
    """Pen test item 8: a traceback before."""
    from sqlalchemy import text

    from vidaudit.db.engine import make_engine
    from vidaudit.settings import Settings

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(Settings(), create=False)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        conn.execute(text("DROP TABLE register_entries"))
    engine.dispose()
    result = runner.invoke(app, ["register", "verify"])
    assert result.exit_code == 2, result.output
    assert "has no review register (no register_entries table)" in result.output
    assert "Traceback" not in result.output


def test_register_keygen_checkpoint_and_verify_from_the_command_line(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    unsigned = runner.invoke(app, ["register", "verify"])
    # findings in the catalogue's words, Chinese unless VIDAUDIT_LANGUAGE says otherwise
    assert unsigned.exit_code == 1
    assert "没有用于核验签名的公钥:请用 --public-key 指定公钥文件。" in unsigned.output
    english = runner.invoke(app, ["register", "verify"], env={"VIDAUDIT_LANGUAGE": "en"})
    assert english.exit_code == 1
    assert "No public key to check the signatures with: give --public-key FILE." in english.output
    made = runner.invoke(app, ["register", "keygen"])
    assert made.exit_code == 0, made.output
    key = env / "data" / "register-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600 and "fingerprint" in made.output
    again = runner.invoke(app, ["register", "keygen"])
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert runner.invoke(app, ["register", "checkpoint"]).output.startswith("the register is empty")
    ok = runner.invoke(app, ["register", "verify"])
    assert ok.exit_code == 0 and "INTACT" in ok.output, ok.output
    key.chmod(0o644)
    loose = runner.invoke(app, ["register", "verify"])
    assert loose.exit_code == 2 and "chmod 600" in loose.output


def test_register_verify_reports_a_deleted_tail_in_the_users_language(env: Path) -> None:
    """The findings a person reads come from the catalogues (zh by default), the same
    words as the web page's verify button."""
    import datetime as dt

    from sqlalchemy import text

    from tests.review.test_register import drop_guards
    from vidaudit.db.engine import make_engine
    from vidaudit.review.register import Entry, append, signed_sessions
    from vidaudit.settings import Settings

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["register", "keygen"]).exit_code == 0
    settings = Settings()
    engine = make_engine(settings, create=False)
    now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
    with signed_sessions(settings, engine).begin() as db:
        for n in range(3):
            append(db, Entry("admin", "administrator", "playback", f"回放 {n}", "B1"), now)
    assert runner.invoke(app, ["register", "checkpoint"]).exit_code == 0

    drop_guards(SimpleNamespace(engine=engine))  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM register_entries WHERE seq = 3"))
        conn.execute(
            text(
                "UPDATE register_head SET seq = 2, hash = "
                "(SELECT hash FROM register_entries WHERE seq = 2)"
            )
        )
    engine.dispose()
    zh = runner.invoke(app, ["register", "verify"])
    assert zh.exit_code == 1 and "BROKEN" in zh.output
    assert "证明登记簿曾有 3 条,现仅到第 2 条:末尾登记已被删除。" in zh.output, zh.output
    en = runner.invoke(app, ["register", "verify"], env={"VIDAUDIT_LANGUAGE": "en"})
    assert en.exit_code == 1
    assert "vouches for 3 entries, the register ends at 2" in en.output, en.output
    assert "末尾登记" not in en.output
