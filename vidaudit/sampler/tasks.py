"""Spot-check tasks into frames: N frames spread across each planned window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import SpotCheckTaskRow
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Inventory
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sampler.evidence import EvidenceStore
from vidaudit.sampler.gb_settings import GbPullSettings
from vidaudit.sampler.pull import PullError, PullRequest, pull_frames


def spread(
    start: dt.datetime, end: dt.datetime, count: int, shift: float = 0.5
) -> list[dt.datetime]:
    """``count`` instants evenly across [start, end]; ``shift`` 0.5 puts them mid-slot,
    0.0 or 1.0 at the slot edges (used to land "more" frames between the planned ones)."""
    step = (end - start) / count
    return [start + step * (i + shift) for i in range(count)]


@dataclass(frozen=True)
class TaskPull:
    task_id: int
    frames: int
    error: str | None


async def pull_planned(
    plan_id: int,
    inventory: Inventory,
    *,
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    resolver: SecretResolver,
    onvif_settings: OnvifSettings,
    actor: str,
    actor_role: str,
    now: dt.datetime,
    gb: GbPullSettings | None = None,
) -> list[TaskPull]:
    """Pull each still-planned task's frames; a task whose pull fails stays planned."""
    with sessions() as session:
        tasks = list(
            session.scalars(
                select(SpotCheckTaskRow)
                .where(SpotCheckTaskRow.plan_id == plan_id, SpotCheckTaskRow.status == "planned")
                .order_by(SpotCheckTaskRow.id)
            )
        )
    where = {c.id: (b, d, c) for b, d, c in inventory.channels()}
    results = []
    for task in tasks:
        if task.channel_id not in where:
            results.append(TaskPull(task.id, 0, "the channel is no longer in the inventory"))
            continue
        branch, device, channel = where[task.channel_id]
        reason = f"抽查任务 #{task.id} {task.kind}" + (f": {task.reason}" if task.reason else "")
        try:
            outcome = await pull_frames(
                PullRequest(
                    branch,
                    device,
                    channel,
                    spread(task.start, task.end, max(1, task.frames_wanted)),
                    reason,
                    actor,
                    actor_role,
                    task_id=task.id,
                ),
                sessions=sessions,
                store=store,
                resolver=resolver,
                onvif_settings=onvif_settings,
                now=now,
                gb=gb,
            )
        except PullError as exc:
            results.append(TaskPull(task.id, 0, str(exc)))
            continue
        with sessions.begin() as session:
            row = session.get(SpotCheckTaskRow, task.id)
            if row is not None and row.status == "planned":
                row.status = "pulled"
        results.append(TaskPull(task.id, len(outcome.frames), None))
    return results
