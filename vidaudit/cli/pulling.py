"""What ``vidaudit frames`` and ``vidaudit clip`` share: find the channel in cameras.yaml,
check the source (the device's password, or an exported file with its start), open and sync
the database, run the pull and turn a failed one into exit 1.

One place, so both commands name a missing channel, a file without its start or a failed
pull in the same words and exit with the same status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.orm import Session, sessionmaker

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
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.settings import Settings

T = TypeVar("T")


class Fmt(StrEnum):
    TABLE = "table"
    JSON = "json"


# The options both commands take, declared once so their names and help stay alike.
ReasonOption = Annotated[
    str, typer.Option("--reason", help="why the footage is viewed (goes in the register)")
]
FormatOption = Annotated[Fmt, typer.Option("--format", "-f")]
FileOption = Annotated[
    Path | None, typer.Option("--file", help="an exported recording (MP4, MKV, TS) instead")
]
FileStartOption = Annotated[
    str | None,
    typer.Option("--file-start", help="with --file: the real time of its first frame"),
]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")]
ByOption = Annotated[str | None, typer.Option("--by", help="who views (default: OS user)")]
RoleOption = Annotated[str, typer.Option("--role", help="their role, for the register")]


def parse_instant(text: str, default_tz: dt.tzinfo) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=default_tz)


@dataclass(frozen=True)
class Target:
    """The channel asked for, as cameras.yaml lists it, and its branch's time zone."""

    settings: Settings
    path: Path
    inventory: Inventory
    branch: Branch
    device: Device
    channel: Channel
    tz: dt.tzinfo


def target_or_exit(device: str, channel: str, config: Path | None) -> Target:
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    # channel ids are unique across cameras.yaml (the loader refuses a second one)
    found = inventory.find_channel(channel)
    if found is None or found[1].id != device:
        err.print(f"error: {path} has no channel {channel} on device {device}", markup=False)
        raise typer.Exit(USAGE_ERROR)
    branch, dev, chan = found
    return Target(settings, path, inventory, branch, dev, chan, inventory.branch_timezone(branch))


@dataclass(frozen=True)
class Source:
    """Where the footage comes from and the database the pull is registered in."""

    file_start: dt.datetime | None
    resolver: SecretResolver
    sessions: sessionmaker[Session]
    now: dt.datetime


def source_or_exit(target: Target, file: Path | None, file_start: str | None) -> Source:
    """Checked before anything is written: a file needs its start, a device its password."""
    start = parse_instant(file_start, target.tz) if file_start else None
    if file is not None and start is None:
        err.print("error: --file needs --file-start (the real time of its first frame)")
        raise typer.Exit(USAGE_ERROR)
    resolver = SecretResolver(target.inventory, target.path)
    if file is None:
        credentials_or_exit(resolver, [target.device])
    sessions = sessions_or_exit(target.settings)
    now = dt.datetime.now(dt.UTC)
    sync_from(sessions, target.inventory, target.path, now)
    return Source(start, resolver, sessions, now)


def pull_or_exit(
    pull: Callable[..., Coroutine[Any, Any, T]],
    request: object,
    target: Target,
    source: Source,
    what: str,
) -> T:
    """``pull`` (``pull_frames`` or ``pull_clip``) run with the settings' stores and
    devices; a ``PullError`` is one line and exit 1."""
    # Imported here: the sampler needs PyAV and OpenCV, which other commands have no use for.
    from vidaudit.sampler.pull import PullError

    settings = target.settings
    try:
        return aio.run(
            pull(
                request,
                sessions=source.sessions,
                store=EvidenceStore(settings.evidence_dir),
                resolver=source.resolver,
                onvif_settings=settings.onvif(),
                now=source.now,
                gb=gb_pull_settings(settings, target.inventory),
            )
        )
    except PullError as exc:
        # the attempt is already in the register; the exit status says it failed
        err.print(f"error: could not pull {what}: {exc}", markup=False)
        raise typer.Exit(1) from None
