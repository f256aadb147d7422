"""The ``vidaudit`` command line.  Each command's work lives in its own package; this file
only parses options, sets up logging and prints.

Exit status: 0 when the command did its job (violations found are not an error), 2 for a
usage or configuration error (a bad cameras.yaml, an out-of-date database schema).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from vidaudit.cli.clip import clip_command
from vidaudit.cli.collect import collect_command
from vidaudit.cli.distributed import metrics_command, schedule_command, worker_command
from vidaudit.cli.frames import frames_command
from vidaudit.cli.gb import gb_app
from vidaudit.cli.notify import notify_app
from vidaudit.cli.probe import probe_command
from vidaudit.cli.register import register_app
from vidaudit.cli.retention import retention_app
from vidaudit.cli.sample import sample_app
from vidaudit.cli.support import (
    USAGE_ERROR,
    err,
    fail,
    inventory_or_exit,
    sessions_or_exit,
    settings_or_exit,
)
from vidaudit.cli.web import serve_command, user_app
from vidaudit.db.engine import DatabaseMissing, make_engine
from vidaudit.db.migrate import schema_state, upgrade
from vidaudit.db.models import BranchRow, ChannelRow, DeviceRow
from vidaudit.inventory import InventoryError, check_secrets
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings
from vidaudit.sim.command import sim_command

app = typer.Typer(
    help="Audit bank-branch video surveillance: retention, recording hours, clocks, reviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the inventory (cameras.yaml).", no_args_is_help=True)
db_app = typer.Typer(help="Create and upgrade the database.", no_args_is_help=True)
inventory_app = typer.Typer(help="Load the inventory into the database.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(inventory_app, name="inventory")
app.command("collect")(collect_command)
app.command("probe")(probe_command)
app.command("schedule")(schedule_command)
app.command("worker")(worker_command)
app.command("metrics")(metrics_command)
app.command("sim")(sim_command)
app.add_typer(sample_app, name="sample")
app.command("frames")(frames_command)
app.command("clip")(clip_command)
app.add_typer(retention_app, name="retention")
app.command("serve")(serve_command)
app.add_typer(user_app, name="user")
app.add_typer(notify_app, name="notify")
app.add_typer(gb_app, name="gb")
evidence_app = typer.Typer(help="The evidence store.", no_args_is_help=True)
app.add_typer(register_app, name="register")
app.add_typer(evidence_app, name="evidence")

console = Console()


InventoryArg = Annotated[
    Path | None,
    typer.Argument(help="cameras.yaml to use (default: VIDAUDIT_INVENTORY or ./cameras.yaml)"),
]


def _settings() -> Settings:
    return settings_or_exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")] = False,
) -> None:
    level = logging.DEBUG if verbose else getattr(logging, _settings().log_level.upper(), 20)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every migration context at INFO; only --verbose wants that.
    logging.getLogger("alembic").setLevel(level if verbose else logging.WARNING)


def print_inventory_summary(inventory: Inventory, path: Path) -> None:
    roles = Counter(channel.role.value for _b, _d, channel in inventory.channels())
    table = Table(title=f"{path}: {len(inventory.branches)} branches", title_justify="left")
    for column in ("branch", "name", "time zone", "devices", "channels", "roles"):
        table.add_column(column)
    for branch in inventory.branches:
        channels = [c for d in branch.devices for c in d.channels]
        by_role = Counter(c.role.value for c in channels)
        table.add_row(
            branch.id,
            branch.name,
            branch.timezone or inventory.timezone,
            str(len(branch.devices)),
            str(len(channels)),
            ", ".join(f"{role} {n}" for role, n in sorted(by_role.items())),
        )
    console.print(table)
    console.print(
        f"{len(inventory.devices())} devices, {len(inventory.channels())} channels; by role: "
        + ", ".join(f"{role} {n}" for role, n in sorted(roles.items())),
        highlight=False,
    )


@config_app.command("check")
def config_check(
    file: InventoryArg = None,
    secrets: Annotated[
        bool,
        typer.Option(
            "--secrets/--no-secrets",
            help="also check every password reference resolves on this machine",
        ),
    ] = True,
) -> None:
    """Validate cameras.yaml and print a summary: branches, devices, channels by role."""
    path = file or _settings().inventory
    inventory = inventory_or_exit(path)
    print_inventory_summary(inventory, path)
    if secrets:
        problems = check_secrets(inventory, path)
        if problems:
            # one line per problem, each naming its file (an included one where written)
            err.print(str(InventoryError(path, problems)), highlight=False, markup=False)
            raise typer.Exit(USAGE_ERROR)
    console.print("[green]inventory is valid[/]")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the version this code needs."""
    settings = _settings()
    engine = make_engine(settings)
    before = schema_state(engine)
    after = upgrade(engine)
    console.print(f"database schema: {before.current or 'empty'} -> {after.current}")


@db_app.command("status")
def db_status() -> None:
    """Show the database's schema revision and whether it is current."""
    settings = _settings()
    try:
        engine = make_engine(settings, create=False)
    except DatabaseMissing as exc:
        raise fail(
            f"no vidaudit database at {exc.path}: `vidaudit db upgrade` creates it"
        ) from None
    state = schema_state(engine)
    verdict = "up to date" if state.up_to_date else "OUT OF DATE: run `vidaudit db upgrade`"
    console.print(f"schema {state.current or 'empty'} (code needs {state.head}): {verdict}")


