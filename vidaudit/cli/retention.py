"""``vidaudit retention verify``: prove retention by pulling frames from the oldest day."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated

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

retention_app = typer.Typer(help="Retention proven by footage (R1).", no_args_is_help=True)
console = Console()


@retention_app.command("verify")
def verify(
    branch: Annotated[list[str] | None, typer.Option("--branch", "-b")] = None,
    channel: Annotated[list[str] | None, typer.Option("--channel")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")] = None,
    by: Annotated[str | None, typer.Option(help="who runs the check (default: OS user)")] = None,
) -> None:
    """Pull one frame per channel from (now − required days): footage there proves R1."""
    # Imported here: frame pulls need PyAV and OpenCV, which other commands (and the
    # collector's process) have no use for.
    from vidaudit.sampler.retention import verify_channels

    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    targets = [
        (b, d, c)
        for b, d, c in inventory.channels()
        if (not branch or b.id in branch) and (not channel or c.id in channel)
    ]
    if not targets:
        err.print("error: no channel matches --branch/--channel")
        raise typer.Exit(USAGE_ERROR)
    resolver = SecretResolver(inventory, path)
    credentials_or_exit(resolver, {d.id: d for _b, d, _c in targets}.values())
    sessions = sessions_or_exit(settings)
    now = dt.datetime.now(dt.UTC)
    sync_from(sessions, inventory, path, now)
    checks = aio.run(
        verify_channels(
            targets,
            inventory,
            sessions=sessions,
            store=EvidenceStore(settings.evidence_dir),
            resolver=resolver,
            onvif_settings=settings.onvif(),
            gb=gb_pull_settings(settings, inventory),
            now=now,
            actor=by or getpass.getuser(),
        )
    )
    zones = {b.id: inventory.branch_timezone(b) for b in inventory.branches}
    branch_of = {c.id: b.id for b, _d, c in inventory.channels()}
    table = Table(title="retention verified by footage", title_justify="left")
    for column in ("channel", "required days", "asked for", "frame shows", "result"):
        table.add_column(column, overflow="fold")
    for check in checks:
        tz = zones[branch_of[check.channel_id]]
        table.add_row(
            check.channel_id,
            str(check.required_days),
            f"{check.requested.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            f"{check.actual.astimezone(tz):%Y-%m-%d %H:%M:%S}" if check.actual else "",
            "[green]verified[/]" if check.ok else f"[red]not verified[/] {check.error}",
        )
    console.print(table)
    verified = sum(c.ok for c in checks)
    console.print(f"{verified}/{len(checks)} channels verified", highlight=False)
