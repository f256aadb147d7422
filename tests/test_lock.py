"""scripts/lock.py: a lock that does not match pyproject.toml, or was edited by hand, stops
bootstrap; `make add` puts a requirement in the right list without disturbing the file."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("lock", REPO / "scripts" / "lock.py")
assert spec is not None and spec.loader is not None
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files scripts/lock.py reads, copied: the real ones are never touched."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "lock.py", tmp_path / "scripts")
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    return tmp_path


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "lock.py"), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_committed_locks_match_pyproject(checkout: Path) -> None:
    done = check(checkout)
    assert done.returncode == 0, done.stderr


def test_a_range_changed_without_make_lock_fails_loudly(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    text = pyproject.read_text()
    assert '"reportlab>=4.0",' in text
    pyproject.write_text(text.replace('"reportlab>=4.0",', '"reportlab>=4.0,<5",'))
    done = check(checkout)
    assert done.returncode == 1
    assert "requirements/dev.lock was not compiled from the current pyproject.toml" in done.stderr
    assert "make lock" in done.stderr


def test_a_version_edited_by_hand_fails_loudly(checkout: Path) -> None:
    runtime = checkout / "requirements" / "runtime.lock"
    text = runtime.read_text()
    line = next(x for x in text.splitlines() if x.startswith("reportlab=="))
    runtime.write_text(text.replace(line, "reportlab==4.4.0 \\"))
    done = check(checkout)
    assert done.returncode == 1
    assert "requirements/runtime.lock was edited by hand" in done.stderr


def test_a_new_ipycam_pin_needs_make_lock(checkout: Path) -> None:
    (checkout / "requirements" / "ipycam.in").write_text("ipycam==1.2.0\n")
    done = check(checkout)
    assert done.returncode == 1 and "requirements/ipycam.lock" in done.stderr


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    for path in (REPO / "requirements").glob("*.lock"):
        _, body = lock._split(path.read_text())
        stanzas = [s for s in body.split("\n") if s[:1].isalnum()]
        assert stanzas, path
        for stanza in stanzas:
            assert "==" in stanza and stanza.rstrip().endswith("\\"), (path, stanza)
        assert body.count("--hash=sha256:") >= len(stanzas)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("[project]", "dependencies"),
        ("[project.optional-dependencies]", "test"),
        ("[project.optional-dependencies]", "docs"),
        ("[dependency-groups]", "dev"),
    ],
)
def test_add_puts_the_requirement_in_its_list(table: str, key: str) -> None:
    original = (REPO / "pyproject.toml").read_text()
    changed = lock.with_requirement(original, "xmlschema>=3.4", table, key)
    data = tomllib.loads(changed)
    lists = {
        "[project]": data["project"],
        "[project.optional-dependencies]": data["project"]["optional-dependencies"],
        "[dependency-groups]": data["dependency-groups"],
    }
    assert lists[table][key][-1] == "xmlschema>=3.4"
    # nothing else moved: removing the one line gives the original back
    assert (
        changed.replace('    "xmlschema>=3.4",\n', "", 1).replace(f"{key} = [\n]\n", "") == original
    )
