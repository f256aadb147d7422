"""`vidaudit notify …` and a wrong [notify] section: one line naming the file and key,
exit 2, the mistaken secret never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.notify.receivers import HttpReceiver
from vidaudit.cli import app

runner = CliRunner()


def test_a_literal_secret_in_the_settings_is_refused_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "vidaudit.toml"
    settings.write_text(
        """
[notify]
base_url = "https://v.bank.example"
[notify.channels.mail]
kind = "email"
host = "smtp.bank.example"
sender = "v@bank.example"
username = "vidaudit"
password = "hunter2-literal"
reaches = [{ role = "security" }]
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(settings))
    result = runner.invoke(app, ["notify", "check"])
    assert result.exit_code == 2
    assert f"{settings}: notify.channels.mail" in result.output
    assert "password" in result.output and "never the secret itself" in result.output
    assert "hunter2-literal" not in result.output


def test_notify_test_sends_now_and_check_lists_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as http:
        settings = tmp_path / "vidaudit.toml"
        settings.write_text(
            f"""
[notify]
base_url = "https://v.bank.example"
[notify.channels.ops]
kind = "webhook"
url = "{http.url("/hook")}"
token = "${{T_OPS_TOKEN}}"
language = "en"
reaches = [{{ role = "security" }}]
""",
            encoding="utf-8",
        )
        monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(settings))
        monkeypatch.delenv("T_OPS_TOKEN", raising=False)
        check = runner.invoke(app, ["notify", "check"])
        assert check.exit_code == 2  # the token's variable is not set here
        assert "T_OPS_TOKEN is not set" in check.output
        monkeypatch.setenv("T_OPS_TOKEN", "tok-123")
        assert runner.invoke(app, ["notify", "check"]).exit_code == 0
        sent = runner.invoke(app, ["notify", "test", "ops"])
        assert sent.exit_code == 0, sent.output
        (request,) = http.on("/hook")
        assert request.json()["title"] == "[vidaudit] notification channel test"
        assert request.headers["authorization"] == "Bearer tok-123"
        http.replies.append((500, {}))
        failed = runner.invoke(app, ["notify", "test", "ops"])
        assert failed.exit_code == 1 and "device_fault: webhook: HTTP 500" in failed.output
