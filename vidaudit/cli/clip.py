"""``vidaudit clip``: pull a short clip of recorded video, keep it as evidence, register it.

The command-line twin of the spot-check page's clip button, and the only way to cut a clip
from an exported recording (an NVR export handed over on a USB stick)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidaudit import aio
from vidaudit.cli.frames import Fmt, parse_instant
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
from vidaudit.settings import Settings

if TYPE_CHECKING:
    from vidaudit.sampler.clips import ClipOutcome


def clip_command(
    device: Annotated[str, typer.Option(help="device id from cameras.yaml")],
    channel: Annotated[str, typer.Option(help="channel id from cameras.yaml")],
    at: Annotated[str, typer.Option(help="the clip's centre, ISO 8601; no offset = branch time")],
    reason: Annotated[str, typer.Option(help="why the footage is viewed (goes in the register)")],
    seconds: Annotated[int, typer.Option(help="the clip's length, 5-60 s")] = 20,
    out: Annotated[Path | None, typer.Option(help="also copy the MP4 here")] = None,
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
    """Pull SECONDS of recorded video around AT as an MP4 (as recorded, no re-encoding);
    print its first and last frame times, path and sha256."""
    # Imported here, as for frames: PyAV is of no use to the other commands.
    from vidaudit.sampler.clips import MAX_SECONDS, MIN_SECONDS, ClipRequest, pull_clip
    from vidaudit.sampler.gb_settings import gb_pull_settings
    from vidaudit.sampler.pull import PullError

    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        err.print(f"error: --seconds must be {MIN_SECONDS}-{MAX_SECONDS}, not {seconds}")
        raise typer.Exit(USAGE_ERROR)
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    found = inventory.find_channel(channel)
    if found is None or found[1].id != device:
        err.print(f"error: {path} has no channel {channel} on device {device}", markup=False)
        raise typer.Exit(USAGE_ERROR)
    branch, dev, chan = found
    tz = inventory.branch_timezone(branch)
    centre = parse_instant(at, tz)
    start = parse_instant(file_start, tz) if file_start else None
    if file is not None and start is None:
        err.print("error: --file needs --file-start (the real time of its first frame)")
        raise typer.Exit(USAGE_ERROR)
    resolver = SecretResolver(inventory, path)
    if file is None:
        credentials_or_exit(resolver, [dev])
    sessions = sessions_or_exit(settings)
    now = dt.datetime.now(dt.UTC)
    sync_from(sessions, inventory, path, now)
    request = ClipRequest.around(
        branch,
        dev,
        chan,
        centre,
        seconds,
        reason=reason,
        actor=by or getpass.getuser(),
        actor_role=role,
        file=file,
        file_start=start,
    )
    try:
        outcome = aio.run(
            pull_clip(
                request,
                sessions=sessions,
                store=EvidenceStore(settings.evidence_dir),
                resolver=resolver,
                onvif_settings=settings.onvif(),
                now=now,
                gb=gb_pull_settings(settings, inventory),
            )
        )
    except PullError as exc:
        # the attempt is already in the register; the exit status says it failed
        err.print(f"error: could not pull the clip: {exc}", markup=False)
        raise typer.Exit(1) from None
    _print(outcome, out, fmt, tz)


def _print(outcome: ClipOutcome, out: Path | None, fmt: Fmt, tz: dt.tzinfo) -> None:
    path = outcome.path
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stamp = outcome.first.astimezone(tz).strftime("%Y%m%dT%H%M%S")
        path = out / f"{stamp}_{outcome.sha256[:12]}.mp4"
        shutil.copyfile(outcome.path, path)
    document = {
        "register_seq": outcome.register_seq,
        "source": outcome.source_kind,
        "first": outcome.first.astimezone(tz).isoformat(timespec="milliseconds"),
        "last": outcome.last.astimezone(tz).isoformat(timespec="milliseconds"),
        "frames": outcome.frames,
        "codec": outcome.codec,
        "path": str(path),
        "sha256": outcome.sha256,
    }
    if fmt is Fmt.JSON:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    width = max(len(key) for key in document)
    for key, value in document.items():
        sys.stdout.write(f"{key:<{width}}  {value}\n")
