"""Every capture folder under tests/captures/ (and ../shared/fixtures/captures/, where
the team keeps those too large or too numerous for the repository) replays to the
conclusions its manifest records (tests/capture_replay.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capture_replay import check_capture
from tests.conftest import REPO, SHARED
from vidaudit.capture.layout import find_captures

pytestmark = pytest.mark.timeout(120)

CAPTURES = find_captures(REPO / "tests" / "captures", SHARED / "fixtures" / "captures")


@pytest.mark.skipif(not CAPTURES, reason="no capture folder yet in tests/captures/")
@pytest.mark.parametrize("folder", CAPTURES, ids=[p.name for p in CAPTURES])
async def test_capture_replays_to_its_conclusions(folder: Path) -> None:
    await check_capture(folder)
