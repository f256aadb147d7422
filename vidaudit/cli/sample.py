"""``vidaudit sample plan``: random (D6) and targeted (D5) spot-check plans."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vidaudit.cli.support import (
    USAGE_ERROR,
    credentials_or_exit,
    err,
    inventory_or_exit,
    sessions_or_exit,
    sync_from,
)
from vidaudit.db.models import SpotCheckPlanRow
from vidaudit.inventory.schema import ChannelRole, Inventory
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.sampler.plan import (
    ALGORITHM,
    PlanError,
    PlannedTask,
    RandomPlanRequest,
    coverage,
    new_seed,
    parse_events_csv,
    random_plan,
    targeted_plan,
)
from vidaudit.sampler.store import save_plan
from vidaudit.settings import Settings

sample_app = typer.Typer(help="Plan spot-checks of recorded video.", no_args_is_help=True)
console = Console()


def _period_days(text: str) -> int:
    match = re.fullmatch(r"(\d+)([dw])", text.strip())
    if not match:
        raise typer.BadParameter(f"expected a period like 7d or 2w, got {text!r}")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    if not 1 <= days <= 366:
        raise typer.BadParameter("a period is 1 to 366 days")
    return days


def _print(inventory: Inventory, tasks: list[PlannedTask], title: str) -> None:
    zones = {b.id: inventory.branch_timezone(b) for b in inventory.branches}
    names = {c.id: c.name for _b, _d, c in inventory.channels()}
    table = Table(title=title, title_justify="left")
    for column in ("branch", "channel", "name", "from", "to", "why"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        tz = zones[task.branch_id]
        table.add_row(
            task.branch_id,
            task.channel_id,
            names.get(task.channel_id, ""),
            f"{task.start.astimezone(tz):%Y-%m-%d %a %H:%M:%S}",
            f"{task.end.astimezone(tz):%H:%M:%S}",
            task.reason or task.kind.value,
        )
    console.print(table)


@sample_app.command("plan")
def plan(
    random_count: Annotated[
        int | None, typer.Option("--random", min=1, max=10_000, help="random windows to draw")
    ] = None,
    targeted: Annotated[
        Path | None,
        typer.Option(help="CSV of events (branch,channel,instant,kind[,note]) to check"),
    ] = None,
    period: Annotated[str, typer.Option(help="random: the period, e.g. 7d or 2w")] = "7d",
    start: Annotated[
        str | None,
        typer.Option(help="random: first day of the period, YYYY-MM-DD (default: 7 days ago)"),
    ] = None,
    roles: Annotated[
        list[ChannelRole] | None, typer.Option("--roles", help="random: channel roles (repeatable)")
    ] = None,
    branch: Annotated[
        list[str] | None, typer.Option("--branch", "-b", help="only these branches")
    ] = None,
    window_min: Annotated[int, typer.Option(min=1, max=240, help="window length")] = 10,
    frames: Annotated[int, typer.Option(min=1, max=60, help="frames to pull per window")] = 6,
    seed: Annotated[
        int | None,
        typer.Option(help="re-derive a plan from its recorded seed (auditors); default: fresh"),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")] = None,
    by: Annotated[str | None, typer.Option(help="who makes the plan (default: OS user)")] = None,
) -> None:
    """Plan random (unannounced, reproducible from a seed) or targeted spot-checks."""
    if (random_count is None) == (targeted is None):
        err.print("error: give either --random N or --targeted FILE.csv")
        raise typer.Exit(USAGE_ERROR)
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    now = dt.datetime.now(dt.UTC)
    who = by or getpass.getuser()
    try:
        if random_count is not None:
            days = _period_days(period)
            first = (
                dt.date.fromisoformat(start)
                if start
                else (
                    now.astimezone(inventory.branch_timezone(inventory.branches[0])).date()
                    - dt.timedelta(days=days)
                )
            )
            request = RandomPlanRequest(
                count=random_count,
                period_start=first,
                period_days=days,
                roles=frozenset(roles or [ChannelRole.COUNTER]),
                window=dt.timedelta(minutes=window_min),
                branches=frozenset(branch) if branch else None,
            )
            used_seed = new_seed() if seed is None else seed
            tasks = random_plan(inventory, request, used_seed)
            params = {
                "period_start": first.isoformat(),
                "period_days": days,
                "roles": sorted(r.value for r in request.roles),
                "count": random_count,
                "window_min": window_min,
                "branches": sorted(request.branches) if request.branches else None,
            }
            kind, algorithm = "random", ALGORITHM
        else:
            assert targeted is not None
            text = targeted.read_text(encoding="utf-8")
            tasks = targeted_plan(
                inventory, parse_events_csv(text, inventory, str(targeted)), source=str(targeted)
            )
            used_seed, algorithm, kind = None, None, "targeted"
            params = {"file": targeted.name, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    except (PlanError, ValueError, OSError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(USAGE_ERROR) from None
    sessions = sessions_or_exit(settings)
    sync_from(sessions, inventory, path, now)
    with sessions.begin() as session:
        saved = save_plan(
            session,
            kind=kind,
            created_by=who,
            now=now,
            tasks=tasks,
            params=params,
            frames_per_task=frames,
            seed=used_seed,
            algorithm=algorithm,
        )
        plan_id = saved.id
    _print(inventory, tasks, f"spot-check plan {plan_id} ({kind}): {len(tasks)} tasks")
    spread = ", ".join(f"{b} {n}" for b, n in sorted(coverage(tasks).items()))
    console.print(f"tasks per branch: {spread}", highlight=False)
    if used_seed is not None:
        console.print(
            f"seed {used_seed} ({ALGORITHM}): keep it with the plan; "
            f"`vidaudit sample plan --random {random_count} --period {period} --start "
            f"{params['period_start']} --seed {used_seed} …` re-derives the same tasks",
            highlight=False,
        )


@sample_app.command("pull")
def pull(
    plan_id: Annotated[int, typer.Argument(help="the plan whose tasks to pull")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="cameras.yaml")] = None,
    by: Annotated[str | None, typer.Option(help="who pulls (default: OS user)")] = None,
    role: Annotated[str, typer.Option(help="their role, for the register")] = "inspector",
) -> None:
    """Pull each planned task's frames (spread across its window) for the reviewers."""
    from vidaudit import aio
    from vidaudit.evidence.store import EvidenceStore
    from vidaudit.inventory.load import SecretResolver
    from vidaudit.sampler.tasks import Puller, devices_of, planned_tasks, pull_planned

    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    sessions = sessions_or_exit(settings)
    with sessions() as session:
        if session.get(SpotCheckPlanRow, plan_id) is None:
            err.print(f"error: no spot-check plan {plan_id}")
            raise typer.Exit(USAGE_ERROR)
    tasks = planned_tasks(sessions, plan_id)
    resolver = SecretResolver(inventory, path)
    credentials_or_exit(resolver, devices_of(inventory, tasks))
    now = dt.datetime.now(dt.UTC)
    sync_from(sessions, inventory, path, now)
    puller = Puller(
        inventory,
        sessions,
        EvidenceStore(settings.evidence_dir),
        resolver,
        settings.onvif(),
        gb_pull_settings(settings, inventory),
    )
    results = aio.run(
        pull_planned(puller, tasks, actor=by or getpass.getuser(), actor_role=role, now=now)
    )
    for result in results:
        state = f"{result.frames} frames" if result.error is None else f"not pulled: {result.error}"
        console.print(f"task {result.task_id}: {state}", highlight=False, markup=False)
    done = sum(r.error is None for r in results)
    console.print(f"{done}/{len(results)} planned tasks pulled", highlight=False)
