"""R4 (各通道录像画面是否正常): a channel's live picture must pass the picture checks.

Pure functions of a stored diagnosis (``{"verdict", "primary", "checks": {name:
{"verdict", "score"}}}``, the shape ``vidaudit.picture.diagnostics.diagnosis_json`` writes for
task frames and snapshots), so the collector, the daily-check page, the patrol and the
weekly report all read a verdict the same way.

Rule id:
  R4.picture   a live snapshot failed one or more picture checks (black / no signal,
               frozen, occlusion, brightness, blur, colour cast, scene moved)

A snapshot that could not be taken at all is not an R4 violation here: the device's own
state (R6.offline) or the snapshot's error says why, and nothing was seen to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidaudit.compliance.model import Severity, Violation
from vidaudit.picture.checks import PRECEDENCE


def failed_checks(diagnostics: Mapping[str, Any]) -> list[str]:
    """The failed checks' names, most telling first (the diagnostics' precedence); checks
    this code does not know (a newer diagnostics version) follow in stored order."""
    checks = diagnostics.get("checks")
    if not isinstance(checks, Mapping):
        return []
    failed = [
        name
        for name, check in checks.items()
        if isinstance(check, Mapping) and check.get("verdict") == "fail"
    ]
    known = [name for name in PRECEDENCE if name in failed]
    return known + [name for name in failed if name not in known]


def picture_failed(diagnostics: Mapping[str, Any]) -> bool:
    """True when the stored verdict is a failure (or any check failed)."""
    return diagnostics.get("verdict") == "fail" or bool(failed_checks(diagnostics))


def evaluate_picture(
    diagnostics: Mapping[str, Any],
    *,
    taken_at: str,
    evidence_sha256: str | None,
) -> list[Violation]:
    """``R4.picture`` when the snapshot's diagnosis failed; ``taken_at`` (ISO 8601) and
    the evidence digest go into the violation so the ticket points at the very picture."""
    if not picture_failed(diagnostics):
        return []
    failed = failed_checks(diagnostics) or ["unknown"]
    return [
        Violation(
            "R4.picture",
            Severity.MAJOR,
            f"live picture abnormal: {', '.join(failed)}",
            {
                "failed": failed,
                "primary": str(diagnostics.get("primary") or failed[0]),
                "taken_at": taken_at,
                "evidence_sha256": evidence_sha256,
            },
        )
    ]
