"""The collector's verdicts against truth.json at wall-clock instants the suite would
otherwise meet only by luck.

The truth tests read a fleet laid out around *now*, so what they check depends on the
hour they run: CI once failed at 00:29 Beijing time (the window's first day was skipped
between midnight and opening), and a run started in one 95-second stretch put a random gap
at the edge of business hours on a drifting recorder.  Here those tests run again in a
child pytest whose clock Debian's ``faketime`` (libfaketime) moves to each instant; every
process it starts (the simulator's servers included) shares the moved clock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO

FAKETIME = shutil.which("faketime")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    # in CI a missing faketime is a failure (scripts/debian-packages.txt installs it)
    pytest.mark.skipif(FAKETIME is None and not IN_CI, reason="needs Debian's faketime"),
]

TRUTH_TESTS = [
    "tests/collector/test_collect_sim.py",
    "tests/collector/test_collect_gb28181.py",
    "tests/collector/test_collect_vendor_api.py",
]

INSTANTS = {
    # 00:29 Beijing: the 30-day window opens before that day's hours (CI, 2026-12-03)
    "after_local_midnight": "2026-12-03T16:29:00+00:00",
    # a random gap of GB01-C04 ends between 08:00 on the recorder's clock and 08:00
    "gap_at_opening_on_a_drifting_clock": "2026-12-03T17:40:30+00:00",
    # 17:25 Beijing on a Friday: inside the closing margin
    "closing_margin": "2026-12-04T09:25:00+00:00",
    # 00:05 on New Year's Day, in ISO week 53 of 2026
    "new_year": "2026-12-31T16:05:00+00:00",
}


@pytest.mark.parametrize("instant", INSTANTS.values(), ids=INSTANTS.keys())
def test_truth_tests_pass_at(instant: str, tmp_path: Path) -> None:
    assert FAKETIME is not None, "Debian's faketime is not installed"
    offset = round((dt.datetime.fromisoformat(instant) - dt.datetime.now(dt.UTC)).total_seconds())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("VIDAUDIT_TEST_PG", None)  # these tests read SQLite; PostgreSQL is elsewhere
    env["FAKETIME_DONT_RESET"] = "1"
    done = subprocess.run(
        [
            FAKETIME,
            "-f",
            f"{offset:+d}",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "run"),
            *TRUTH_TESTS,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # the child really ran at the instant: its fleet's truth was generated then
    truth = json.loads((tmp_path / "run" / "gbfleet0" / "truth.json").read_text(encoding="utf-8"))
    generated = dt.datetime.fromisoformat(truth["generated_at"].replace("Z", "+00:00"))
    assert abs(generated - dt.datetime.fromisoformat(instant)) < dt.timedelta(minutes=2)
