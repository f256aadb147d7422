"""``vidaudit gb serve``: the GB/T 28181 SIP service, until interrupted (registered in
vidaudit/cli/main.py)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from vidaudit.cli.support import USAGE_ERROR, err, inventory_or_exit, sessions_or_exit
from vidaudit.inventory import check_secrets
from vidaudit.inventory.schema import Inventory
from vidaudit.settings import Settings

gb_app = typer.Typer(help="GB/T 28181: vidaudit as the upper platform.", no_args_is_help=True)


async def _serve(settings: Settings, path: Path, inventory: Inventory) -> None:
    from vidaudit.gbservice.service import running_service

    sessions = sessions_or_exit(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(settings, inventory, path, sessions) as service:
        typer.echo(
            f"vidaudit gb serve: platform {service.platform.identity.id} on "
            f"{service.platform.listen} (UDP and TCP); "
            "Ctrl-C stops it"
        )
        await stop.wait()


@gb_app.command("serve")
def gb_serve(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")] = None,
) -> None:
    """Accept registrations of the inventory's api: gb28181 recorders and answer queries."""
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    if inventory.gb28181 is None:
        err.print(f"error: {path} has no gb28181 section", markup=False)
        raise typer.Exit(USAGE_ERROR)
    problems = [p for p in check_secrets(inventory, path) if p.path.startswith("gb28181")]
    if problems:
        for problem in problems:
            err.print(f"{path}: {problem}", markup=False, highlight=False)
        raise typer.Exit(USAGE_ERROR)
    try:
        asyncio.run(_serve(settings, path, inventory))
    except OSError as exc:
        err.print(f"error: cannot listen on {inventory.gb28181.listen}: {exc}", markup=False)
        raise typer.Exit(USAGE_ERROR) from None