@inventory_app.command("sync")
def inventory_sync(file: InventoryArg = None) -> None:
    """Bring the database in line with cameras.yaml (idempotent; removed items are retired)."""
    settings = _settings()
    path = file or settings.inventory
    inventory = inventory_or_exit(path)
    sessions = sessions_or_exit(settings)
    with sessions.begin() as session:
        report = sync_inventory(
            session,
            inventory,
            source=str(path.resolve()),
            now=dt.datetime.now(dt.UTC),
        )
    for label, items in (
        ("added", report.added),
        ("changed", report.changed),
        ("retired", report.retired),
        ("restored", report.restored),
    ):
        for item in items:
            console.print(f"  {label:8} {item}", highlight=False)
    console.print(f"inventory sync: {report.summary()}", highlight=False)


@inventory_app.command("accept-identity")
def inventory_accept_identity(
    device: Annotated[str, typer.Argument(help="the device id in cameras.yaml")],
    reason: Annotated[
        str, typer.Option(help="why the new hardware is right (replacement, ticket number)")
    ],
    by: Annotated[str | None, typer.Option(help="who decides (default: the OS user)")] = None,
) -> None:
    """Accept the device now answering at DEVICE's address (R6.identity) as DEVICE; the
    decision is entered in the review register."""
    import getpass

    from vidaudit.collector.identity import IdentityError, accept_identity

    sessions = sessions_or_exit(_settings())
    try:
        with sessions.begin() as session:
            old, new = accept_identity(
                session,
                device,
                actor=by or getpass.getuser(),
                reason=reason,
                now=dt.datetime.now(dt.UTC),
            )
    except IdentityError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"{device}: now pinned to {new.describe()} (was {old.describe()}); registered",
        highlight=False,
    )


@inventory_app.command("show")
def inventory_show(
    retired: Annotated[bool, typer.Option(help="also list retired devices and channels")] = False,
) -> None:
    """List branches, devices and channels as the database holds them."""
    sessions = sessions_or_exit(_settings())
    with sessions() as session:
        branches = session.scalars(select(BranchRow).order_by(BranchRow.id)).all()
        devices = session.scalars(select(DeviceRow).order_by(DeviceRow.id)).all()
        channels = session.scalars(select(ChannelRow).order_by(ChannelRow.id)).all()
    by_device: dict[str, list[ChannelRow]] = {}
    for channel in channels:
        by_device.setdefault(channel.device_id, []).append(channel)
    names = ", ".join(f"{branch.id} {branch.name}" for branch in branches)
    table = Table(title=f"inventory in the database: {names}", title_justify="left")
    for column in ("branch", "device", "vendor", "channel", "name", "role", "days", "state"):
        table.add_column(column, no_wrap=column != "name", overflow="fold")
    for device in devices:
        for channel in by_device.get(device.id, []):
            gone = device.retired_at or channel.retired_at
            if gone and not retired:
                continue
            table.add_row(
                device.branch_id,
                device.id,
                device.vendor,
                channel.id,
                channel.name,
                channel.role,
                str(channel.required_days),
                f"retired {gone:%Y-%m-%d}" if gone else "active",
            )
    console.print(table)


@evidence_app.command("verify")
def evidence_verify() -> None:
    """Check every evidence file against its sha256 and every record that points at
    evidence (frames, snapshots, retention proofs, findings, reviews); exit 1 if any
    file or record is missing or altered."""
    from vidaudit.evidence.store import EvidenceStore

    settings = _settings()
    sessions = sessions_or_exit(settings)
    with sessions() as session:
        report = EvidenceStore(settings.evidence_dir).verify(session)
    for problem in report.problems:
        err.print(problem, markup=False, highlight=False)
    console.print(
        f"evidence {'INTACT' if report.ok else 'BROKEN'}: {report.files} files and "
        f"{report.references} references checked",
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command("housekeep")
def housekeep(file: InventoryArg = None) -> None:
    """Roll channel observations older than VIDAUDIT_OBSERVATIONS_KEEP_DAYS up to one per
    channel per day (days in the inventory's time zone); nothing else is ever pruned."""
    from zoneinfo import ZoneInfo

    from vidaudit.collector.housekeeping import roll_up_observations
    from vidaudit.overview.report import keep_ended_days

    settings = _settings()
    inventory = inventory_or_exit(file or settings.inventory)
    sessions = sessions_or_exit(settings)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        # the overview's day counts first: a rolled-up day's polls can no longer be counted
        keep_ended_days(session, now, inventory.policy, inventory)
    rolled = roll_up_observations(
        sessions,
        now=now,
        keep_days=settings.observations_keep_days,
        tz=ZoneInfo(inventory.timezone),
    )
    console.print(f"housekeeping: {rolled.summary()}", highlight=False)


@app.command("demo")
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="where the demo fleet's inventory goes")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the web view afterwards")
    ] = True,
    port: Annotated[int | None, typer.Option(help="web port (default VIDAUDIT_WEB_PORT)")] = None,
) -> None:
    """A simulated fleet, collector, retention proof, spot-checks, accounts, web view."""
    from vidaudit import aio
    from vidaudit.cli.demo import run_demo

    settings = _settings()
    aio.run(run_demo(settings, workdir or settings.data_dir / "demo", serve=serve, port=port))


def main() -> None:
    app()
