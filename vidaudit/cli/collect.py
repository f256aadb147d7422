"""``vidaudit collect``: poll the fleet once or on a schedule, store, print."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vidaudit import aio
from vidaudit.alerts.service import AlertService, BackgroundAlerts, Drained
from vidaudit.cli.support import (
    USAGE_ERROR,
    alert_texts,
    err,
    inventory_or_exit,
    refreshed,
    sessions_or_exit,
)
from vidaudit.collector.fleet import DeviceProbe
from vidaudit.collector.housekeeping import roll_up_observations
from vidaudit.collector.lock import LockTimeout, run_lock
from vidaudit.collector.report import channel_table, device_table
from vidaudit.collector.run import CollectResult, collect
from vidaudit.collector.stored import stored_report_json
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.inventory.schema import ChannelRole, Inventory
from vidaudit.inventory.watch import InventoryWatch
from vidaudit.overview.report import keep_ended_days
from vidaudit.settings import Settings

if TYPE_CHECKING:
    from vidaudit.collector.snapshots import SnapshotOptions

console = Console()


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """``30s``, ``5m``, ``1h``, ``1d`` -> seconds (at least 10 s)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"expected a duration like 30s, 5m, 1h; got {text!r}")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 10:
        raise typer.BadParameter("runs must be at least 10 s apart")
    return float(seconds)


def _print(
    settings: Settings, result: CollectResult, inventory: Inventory, fmt: OutputFormat
) -> None:
    # The run is in storage, not in memory: the document is read back from there, as
    # `vidaudit schedule --once --wait` reads a round's (one document, whoever collected).
    sessions = make_sessionmaker(make_engine(settings))
    with sessions() as session:
        document = stored_report_json(session, result.run_id, inventory)
    took = (result.report.finished_at - result.report.started_at).total_seconds()
    print_document(document, fmt, result.run_id, took)


def print_document(document: dict[str, Any], fmt: OutputFormat, run_id: int, took_s: float) -> None:
    """A run's document: as JSON for tools, as tables and a summary line for people."""
    if fmt is OutputFormat.JSON:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()
        return
    channels = document["channels"]
    console.print(device_table(document))
    console.print(channel_table(document, only_problems=len(channels) > 64))
    compliant = sum(c["compliant"] for c in channels)
    down = sum(not d["online"] for d in document["devices"])
    violations = sum(len(d["violations"]) for d in document["devices"]) + sum(
        len(c["violations"]) for c in channels
    )
    tickets = document["tickets"]
    late = f", {len(document['late'])} late" if document.get("late") else ""
    console.print(
        f"run {run_id}: {len(document['devices'])} devices ({down} down{late}), "
        f"{compliant}/{len(channels)} channels compliant, {violations} "
        f"violations; tickets opened {tickets['opened']}, closed {tickets['closed']}; "
        f"{took_s:.1f} s",
        highlight=False,
    )


async def _run_once(
    settings: Settings,
    inventory: Inventory,
    path: Path,
    branches: set[str] | None,
    show_progress: bool,
    snapshots: SnapshotOptions | None = None,
) -> CollectResult:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    total = sum(
        1 for branch, _device in inventory.devices() if branches is None or branch.id in branches
    )
    if not show_progress:
        return await collect(
            settings,
            inventory,
            path,
            sessions,
            branches=branches,
            snapshots=snapshots,
            keep_report=False,
        )
    with Progress(
        TextColumn("collecting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[down]} down"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("devices", total=total, down=0)
        down = 0

        def progress(_device_id: str, probe: DeviceProbe) -> None:
            nonlocal down
            down += not probe.status.online
            bar.update(task, advance=1, down=down)

        return await collect(
            settings,
            inventory,
            path,
            sessions,
            branches=branches,
            progress=progress,
            snapshots=snapshots,
            keep_report=False,
        )


def collect_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="cameras.yaml (default: VIDAUDIT_INVENTORY)"),
    ] = None,
    branch: Annotated[
        list[str] | None, typer.Option("--branch", "-b", help="only this branch (repeatable)")
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table for people, json for tools")
    ] = OutputFormat.TABLE,
    every: Annotated[
        str | None,
        typer.Option(help="run again on this schedule (e.g. 5m); runs never overlap"),
    ] = None,
    snapshots: Annotated[
        bool,
        typer.Option(
            "--snapshots", help="also take and judge a live snapshot of each chosen channel (R4)"
        ),
    ] = False,
    snapshot_role: Annotated[
        list[ChannelRole] | None,
        typer.Option(
            "--snapshot-role",
            help="roles to snapshot (repeatable; default vault, cash_area, counter, atm)",
        ),
    ] = None,
) -> None:
    """Poll every device: online, clock drift, recording state, retention, gaps, hours."""
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    branches = set(branch) if branch else None
    if branches:
        unknown = branches - {b.id for b in inventory.branches}
        if unknown:
            err.print(f"{path}: no branch {', '.join(sorted(unknown))}", markup=False)
            raise typer.Exit(USAGE_ERROR)
    interval = parse_every(every) if every else None
    # Runs for ever: an edited cameras.yaml is read again before the next run.  Taken now,
    # right after the load, so that an edit made since is seen (watch.py).  A password
    # must still resolve, as far as it did at start (a device whose does not reports
    # `config` in its run).
    watch = (
        InventoryWatch(path, inventory, branches=branches, secrets=True)
        if interval is not None
        else None
    )
    # Imported here: live pictures need OpenCV and numpy, a plain run does not.
    from vidaudit.collector.snapshots import PRIORITY_ROLES, SnapshotOptions

    snapshot_options = (
        SnapshotOptions(roles=frozenset(snapshot_role) if snapshot_role else PRIORITY_ROLES)
        if snapshots
        else None
    )
    # refuses an out-of-date schema before any device is polled
    sessions = sessions_or_exit(settings)
    show_progress = fmt is OutputFormat.TABLE and sys.stderr.isatty()
    lock = settings.data_dir / "collect.lock"
    alerts = (
        AlertService(settings, sessions, alert_texts(), inventory=inventory)
        if settings.notify.enabled
        else None
    )
    # With --every the alerts are decided and sent beside the runs, in a thread of their
    # own: a slow mail server never delays the next run.
    background = BackgroundAlerts(alerts).start() if alerts and interval is not None else None
    try:
        _collect_loop(
            settings,
            inventory,
            path,
            branches,
            fmt,
            interval,
            lock,
            snapshot_options,
            show_progress,
            alerts,
            background,
            watch,
        )
    finally:
        if background is not None:
            background.stop()


