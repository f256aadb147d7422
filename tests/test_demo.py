"""`vidaudit demo --no-serve` as a newcomer runs it (pen test item 8): it prints the
accounts whose passwords it reset, keeps its files private, and leaves a register that
an auditor verifies with the public key and the checkpoints alone."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from vidaudit.accounts.users import verify_password
from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import UserRow
from vidaudit.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_without_serving_prints_its_accounts_and_keeps_files_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(data))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIDAUDIT_REGISTER_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"(demo-[a-z]+)\s+│\s+(\S+)\s+│", result.output))
    assert set(printed) == {
        "demo-security",
        "demo-inspector",
        "demo-head",
        "demo-admin",
        "demo-auditor",
    }
    engine = make_engine(Settings(), create=False)
    with make_sessionmaker(engine)() as db:
        hashes = {u.username: u.password_hash for u in db.scalars(select(UserRow))}
    engine.dispose()
    for username, password in printed.items():
        assert verify_password(hashes[username], password), username

    assert mode(data) == 0o700 and mode(data / "evidence") == 0o700
    for private in ("vidaudit.db", "register-key.pem", "register-checkpoints.txt"):
        assert mode(data / private) == 0o600, private
    for root, dirs, files in os.walk(data / "evidence"):
        assert all(mode(Path(root) / d) == 0o700 for d in dirs)
        assert all(mode(Path(root) / f) == 0o400 for f in files)

    # The auditor: only the public half and the kept checkpoints, no private key.
    monkeypatch.setenv("VIDAUDIT_REGISTER_KEY", str(tmp_path / "no-such-key.pem"))
    public = tmp_path / "auditor.pub"
    public.write_bytes((data / "register-key.pem.pub").read_bytes())
    kept = tmp_path / "kept.txt"
    kept.write_bytes((data / "register-checkpoints.txt").read_bytes())
    verified = runner.invoke(
        app, ["register", "verify", "--public-key", str(public), "--checkpoints", str(kept)]
    )
    assert verified.exit_code == 0, verified.output
    assert "review register INTACT" in verified.output and "NOT checked" not in verified.output
    evidence = runner.invoke(app, ["evidence", "verify"])
    assert evidence.exit_code == 0 and "evidence INTACT" in evidence.output
