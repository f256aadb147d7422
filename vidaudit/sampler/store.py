"""Spot-check plans into the database: the plan (with its seed) and one task per window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from vidaudit.db.models import SpotCheckPlanRow, SpotCheckTaskRow
from vidaudit.sampler.plan import PlannedTask


def save_plan(
    session: Session,
    *,
    kind: str,
    created_by: str,
    now: dt.datetime,
    tasks: Sequence[PlannedTask],
    params: dict[str, Any],
    frames_per_task: int,
    seed: int | None = None,
    algorithm: str | None = None,
) -> SpotCheckPlanRow:
    plan = SpotCheckPlanRow(
        created_at=now,
        created_by=created_by,
        kind=kind,
        # kept as text: a 63-bit seed does not survive every JSON/float path intact
        seed=None if seed is None else str(seed),
        algorithm=algorithm,
        params=params,
    )
    session.add(plan)
    session.flush()
    session.add_all(
        SpotCheckTaskRow(
            plan_id=plan.id,
            branch_id=task.branch_id,
            channel_id=task.channel_id,
            start=task.start,
            end=task.end,
            kind=task.kind.value,
            reason=task.reason,
            event_at=task.event_at,
            frames_wanted=frames_per_task,
            status="planned",
        )
        for task in tasks
    )
    session.flush()
    return plan
