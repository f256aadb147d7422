"""Spot-check plans (D5 targeted, D6 random), as pure functions of their inputs.

Random plans are reproducible and cannot be steered: the seed is drawn from the operating
system's CSPRNG when the plan is made (so no branch can know it in advance) and recorded
with the plan; anyone holding the seed, the inventory and the period re-derives exactly the
same tasks (so an auditor can check nobody picked the "easy" windows afterwards).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vidaudit.dates import EARLIEST, LATEST, parse_instant
from vidaudit.inventory.schema import Branch, Channel, ChannelRole, Inventory

#: Version of the selection algorithm, stored with each plan: a re-derivation must use the
#: algorithm the plan was drawn with.
ALGORITHM = "vidaudit-random-v1"


class TaskKind(StrEnum):
    RANDOM = "random"
    TARGETED = "targeted"


@dataclass(frozen=True)
class PlannedTask:
    branch_id: str
    channel_id: str
    start: dt.datetime  # aware, UTC
    end: dt.datetime
    kind: TaskKind
    #: for targeted tasks: what happened (e.g. large_withdrawal) and when
    reason: str = ""
    event_at: dt.datetime | None = None


@dataclass(frozen=True)
class RandomPlanRequest:
    count: int
    period_start: dt.date  # first day, branch-local calendar
    period_days: int
    roles: frozenset[ChannelRole]
    window: dt.timedelta = dt.timedelta(minutes=10)
    branches: frozenset[str] | None = None


class PlanError(ValueError):
    pass


def new_seed() -> int:
    """A fresh seed nobody can predict (CSPRNG)."""
    return secrets.randbits(63)


def _eligible(
    inventory: Inventory, request: RandomPlanRequest
) -> list[tuple[Branch, list[Channel]]]:
    out = []
    for branch in inventory.branches:
        if request.branches is not None and branch.id not in request.branches:
            continue
        channels = [
            channel
            for device in branch.devices
            for channel in device.channels
            if channel.role in request.roles
        ]
        if channels:
            out.append((branch, channels))
    return out


def _business_windows(
    inventory: Inventory, branch: Branch, request: RandomPlanRequest
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Each business day's [open, close − window] in the period, as aware local times."""
    tz = inventory.branch_timezone(branch)
    out = []
    for offset in range(request.period_days):
        day = request.period_start + dt.timedelta(days=offset)
        hours = branch.hours_on(day)
        if hours is None:
            continue
        opening = dt.datetime.combine(day, hours.open, tz)
        last_start = dt.datetime.combine(day, hours.close, tz) - request.window
        if last_start > opening:
            out.append((opening, last_start))
    return out


def random_plan(inventory: Inventory, request: RandomPlanRequest, seed: int) -> list[PlannedTask]:
    """``count`` tasks spread so every eligible branch is covered when count allows.

    Branches are dealt round-robin in a seeded shuffle, so with ``count >= branches`` each
    branch gets ``count // branches`` or one more task; within a branch the channel, the
    business day and the start second are drawn uniformly.
    """
    if request.count < 1:
        raise PlanError("a plan needs at least one task")
    eligible = _eligible(inventory, request)
    if not eligible:
        roles = ", ".join(sorted(r.value for r in request.roles))
        raise PlanError(f"no channel with role(s) {roles} in the selected branches")
    rng = random.Random(f"{ALGORITHM}:{seed}")  # noqa: S311 - reproducibility is the point; the seed is secret
    windows = {b.id: _business_windows(inventory, b, request) for b, _ in eligible}
    eligible = [(b, chans) for b, chans in eligible if windows[b.id]]
    if not eligible:
        raise PlanError("no business hours in the period for the selected branches")
    order = list(range(len(eligible)))
    rng.shuffle(order)
    tasks = []
    for n in range(request.count):
        branch, channels = eligible[order[n % len(order)]]
        channel = channels[rng.randrange(len(channels))]
        first, last = windows[branch.id][rng.randrange(len(windows[branch.id]))]
        span_s = int((last - first).total_seconds())
        start = first + dt.timedelta(seconds=rng.randint(0, span_s))
        tasks.append(
            PlannedTask(
                branch_id=branch.id,
                channel_id=channel.id,
                start=start.astimezone(dt.UTC),
                end=(start + request.window).astimezone(dt.UTC),
                kind=TaskKind.RANDOM,
            )
        )
    return sorted(tasks, key=lambda t: (t.start, t.channel_id))


