"""`python -m vidaudit.sim`: ready line, valid inventory, clean shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from vidaudit.inventory import load_inventory

pytestmark = pytest.mark.timeout(60)


async def test_command_runs_until_sigterm(tmp_path: Path) -> None:
    inventory = tmp_path / "cameras.sim.yaml"
    truth = tmp_path / "truth.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vidaudit.sim",
        "--nvrs",
        "4",
        "--channels",
        "8",
        "--cameras",
        "2",
        "--seed",
        "2",
        "--inventory-out",
        str(inventory),
        "--truth-out",
        str(truth),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = (await proc.stdout.readline()).decode()
        assert "ready" in line and str(inventory) in line
        loaded = load_inventory(inventory)
        assert len(loaded.branches) == 3 and len(loaded.devices()) == 6
        assert (tmp_path / "cameras.sim.env").stat().st_mode & 0o777 == 0o600
        assert set(json.loads(truth.read_text())["devices"]) == {d.id for _, d in loaded.devices()}
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
