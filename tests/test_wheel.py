"""The wheel works outside the checkout.

Built as a user's ``pip install vidaudit`` would get it: an sdist first (hatchling, the
build backend), the wheel from that sdist; installed into a fresh venv under the test's
temporary folder with exactly requirements/runtime.lock (hash-checked, by uv from the dev
lock: seconds instead of a minute of pip); then ``vidaudit db upgrade`` and ``vidaudit
serve`` run there, in a folder with no checkout, and serve the Chinese login page and a
static file from the copy of web/ inside the wheel.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{cmd}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the runtime lock and the wheel; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    run(BIN / "python", "-m", "hatchling", "build", "-t", "sdist", "-d", dist, cwd=REPO)
    (sdist,) = dist.glob("vidaudit-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp / "src", filter="data")
    (source,) = (tmp / "src").iterdir()
    run(BIN / "python", "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", dist, source, cwd=tmp)  # fmt: skip
    (wheel,) = dist.glob("vidaudit-*.whl")

    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    uv = (BIN / "uv", "pip", "install", "-q", "--python", python)
    run(*uv, "--require-hashes", "-r", REPO / "requirements" / "runtime.lock", cwd=tmp)
    run(*uv, "--no-deps", wheel, cwd=tmp)
    return venv / "bin"


def clean_env(home: Path) -> dict[str, str]:
    """The environment without this checkout's venv, paths or settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIDAUDIT_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["VIDAUDIT_DATA_DIR"] = str(home / "data")
    env["PATH"] = os.defpath
    return env


@pytest.fixture
def server(installed: Path, tmp_path: Path) -> Iterator[str]:
    """`vidaudit serve` from the venv, on a free port; yields its base URL."""
    env = clean_env(tmp_path)
    run(installed / "vidaudit", "db", "upgrade", cwd=tmp_path, env=env)
    process = subprocess.Popen(
        [installed / "vidaudit", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stderr], daemon=True)
    reader.start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while True:  # wait for uvicorn to say where it listens, with a bound
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"vidaudit serve did not start in 60 s: {''.join(seen)}")
            seen.append(line)
            if found := STARTED.search(line):
                break
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_wheel_carries_web_and_runs_without_the_checkout(installed: Path) -> None:
    where = run(
        installed / "python",
        "-c",
        "import vidaudit, vidaudit.web.state as s; print(vidaudit.__file__); print(s.WEB_ROOT)",
        cwd=installed,
        env=clean_env(installed),
    ).split()
    site = installed.parent / "lib"
    assert all(Path(p).is_relative_to(site) for p in where), where
    web = Path(where[1])
    assert web.name == "_web" and (web / "templates" / "login.html").is_file()
    shipped = sorted(p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file())
    ours = sorted(p.relative_to(REPO / "web").as_posix() for p in (REPO / "web").rglob("*"))
    assert shipped == [p for p in ours if (REPO / "web" / p).is_file()]


def test_the_installed_wheel_serves_the_chinese_login_page_and_static_files(
    server: str,
) -> None:
    with urllib.request.urlopen(f"{server}/login", timeout=30) as reply:
        assert reply.status == 200
        html = reply.read().decode()
    assert '<html lang="zh-CN">' in html
    assert "登录 vidaudit" in html and "用户名" in html and "密码" in html
    with urllib.request.urlopen(f"{server}/static/style.css", timeout=30) as reply:
        assert reply.status == 200
        assert reply.read() == (REPO / "web" / "static" / "style.css").read_bytes()
