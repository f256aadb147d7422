"""``vidaudit frames``: pull frames at exact instants, keep them as evidence, register it."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from vidaudit import aio
from vidaudit.cli.support import (
    USAGE_ERROR,
    credentials_or_exit,
    err,
    inventory_or_exit,
    sessions_or_exit,
    sync_from,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.load import SecretResolver
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.settings import Settings

if TYPE_CHECKING:
    from vidaudit.sampler.pull import PullOutcome

console = Console()


class Fmt(StrEnum):
    TABLE = "table"
    JSON = "json"


def _instant(text: str, default_tz: dt.tzinfo) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=default_tz)


def frames_command(
    device: Annotated[str, typer.Option(help="device id from cameras.yaml")],
    channel: Annotated[str, typer.Option(help="channel id from cameras.yaml")],
    at: Annotated[
        list[str],
        typer.Option(help="instant to pull, ISO 8601 (repeatable); no offset = branch time"),
    ],
    reason: Annotated[str, typer.Option(help="why the footage is viewed (goes in the register)")],
    out: Annotated[Path | None, typer.Option(help="also copy the JPEGs here")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f")] = Fmt.TABLE,
    file: Annotated[
        Path | None, typer.Option(help="an exported recording (MP4, MKV, TS) instead")
    ] = None,
    file_start: Annotated[
        str | None, typer.Option(help="with --file: the real time of its first frame")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")] = None,
    by: Annotated[str | None, typer.Option(help="who views (default: OS user)")] = None,
    role: Annotated[str, typer.Option(help="their role, for the register")] = "administrator",
) -> None:
    """Pull frames at exact instants; print requested, actual, delta, path, sha256, diagnosis."""
    # Imported here: frame pulls need PyAV and OpenCV, which other commands (and the
    # collector's process) have no use for.
    from vidaudit.sampler.pull import PullError, PullRequest, pull_frames

    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    found = [(b, d, c) for b, d, c in inventory.channels() if d.id == device and c.id == channel]
    if not found:
        err.print(f"error: {path} has no channel {channel} on device {device}", markup=False)
        raise typer.Exit(USAGE_ERROR)
    branch, dev, chan = found[0]
    tz = inventory.branch_timezone(branch)
    instants = [_instant(text, tz) for text in at]
    start = _instant(file_start, tz) if file_start else None
    if file is not None and start is None:
        err.print("error: --file needs --file-start (the real time of its first frame)")
        raise typer.Exit(USAGE_ERROR)
    resolver = SecretResolver(inventory, path)
    if file is None:
        credentials_or_exit(resolver, [dev])
    sessions = sessions_or_exit(settings)
    now = dt.datetime.now(dt.UTC)
    sync_from(sessions, inventory, path, now)
    request = PullRequest(
        branch=branch,
        device=dev,
        channel=chan,
        instants=instants,
        reason=reason,
        actor=by or getpass.getuser(),
        actor_role=role,
        file=file,
        file_start=start,
    )
    try:
        outcome = aio.run(
            pull_frames(
                request,
                sessions=sessions,
                store=EvidenceStore(settings.evidence_dir),
                resolver=resolver,
                onvif_settings=settings.onvif(),
                gb=gb_pull_settings(settings, inventory),
                now=now,
            )
        )
    except PullError as exc:
        # the attempt is already in the register; the exit status says it failed
        err.print(f"error: could not pull frames: {exc}", markup=False)
        raise typer.Exit(1) from None
    _print(outcome, out, fmt, tz)


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
