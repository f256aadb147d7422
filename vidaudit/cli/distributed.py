"""``vidaudit schedule``, ``vidaudit worker``, ``vidaudit metrics``: collection shared out to
workers on many machines (PostgreSQL only; ``collect`` stays the one-process path)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from vidaudit import aio
from vidaudit.cli.collect import OutputFormat, parse_every, print_document
from vidaudit.cli.support import (
    USAGE_ERROR,
    err,
    fail,
    inventory_or_exit,
    refreshed,
    sessions_or_exit,
)
from vidaudit.collector.housekeeping import roll_up_observations
from vidaudit.collector.queue import NeedsPostgres, queue_conninfo, run_worker
from vidaudit.collector.rounds import RoundOverlap
from vidaudit.collector.schedule import (
    next_slot,
    round_deadline,
    slot_time,
    start_round,
    wait_for_round,
)
from vidaudit.collector.stored import stored_report_json
from vidaudit.inventory.watch import InventoryWatch
from vidaudit.settings import Settings

logger = logging.getLogger("vidaudit.schedule")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="cameras.yaml (default: VIDAUDIT_INVENTORY)"),
]


def _postgres_or_exit(settings: Settings) -> None:
    try:
        queue_conninfo(settings)
    except NeedsPostgres as exc:
        raise fail(str(exc)) from None


def json_logging(level: int) -> None:
    """One JSON object per log line (time, level, logger, message and the line's own
    fields: action, run_id, device_id, job ...), for a log collector to index."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def worker_command(
    config: ConfigOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, max=1024, help="devices polled at once")
    ] = 16,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            "-q",
            help="serve only these job queues, comma-separated (e.g. branch.fy001,region-east); "
            "default: every queue",
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="json (one object per line) or text")
    ] = "json",
) -> None:
    """Poll the devices of rounds' jobs, on this machine, until SIGINT/SIGTERM."""
    settings = Settings()
    _postgres_or_exit(settings)
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    # an edited cameras.yaml is taken up at the next round (watch.py); its files are
    # stamped now, right after the load, so that an edit made since is seen
    watch = InventoryWatch(path, inventory, secrets=True)
    sessions = sessions_or_exit(settings)
    if log_format == "json":
        json_logging(logging.getLogger().getEffectiveLevel())
    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    logger.info(
        "worker starting on %s, %d devices at once",
        ", ".join(chosen) if chosen else "every queue",
        concurrency,
        extra={"action": "worker_start", "queues": chosen, "concurrency": concurrency},
    )
    aio.run(run_worker(settings, watch, sessions, queues=chosen, concurrency=concurrency))


def schedule_command(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="open one round")] = False,
    every: Annotated[
        str | None, typer.Option("--every", help="open a round on this schedule (e.g. 5m)")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="with --once: wait for the round and print it")
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table for people, json for tools")
    ] = OutputFormat.TABLE,
    branch: Annotated[
        list[str] | None, typer.Option("--branch", "-b", help="only this branch (repeatable)")
    ] = None,
) -> None:
    """Open collection rounds for `vidaudit worker`s: one job per recorder."""
    if once == (every is not None):
        err.print("give either --once or --every", markup=False)
        raise typer.Exit(USAGE_ERROR)
    if wait and not once:
        err.print("--wait goes with --once", markup=False)
        raise typer.Exit(USAGE_ERROR)
    settings = Settings()
    _postgres_or_exit(settings)
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    branches = set(branch) if branch else None
    # With --every, an edited cameras.yaml is read again before the next round (watch.py;
    # its files stamped now, right after the load, so that an edit made since is seen).
    # The scheduler reads no device: passwords are the workers' business.
    watch = InventoryWatch(path, inventory, branches=branches) if every is not None else None
    sessions = sessions_or_exit(settings)
    if branches and branches - {b.id for b in inventory.branches}:
        err.print(f"{path}: no branch {', '.join(sorted(branches))}", markup=False)
        raise typer.Exit(USAGE_ERROR)
    every_s = parse_every(every) if every else None
    deadline_s = round_deadline(settings, every_s)

    if every_s is None:
        started = time.monotonic()
        try:
            opened = aio.run(
                start_round(
                    settings, inventory, path, sessions, deadline_s=deadline_s, branches=branches
                )
            )
        except RoundOverlap as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from None
        if not wait:
            message = {"run_id": opened.run_id, "jobs": len(opened.devices)}
            if fmt is OutputFormat.JSON:
                sys.stdout.write(json.dumps(message) + "\n")
            else:
                err.print(
                    f"round {opened.run_id} opened: {len(opened.devices)} devices, deadline "
                    f"{opened.deadline_at.astimezone():%H:%M:%S}",
                    highlight=False,
                )
            return
        aio.run(wait_for_round(settings, sessions, opened.run_id))
        with sessions() as session:
            document = stored_report_json(session, opened.run_id, inventory)
        print_document(document, fmt, opened.run_id, time.monotonic() - started)
        return

    assert every_s is not None and watch is not None
    first = time.monotonic()
    while True:
        inventory = refreshed(watch)
        try:
            opened = aio.run(
                start_round(
                    settings, inventory, path, sessions, deadline_s=deadline_s, branches=branches
                )
            )
            err.print(f"round {opened.run_id} opened: {len(opened.devices)} jobs", highlight=False)
        except RoundOverlap as exc:
            # Reported, never doubled: this slot is skipped.
            logger.warning(str(exc), extra={"action": "round_overlap", "run_id": exc.run_id})
            err.print(f"warning: {exc}", markup=False, highlight=False)
        rolled = roll_up_observations(
            sessions,
            now=slot_time(0),
            keep_days=settings.observations_keep_days,
            tz=ZoneInfo(inventory.timezone),
        )
        if rolled.days:
            err.print(f"housekeeping: {rolled.summary()}", highlight=False)
        pause = next_slot(first, every_s, time.monotonic())
        err.print(f"next round at {slot_time(pause).astimezone():%H:%M:%S}", highlight=False)
        time.sleep(pause)


def metrics_command() -> None:
    """Queue depth, jobs per minute, rounds and workers, in Prometheus' text format."""
    from vidaudit.collector.metrics import render_metrics

    settings = Settings()
    _postgres_or_exit(settings)
    sessions = sessions_or_exit(settings)
    sys.stdout.write(render_metrics(sessions))
