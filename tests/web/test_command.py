"""``vidaudit user add|list|disable`` and ``vidaudit serve``'s schema check."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from tests.web.conftest import WebEnv, build_web_env
from vidaudit.cli.web import serve_command, user_app
from vidaudit.db.models import UserRow

runner = CliRunner()
NEW_PASSWORD = "a new and long password"


def cli() -> typer.Typer:
    # cli/main.py registers these the same way; built here so the tests do not depend on it.
    app = typer.Typer()
    app.add_typer(user_app, name="user")
    app.command("serve")(serve_command)
    return app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WebEnv:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    web = build_web_env(url, monkeypatch)
    monkeypatch.setenv("VIDAUDIT_DATABASE_URL", url)
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    return web


def test_user_add_from_stdin_prints_nothing_secret(env: WebEnv) -> None:
    result = runner.invoke(
        cli(),
        [
            "user",
            "add",
            "wang",
            "--role",
            "administrator",
            "--branch",
            "B2",
            "--name",
            "王工",
            "--password-stdin",
        ],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "user wang added: role administrator, branch B2" in result.output
    assert NEW_PASSWORD not in result.output and "$argon2" not in result.output
    with env.sessions() as db:
        user = db.scalars(select(UserRow).where(UserRow.username == "wang")).one()
        assert user.password_hash.startswith("$argon2id$") and user.display_name == "王工"
    listed = runner.invoke(cli(), ["user", "list"])
    assert listed.exit_code == 0 and "wang" in listed.output and "$argon2" not in listed.output


def test_user_add_prompts_twice(env: WebEnv) -> None:
    result = runner.invoke(
        cli(),
        ["user", "add", "li", "--role", "inspector"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    mismatch = runner.invoke(
        cli(), ["user", "add", "li2", "--role", "inspector"], input=f"{NEW_PASSWORD}\nother\n" * 3
    )
    assert mismatch.exit_code != 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["head", "--role", "auditor"], "exists already"),
        (["x", "--role", "branch_head"], "give --branch"),
        (["x", "--role", "security", "--branch", "B1"], "leave out --branch"),
        (["x", "--role", "administrator", "--branch", "NOPE"], "no branch 'NOPE'"),
        (["x", "--role", "auditor", "--locale", "fr"], "zh or en"),
    ],
)
def test_user_add_refuses_mistakes(env: WebEnv, args: list[str], message: str) -> None:
    result = runner.invoke(cli(), ["user", "add", *args, "--password-stdin"], input=NEW_PASSWORD)
    assert result.exit_code == 2 and message in result.output


def test_short_password_is_refused(env: WebEnv) -> None:
    result = runner.invoke(
        cli(), ["user", "add", "x", "--role", "auditor", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 2 and "at least 10 characters" in result.output


def test_user_disable_ends_sessions(env: WebEnv) -> None:
    with env.client_as("admin") as client:
        assert client.get("/").status_code == 200
        result = runner.invoke(cli(), ["user", "disable", "admin"])
        assert result.exit_code == 0, result.output
        assert client.get("/").status_code == 303


def test_serve_refuses_an_old_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAUDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    result = runner.invoke(cli(), ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "vidaudit db upgrade" in result.output
