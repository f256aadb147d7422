"""Spot-check tasks into frames: the one way a task's frames are pulled, for the CLI
(``vidaudit sample pull``) and the web view alike.

A task's pull is registered with one wording (the register is the bank's own record,
Art. 46, kept in its language: ``抽查任务 #12 随机抽查: note;经审批 #3``), and a task moves
from ``planned`` to ``pulled`` only here, once its frames are stored.
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
from vidaudit.inventory.schema import Device, Inventory
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sampler.gb_settings import GbPullSettings
from vidaudit.sampler.pull import PullError, PullOutcome, PullRequest, pull_frames

#: how the register names each kind of spot-check
KIND_WORDS = {"random": "随机抽查", "targeted": "定向抽查"}


def spread(
    start: dt.datetime, end: dt.datetime, count: int, shift: float = 0.5
) -> list[dt.datetime]:
    """``count`` instants evenly across [start, end]; ``shift`` 0.5 puts them mid-slot,
    0.0 or 1.0 at the slot edges (used to land "more" frames between the planned ones)."""
    step = (end - start) / count
    return [start + step * (i + shift) for i in range(count)]


def task_reason(task: SpotCheckTaskRow, approval_id: int | None = None) -> str:
    """Why footage is viewed, as the register records it for a spot-check task."""
    reason = f"抽查任务 #{task.id} {KIND_WORDS.get(task.kind, task.kind)}"
    if task.reason:
        reason += f": {task.reason}"
    if approval_id is not None:
        reason += f";经审批 #{approval_id}"
    return reason


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


async def pull_task(
    puller: Puller,
    task: SpotCheckTaskRow,
    instants: Sequence[dt.datetime],
    *,
    actor: str,
    actor_role: str,
    now: dt.datetime,
    approval_id: int | None = None,
) -> PullOutcome:
    """Pull ``instants`` of one task's channel; a planned task becomes pulled.

    Raises ``PullError`` (kind ``no_inventory`` when the channel has left the inventory)
    and ``ConfigError`` (the device's password reference does not resolve: nothing is
    registered then)."""
    found = puller.inventory.find_channel(task.channel_id)
    if found is None:
        raise PullError("no_inventory", f"channel {task.channel_id} is not in the inventory")
    branch, device, channel = found
    outcome = await pull_frames(
        PullRequest(
            branch,
            device,
            channel,
            instants,
            task_reason(task, approval_id),
            actor,
            actor_role,
            task_id=task.id,
        ),
        sessions=puller.sessions,
        store=puller.store,
        resolver=puller.resolver,
        onvif_settings=puller.onvif_settings,
        now=now,
        gb=puller.gb,
    )
    with puller.sessions.begin() as session:
        row = session.get(SpotCheckTaskRow, task.id)
        if row is not None and row.status == "planned":
            row.status = "pulled"
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