def _alert_summary(drained: Drained) -> None:
    if drained.sent or drained.retrying or drained.failed:
        err.print(
            f"alerts: {drained.sent} sent, {drained.retrying} to retry, {drained.failed} failed",
            highlight=False,
        )
    for line in drained.errors:
        err.print(f"  {line}", markup=False, highlight=False)


def take_up_edits(watch: InventoryWatch, alerts: AlertService | None) -> Inventory:
    """Before a run of ``collect --every``: the inventory it collects (the edited files'
    once they load; ``refreshed``), and the alerts decided beside the runs (in their own
    thread with ``--every``) judge branch hours and policy by it as well.  The runs
    already stored stay as they are; the next inventory sync records the new digest."""
    inventory = refreshed(watch)
    if alerts is not None and alerts.inventory is not inventory:
        # one assignment: the alerts' thread reads the attribute once per sweep
        alerts.inventory = inventory
    return inventory


def _collect_loop(
    settings: Settings,
    inventory: Inventory,
    path: Path,
    branches: set[str] | None,
    fmt: OutputFormat,
    interval: float | None,
    lock: Path,
    snapshot_options: SnapshotOptions | None,
    show_progress: bool,
    alerts: AlertService | None,
    background: BackgroundAlerts | None,
    watch: InventoryWatch | None = None,
) -> None:
    while True:
        started = time.monotonic()
        if watch is not None:
            inventory = take_up_edits(watch, alerts)
        try:
            with run_lock(
                lock,
                wait_s=settings.collector_device_deadline_s * 2,
                on_wait=lambda: err.print("waiting for the running collection to finish"),
            ):
                result = aio.run(
                    _run_once(settings, inventory, path, branches, show_progress, snapshot_options)
                )
        except LockTimeout as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(USAGE_ERROR) from None
        _print(settings, result, inventory, fmt)
        if background is not None:
            background.wake()
        elif alerts is not None:
            # The run is stored; its alerts go out now, for at most send_budget_s.
            _alert_summary(aio.run(alerts.after_collection()))
        if interval is None:
            return
        # A collector that runs for ever keeps its own tables in bounds: old days of
        # observations are rolled up (a whole day at a time, so this is rare work).
        sessions = make_sessionmaker(make_engine(settings))
        now = dt.datetime.now(dt.UTC)
        with sessions() as session:
            # the overview's day counts first: a rolled-up day's polls can't be counted
            keep_ended_days(session, now, inventory.policy, inventory)
        rolled = roll_up_observations(
            sessions,
            now=now,
            keep_days=settings.observations_keep_days,
            tz=ZoneInfo(inventory.timezone),
        )
        if rolled.days:
            err.print(f"housekeeping: {rolled.summary()}", highlight=False)
        # The next run starts one interval after this one started, or at once when this
        # run took longer: never two at the same time.
        pause = max(0.0, interval - (time.monotonic() - started))
        next_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=pause)
        err.print(f"next run at {next_at.astimezone():%H:%M:%S}", highlight=False)
        time.sleep(pause)
