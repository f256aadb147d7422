"""The capture folder: what ``vidaudit probe --capture DIR`` writes and the fixture tests
read (``tests/captures/``; every folder with a ``manifest.json`` there is replayed).

Layout::

    DIR/
      manifest.json                 what, when, which calls, what vidaudit concluded
      onvif/001-GetSystemDateAndTime.request.xml
      onvif/001-GetSystemDateAndTime.reply.xml
      onvif/002-GetDeviceInformation.request.xml
      ...
      isapi/…, dahua/…              (recorders read through their vendor API)

``manifest.json`` (``FORMAT``)::

    {"format": "vidaudit-capture/1", "vidaudit_version", "captured_at" (collector UTC),
     "device": {"manufacturer", "model", "firmware", "kind", "vendor", "clock_drift_s"},
     "inventory": {cameras.yaml with this one device: ids, hours, refs; no secret},
     "calls": [{"n", "protocol": "onvif", "operation", "request", "reply" (paths relative
                to DIR, reply null when none came), "status", "error": null | {"kind",
                "message"}, "schema": [what the ONVIF schemas say against the reply]}],
     "failed": [{"operation", "kind", "message"}],      # calls that failed, and how
     "expected": {"device": {...}, "channels": {ID: {...}}}}   # vidaudit's conclusions

``calls`` is in the order made; a protocol names its calls its own way (ONVIF: the SOAP
operation; ISAPI: ``GET /ISAPI/System/deviceInfo``), and a replayer for a protocol serves
that protocol's calls by name, in order.  ``expected`` is what this version concluded
when the capture was taken: a replay must conclude the same, so a later change that
alters a conclusion on a real device shows as a failing test.  Where the conclusion was
wrong (the reason to send a capture), correct ``expected`` by hand with the fix.

Everything in the folder has passed through ``redact.Redactor``.  This module knows no
protocol (an import-linter contract): docs/device-quirks.md ("The capture folder") says
how ISAPI, Dahua and later protocols add their folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "vidaudit-capture/1"
MANIFEST = "manifest.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Call:
    """One captured call, redacted."""

    protocol: str
    operation: str
    request: bytes
    reply: bytes | None
    status: int | None
    error: dict[str, str] | None
    schema: tuple[str, ...] = ()


def call_files(n: int, call: Call) -> tuple[str, str]:
    stem = f"{call.protocol}/{n:03d}-{_SAFE.sub('_', call.operation)[:80]}"
    extension = "xml" if call.protocol == "onvif" else "txt"
    return f"{stem}.request.{extension}", f"{stem}.reply.{extension}"


def write_capture(folder: Path, manifest: dict[str, Any], calls: list[Call]) -> Path:
    """Write ``calls`` and ``manifest`` (its ``calls`` list filled in here) into ``folder``.

    Refuses a folder that already holds a capture: nothing is overwritten.
    """
    if (folder / MANIFEST).exists():
        raise FileExistsError(f"{folder} already holds a capture ({MANIFEST})")
    entries = []
    for n, call in enumerate(calls, start=1):
        request_name, reply_name = call_files(n, call)
        (folder / request_name).parent.mkdir(parents=True, exist_ok=True)
        (folder / request_name).write_bytes(call.request)
        if call.reply is not None:
            (folder / reply_name).write_bytes(call.reply)
        entries.append(
            {
                "n": n,
                "protocol": call.protocol,
                "operation": call.operation,
                "request": request_name,
                "reply": reply_name if call.reply is not None else None,
                "status": call.status,
                "error": call.error,
                "schema": list(call.schema),
            }
        )
    document = {"format": FORMAT, **manifest, "calls": entries}
    path = folder / MANIFEST
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Capture:
    folder: Path
    manifest: dict[str, Any]
    calls: list[Call]

    def replies(self, protocol: str = "onvif") -> dict[str, list[Call]]:
        """Calls of ``protocol`` by operation, in the order made."""
        found: dict[str, list[Call]] = {}
        for call in self.calls:
            if call.protocol == protocol:
                found.setdefault(call.operation, []).append(call)
        return found


class CaptureError(ValueError):
    """A folder that is not a readable capture; the message names the file and key."""


def load_capture(folder: Path) -> Capture:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaptureError(f"{path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CaptureError(f"{path}: format: expected {FORMAT!r}")
    calls = []
    for i, entry in enumerate(manifest.get("calls") or []):
        try:
            reply = entry["reply"]
            calls.append(
                Call(
                    protocol=str(entry["protocol"]),
                    operation=str(entry["operation"]),
                    request=(folder / entry["request"]).read_bytes(),
                    reply=None if reply is None else (folder / reply).read_bytes(),
                    status=entry.get("status"),
                    error=entry.get("error"),
                    schema=tuple(entry.get("schema") or ()),
                )
            )
        except (KeyError, TypeError, OSError) as exc:
            raise CaptureError(f"{path}: calls[{i}]: {exc}") from None
    return Capture(folder, manifest, calls)


def find_captures(*roots: Path) -> list[Path]:
    """Every capture folder (one holding ``manifest.json``) under ``roots``."""
    return sorted(
        manifest.parent for root in roots if root.is_dir() for manifest in root.rglob(MANIFEST)
    )