@dataclass(frozen=True)
class TargetedEvent:
    line: int
    branch_id: str
    channel: str
    at: dt.datetime
    kind: str
    note: str


def parse_events_csv(
    text: str, inventory: Inventory, source: str = "events.csv"
) -> list[TargetedEvent]:
    """Rows ``branch,channel,instant,kind[,note]``: channel is a channel id or a channel
    name in that branch (e.g. ``1号柜台``); instant is ISO 8601, with an offset or in the
    branch's time zone.  Every bad row is reported with its line number."""
    try:
        return _parse_events(text, inventory, source)
    except csv.Error as exc:
        # e.g. a field over csv's 131,072-character limit, a NUL byte
        raise PlanError(f"{source}: not a readable CSV file: {exc}") from None


def _parse_events(text: str, inventory: Inventory, source: str) -> list[TargetedEvent]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    needed = {"branch", "channel", "instant", "kind"}
    if reader.fieldnames is None or not needed <= {f.strip() for f in reader.fieldnames}:
        raise PlanError(f"{source}: header must name columns {', '.join(sorted(needed))}")
    branches = {b.id: b for b in inventory.branches}
    events, problems = [], []
    for row in reader:
        line = reader.line_num
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        branch = branches.get(values["branch"])
        if branch is None:
            problems.append(f"{source}:{line}: unknown branch {values['branch']!r}")
            continue
        at = parse_instant(values["instant"], inventory.branch_timezone(branch))
        if at is None:
            problems.append(
                f"{source}:{line}: instant {values['instant'][:40]!r} is not an ISO 8601 "
                f"time between {EARLIEST} and {LATEST}"
            )
            continue
        if not values["kind"]:
            problems.append(f"{source}:{line}: kind is empty")
            continue
        events.append(
            TargetedEvent(
                line, branch.id, values["channel"], at, values["kind"], values.get("note", "")
            )
        )
    if problems:
        raise PlanError("\n".join(problems))
    return events


def _resolve_channel(branch: Branch, wanted: str) -> Channel | None:
    channels = [c for d in branch.devices for c in d.channels]
    for channel in channels:
        if channel.id == wanted:
            return channel
    named = [c for c in channels if c.name == wanted]
    return named[0] if len(named) == 1 else None


def targeted_plan(
    inventory: Inventory,
    events: Sequence[TargetedEvent],
    before: dt.timedelta = dt.timedelta(minutes=2),
    after: dt.timedelta = dt.timedelta(minutes=3),
    source: str = "events.csv",
) -> list[PlannedTask]:
    branches = {b.id: b for b in inventory.branches}
    tasks, problems = [], []
    for event in events:
        channel = _resolve_channel(branches[event.branch_id], event.channel)
        if channel is None:
            problems.append(
                f"{source}:{event.line}: branch {event.branch_id} has no single channel "
                f"with id or name {event.channel!r}"
            )
            continue
        tasks.append(
            PlannedTask(
                branch_id=event.branch_id,
                channel_id=channel.id,
                start=(event.at - before).astimezone(dt.UTC),
                end=(event.at + after).astimezone(dt.UTC),
                kind=TaskKind.TARGETED,
                reason=event.kind + (f": {event.note}" if event.note else ""),
                event_at=event.at.astimezone(dt.UTC),
            )
        )
    if problems:
        raise PlanError("\n".join(problems))
    return tasks


def coverage(tasks: Iterable[PlannedTask]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.branch_id] = counts.get(task.branch_id, 0) + 1
    return counts
