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
from vidaudit.cli.support import USAGE_ERROR, err

if TYPE_CHECKING:
    from vidaudit.sampler.clips import ClipOutcome


def clip_command(
    device: Annotated[str, typer.Option(help="device id from cameras.yaml")],
    channel: Annotated[str, typer.Option(help="channel id from cameras.yaml")],
    at: Annotated[str, typer.Option(help="the clip's centre, ISO 8601; no offset = branch time")],
    reason: ReasonOption,
    seconds: Annotated[int, typer.Option(help="the clip's length, 5-60 s")] = 20,
    out: Annotated[Path | None, typer.Option(help="also copy the MP4 here")] = None,
    fmt: FormatOption = Fmt.TABLE,
    file: FileOption = None,
    file_start: FileStartOption = None,
    config: ConfigOption = None,
    by: ByOption = None,
    role: RoleOption = "administrator",
) -> None:
    """Pull SECONDS of recorded video around AT as an MP4 (as recorded, no re-encoding);
    print its first and last frame times, path and sha256."""
    # Imported here, as for frames: PyAV is of no use to the other commands.
    from vidaudit.sampler.clips import MAX_SECONDS, MIN_SECONDS, ClipRequest, pull_clip

    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        err.print(f"error: --seconds must be {MIN_SECONDS}-{MAX_SECONDS}, not {seconds}")
        raise typer.Exit(USAGE_ERROR)
    target = target_or_exit(device, channel, config)
    centre = parse_instant(at, target.tz)
    source = source_or_exit(target, file, file_start)
    request = ClipRequest.around(
        target.branch,
        target.device,
        target.channel,
        centre,
        seconds,
        reason=reason,
        actor=by or getpass.getuser(),
        actor_role=role,
        file=file,
        file_start=source.file_start,
    )
    outcome = pull_or_exit(pull_clip, request, target, source, "the clip")
    _print(outcome, out, fmt, target.tz)


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
