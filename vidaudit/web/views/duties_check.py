"""D1, the administrator's daily check: today's collector result for one branch (the
confirmations themselves are recorded by vidaudit/review/daily_checks.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    BranchResultRow,
    ChannelObservationRow,
    ChannelRow,
    CollectionRunRow,
    DailyCheckRow,
    DeviceObservationRow,
    DeviceRow,
    UserRow,
)
from vidaudit.web.i18n import fmt_dt
from vidaudit.web.views.duties_snapshots import SnapshotTile, latest_snapshots


@dataclass(frozen=True)
class ViolationLine:
    subject_id: str
    subject_name: str
    rule: str
    severity: str
    detail: str


@dataclass
class CollectorToday:
    result: BranchResultRow | None = None
    run: CollectionRunRow | None = None
    #: the latest run finished today (branch-local): the check is about today's system
    is_today: bool = False
    devices_down: list[DeviceObservationRow] = field(default_factory=list)
    violations: list[ViolationLine] = field(default_factory=list)
    snapshots: list[SnapshotTile] = field(default_factory=list)

    @property
    def snapshots_failed(self) -> int:
        return sum(tile.flagged for tile in self.snapshots)


def _lines(subject: str, name: str, violations: list[dict[str, Any]]) -> list[ViolationLine]:
    return [
        ViolationLine(
            subject, name, str(v.get("rule")), str(v.get("severity")), str(v.get("detail"))
        )
        for v in violations
    ]


def collector_today(
    db: Session, branch_id: str, today: dt.date, tz: str, now: dt.datetime
) -> CollectorToday:
    found = CollectorToday()
    found.snapshots = [
        t
        for t in latest_snapshots(db, scope=None, now=now, branch_id=branch_id)
        if t.snapshot_id is not None
    ]
    result = db.scalars(
        select(BranchResultRow)
        .where(BranchResultRow.branch_id == branch_id)
        .order_by(BranchResultRow.observed_at.desc())
        .limit(1)
    ).first()
    if result is None:
        return found
    found.result = result
    found.run = db.get(CollectionRunRow, result.run_id)
    found.is_today = fmt_dt(result.observed_at, tz, "date") == today.isoformat()
    devices = list(
        db.scalars(
            select(DeviceObservationRow)
            .where(
                DeviceObservationRow.run_id == result.run_id,
                DeviceObservationRow.branch_id == branch_id,
            )
            .order_by(DeviceObservationRow.device_id)
        )
    )
    found.devices_down = [d for d in devices if not d.online]
    names = dict(
        db.execute(
            select(ChannelRow.id, ChannelRow.name)
            .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
            .where(DeviceRow.branch_id == branch_id)
        ).all()
    )
    device_names = dict(
        db.execute(
            select(DeviceRow.id, DeviceRow.name).where(DeviceRow.branch_id == branch_id)
        ).all()
    )
    for device in devices:
        found.violations += _lines(
            device.device_id, device_names.get(device.device_id) or "", device.violations
        )
    for channel in db.scalars(
        select(ChannelObservationRow)
        .where(
            ChannelObservationRow.run_id == result.run_id,
            ChannelObservationRow.branch_id == branch_id,
        )
        .order_by(ChannelObservationRow.channel_id)
    ):
        # an offline device's channels all repeat its R6.offline: the device line says it
        violations = [v for v in channel.violations if v.get("rule") != "R6.offline"]
        found.violations += _lines(
            channel.channel_id, names.get(channel.channel_id, ""), violations
        )
    return found


def confirmer_name(db: Session, row: DailyCheckRow | None) -> str:
    if row is None:
        return ""
    user = db.get(UserRow, row.user_id)
    return user.display_name if user is not None else str(row.user_id)
