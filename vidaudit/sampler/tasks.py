"""Spot-check tasks into frames: the one way a task's frames are pulled, for the CLI
(``vidaudit sample pull``) and the web view alike.

A task's pull is registered with the task's purpose as data (``{"purpose": "task",
"task_kind": "random", "approval_id": 3}``) and the person's own words as the reason (a
targeted task's event, the reason for a step outside the window), so the register page
says it in each reader's language; a task moves from ``planned`` to ``pulled`` only here,
once its frames are stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import SpotCheckTaskRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sampler.clips import ClipOutcome, ClipRequest, pull_clip
from vidaudit.sampler.gb_settings import GbPullSettings
from vidaudit.sampler.pull import PullError, PullOutcome, PullRequest, pull_frames


def spread(
    start: dt.datetime, end: dt.datetime, count: int, shift: float = 0.5
) -> list[dt.datetime]:
    """``count`` instants evenly across [start, end]; ``shift`` 0.5 puts them mid-slot,
    0.0 or 1.0 at the slot edges (used to land "more" frames between the planned ones)."""
    step = (end - start) / count
    return [start + step * (i + shift) for i in range(count)]


def task_purpose(
    task: SpotCheckTaskRow, approval_id: int | None = None, outside_window: bool = False
) -> dict[str, object]:
    """Why footage is viewed for a spot-check task, as the register keeps it."""
    purpose: dict[str, object] = {"purpose": "task", "task_kind": task.kind}
    if approval_id is not None:
        purpose["approval_id"] = approval_id
    if outside_window:
        purpose["outside_window"] = True
    return purpose


@dataclass(frozen=True)
class Puller:
    """What every pull needs besides the task: where to register and store, how to reach
    the device."""

    inventory: Inventory
    sessions: sessionmaker[Session]
    store: EvidenceStore
    resolver: SecretResolver
    onvif_settings: OnvifSettings
    #: how to reach the GB/T 28181 service (None: the inventory has no ``gb28181`` section)
    gb: GbPullSettings | None = None


def _task_channel(puller: Puller, task: SpotCheckTaskRow) -> tuple[Branch, Device, Channel]:
    found = puller.inventory.find_channel(task.channel_id)
    if found is None:
        raise PullError("no_inventory", f"channel {task.channel_id} is not in the inventory")
    return found


def _mark_pulled(puller: Puller, task: SpotCheckTaskRow) -> None:
    """A planned task becomes pulled once footage of it has been viewed."""
    with puller.sessions.begin() as session:
        row = session.get(SpotCheckTaskRow, task.id)
        if row is not None and row.status == "planned":
            row.status = "pulled"


async def pull_task(
    puller: Puller,
    task: SpotCheckTaskRow,
    instants: Sequence[dt.datetime],
    *,
    actor: str,
    actor_role: str,
    now: dt.datetime,
    approval_id: int | None = None,
    outside_reason: str | None = None,
) -> PullOutcome:
    """Pull ``instants`` of one task's channel; a planned task becomes pulled.

    ``outside_reason``: why instants outside the task's window are wanted (a person must
    say it; the register records the pull as outside the window with that reason).

    Raises ``PullError`` (kind ``no_inventory`` when the channel has left the inventory)
    and ``ConfigError`` (the device's password reference does not resolve: nothing is
    registered then)."""
    outside = any(i < task.start or i > task.end for i in instants)
    if outside and not (outside_reason or "").strip():
        raise PullError("outside_window", "instants outside the task's window need a reason")
    branch, device, channel = _task_channel(puller, task)
    outcome = await pull_frames(
        PullRequest(
            branch,
            device,
            channel,
            instants,
            (outside_reason or "").strip() if outside else task.reason,
            actor,
            actor_role,
            task_id=task.id,
            purpose=task_purpose(task, approval_id, outside),
        ),
        sessions=puller.sessions,
        store=puller.store,
        resolver=puller.resolver,
        onvif_settings=puller.onvif_settings,
        now=now,
        gb=puller.gb,
    )
    _mark_pulled(puller, task)
    return outcome


async def pull_task_clip(
    puller: Puller,
    task: SpotCheckTaskRow,
    start: dt.datetime,
    end: dt.datetime,
    *,
    actor: str,
    actor_role: str,
    now: dt.datetime,
    approval_id: int | None = None,
) -> ClipOutcome:
    """A clip of [start, end] of one task's channel, registered with the task's wording;
    a planned task becomes pulled.  Raises as ``pull_task`` does, and ``ValueError`` for
    a clip outside 5-60 s."""
    branch, device, channel = _task_channel(puller, task)
    outcome = await pull_clip(
        ClipRequest(
            branch,
            device,
            channel,
            start,
            end,
            task.reason,
            actor,
            actor_role,
            task_id=task.id,
            purpose=task_purpose(task, approval_id),
        ),
        sessions=puller.sessions,
        store=puller.store,
        resolver=puller.resolver,
        onvif_settings=puller.onvif_settings,
        now=now,
        gb=puller.gb,
    )
    _mark_pulled(puller, task)
    return outcome


@dataclass(frozen=True)
class TaskPull:
    task_id: int
    frames: int
    error: str | None


def planned_tasks(sessions: sessionmaker[Session], plan_id: int) -> list[SpotCheckTaskRow]:
    with sessions() as session:
        return list(
            session.scalars(
                select(SpotCheckTaskRow)
                .where(SpotCheckTaskRow.plan_id == plan_id, SpotCheckTaskRow.status == "planned")
                .order_by(SpotCheckTaskRow.id)
            )
        )


def devices_of(inventory: Inventory, tasks: Sequence[SpotCheckTaskRow]) -> list[Device]:
    """The devices these tasks' channels are on (channels no longer listed are skipped)."""
    devices: dict[str, Device] = {}
    for task in tasks:
        if (found := inventory.find_channel(task.channel_id)) is not None:
            devices[found[1].id] = found[1]
    return list(devices.values())


async def pull_planned(
    puller: Puller,
    tasks: Sequence[SpotCheckTaskRow],
    *,
    actor: str,
    actor_role: str,
    now: dt.datetime,
) -> list[TaskPull]:
    """Pull each planned task's frames, spread across its window; a task whose pull fails
    stays planned."""
    results = []
    for task in tasks:
        try:
            outcome = await pull_task(
                puller,
                task,
                spread(task.start, task.end, max(1, task.frames_wanted)),
                actor=actor,
                actor_role=actor_role,
                now=now,
            )
        except PullError as exc:
            results.append(TaskPull(task.id, 0, str(exc)))
        else:
            results.append(TaskPull(task.id, len(outcome.frames), None))
    return results
