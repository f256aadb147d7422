"""``vidaudit sim`` in a process of its own, as an administrator's test bench runs it: the
commands under test then reach it only over loopback, never through shared memory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import REPO


@contextmanager
def sim_process(*args: str) -> Iterator[None]:
    """Run ``python -m vidaudit.sim ARGS`` until the block ends; enter once it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vidaudit.sim", *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "ready" in line, line
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)
