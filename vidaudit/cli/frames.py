"""``vidaudit frames``: pull frames at exact instants, keep them as evidence, register it."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from vidaudit.cli.pulling import (
    ByOption,
    ConfigOption,
    FileOption,
    FileStartOption,
    Fmt,
    FormatOption,
    ReasonOption,
    RoleOption,
    parse_instant,
    pull_or_exit,
    source_or_exit,
    target_or_exit,
)

if TYPE_CHECKING:
    from vidaudit.sampler.pull import PullOutcome

console = Console()


def frames_command(
    device: Annotated[str, typer.Option(help="device id from cameras.yaml")],
    channel: Annotated[str, typer.Option(help="channel id from cameras.yaml")],
    at: Annotated[
        list[str],
        typer.Option(help="instant to pull, ISO 8601 (repeatable); no offset = branch time"),
    ],
    reason: ReasonOption,
    out: Annotated[Path | None, typer.Option(help="also copy the JPEGs here")] = None,
    fmt: FormatOption = Fmt.TABLE,
    file: FileOption = None,
    file_start: FileStartOption = None,
    config: ConfigOption = None,
    by: ByOption = None,
    role: RoleOption = "administrator",
) -> None:
    """Pull frames at exact instants; print requested, actual, delta, path, sha256, diagnosis."""
    # Imported here: frame pulls need PyAV and OpenCV, which other commands (and the
    # collector's process) have no use for.
    from vidaudit.sampler.pull import PullRequest, pull_frames

    target = target_or_exit(device, channel, config)
    instants = [parse_instant(text, target.tz) for text in at]
    source = source_or_exit(target, file, file_start)
    request = PullRequest(
        branch=target.branch,
        device=target.device,
        channel=target.channel,
        instants=instants,
        reason=reason,
        actor=by or getpass.getuser(),
        actor_role=role,
        file=file,
        file_start=source.file_start,
    )
    outcome = pull_or_exit(pull_frames, request, target, source, "frames")
    _print(outcome, out, fmt, target.tz)


def _print(outcome: PullOutcome, out: Path | None, fmt: Fmt, tz: dt.tzinfo) -> None:
    rows = []
    for frame in outcome.frames:
        path = frame.path
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            stamp = frame.requested.astimezone(tz).strftime("%Y%m%dT%H%M%S.%f")[:-3]
            path = out / f"{stamp}_{frame.sha256[:12]}.jpg"
            shutil.copyfile(frame.path, path)
        rows.append(
            {
                "requested": frame.requested.astimezone(tz).isoformat(timespec="milliseconds"),
                "actual": frame.actual.astimezone(tz).isoformat(timespec="milliseconds"),
                "delta_ms": round(frame.delta_ms, 1),
                "path": str(path),
                "sha256": frame.sha256,
                "diagnostics": {
                    "verdict": frame.diagnosis.verdict,
                    "failed": list(frame.diagnosis.failed),
                },
            }
        )
    if fmt is Fmt.JSON:
        document = {
            "register_seq": outcome.register_seq,
            "source": outcome.source_kind,
            "frames": rows,
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(
        title=f"frames (register entry {outcome.register_seq}, {outcome.source_kind})",
        title_justify="left",
    )
    for column in ("requested", "actual", "Δ ms", "picture", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        diagnostics = row["diagnostics"]
        assert isinstance(diagnostics, dict)
        picture = "ok" if diagnostics["verdict"] == "pass" else ", ".join(diagnostics["failed"])
        table.add_row(
            str(row["requested"]),
            str(row["actual"]),
            str(row["delta_ms"]),
            picture,
            str(row["path"]),
        )
    console.print(table)
