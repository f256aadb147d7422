"""The layers hold: `make lint` runs import-linter with the contracts in pyproject.toml,
and each contract fails on a deliberate bad import (made in a copy of the package, so the
checkout is never touched).  The pure rules load no OpenCV when imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the ``vidaudit`` package found first on the path under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken(output: str) -> set[str]:
    return {
        line.removesuffix(" BROKEN") for line in output.splitlines() if line.endswith(" BROKEN")
    }


def test_the_code_keeps_every_contract() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


LAYERS = "Layers: adapters -> domain services -> building blocks -> protocols"
PURE = "compliance is pure: no I/O, no storage, no OpenCV"
SIM_APART = "The simulator imports none of the code it is used to judge"
NO_SIM = "...and none of that code imports the simulator"
PROTOCOLS = "Protocol libraries know no storage and no web"
CAPTURE = "A capture knows no protocol library and no storage"
REVIEW = "review knows no HTTP"
WEB = "The web never talks ONVIF or decodes video itself (it asks the sampler)"

BAD_IMPORTS = [
    # (module to add, its import, contracts it must break)
    ("onvif/_bad.py", "import vidaudit.db.models", {LAYERS, PROTOCOLS}),
    ("media/_bad.py", "import fastapi", {PROTOCOLS}),
    ("isapi/_bad.py", "import vidaudit.db.models", {LAYERS, PROTOCOLS}),
    ("dahua/_bad.py", "import fastapi", {PROTOCOLS}),
    ("isapi/_bad.py", "import vidaudit.dahua.client", {LAYERS}),  # siblings apart
    ("devicehttp/_bad.py", "import vidaudit.isapi.client", {LAYERS}),
    ("sim/_bad.py", "import vidaudit.isapi.client", {SIM_APART}),
    ("dahua/_bad.py", "import vidaudit.sim", {LAYERS, NO_SIM}),
    ("compliance/_bad.py", "import cv2", {PURE}),
    ("compliance/_bad.py", "import vidaudit.picture.diagnostics", {PURE}),
    ("sim/_bad.py", "import vidaudit.onvif.client", {SIM_APART}),
    ("collector/_bad.py", "import vidaudit.sim", {LAYERS, NO_SIM}),
    ("review/_bad.py", "import fastapi", {REVIEW}),
    ("capture/_bad.py", "import vidaudit.onvif.transport", {CAPTURE}),
    ("capture/_bad.py", "import vidaudit.compliance.rules", {LAYERS}),
    ("web/_bad.py", "import vidaudit.onvif.client", {WEB}),
    ("web/_bad.py", "import vidaudit.dahua.client", {WEB}),
    ("inventory/_bad.py", "import vidaudit.collector.run", {LAYERS}),
    ("collector/_bad.py", "import vidaudit.sampler.pull", {LAYERS}),  # siblings apart
    ("errors_bad.py", "import vidaudit.db", {LAYERS}),  # a module no layer names
    # GB/T 28181: the protocol knows no storage; the service's registrations stay out of
    # the collector (it asks through the control channel's client); the simulated
    # recorders speak their own SIP
    ("gb28181/_bad.py", "import sqlalchemy", {PROTOCOLS}),
    ("gb28181/_bad.py", "import vidaudit.gbservice.store", {LAYERS, PROTOCOLS}),
    ("collector/_bad.py", "import vidaudit.gbservice.service", {LAYERS}),  # siblings
    ("sim/gb28181/_bad.py", "import vidaudit.gb28181.sip", {SIM_APART}),
    ("gbservice/_bad.py", "import vidaudit.sim.gb28181", {LAYERS, NO_SIM}),
]


@pytest.mark.parametrize(("where", "statement", "contracts"), BAD_IMPORTS)
def test_a_bad_import_fails_lint(
    tmp_path: Path, where: str, statement: str, contracts: set[str]
) -> None:
    shutil.copytree(
        REPO / "vidaudit", tmp_path / "vidaudit", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "vidaudit" / where).write_text(f"{statement}\n", encoding="utf-8")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken(result.stdout) == contracts, result.stdout


def test_compliance_loads_no_opencv() -> None:
    """Importing the rules (and the picture rule's check names) loads no OpenCV, numpy or
    PyAV: a fresh interpreter, so nothing this test process imported counts."""
    code = (
        "import sys\n"
        "import vidaudit.compliance.rules, vidaudit.compliance.picture, vidaudit.compliance.model\n"
        "print(sorted(m for m in ('cv2', 'numpy', 'av') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
