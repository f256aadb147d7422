"""The latest live snapshot of each channel, as the daily check and the patrol show it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidaudit.collector.snapshots import PRIORITY_ROLES
from vidaudit.compliance.picture import failed_checks, picture_failed
from vidaudit.db.models import BranchRow, ChannelRow, DeviceRow, SnapshotRow

#: a snapshot older than this is not "the latest picture" any more: the patrol shows the
#: channel as having none rather than a week-old image that looks live
MAX_AGE = dt.timedelta(days=2)
#: priority areas in patrol order: vault first, then cash area, counters, ATMs
ROLE_ORDER = ("vault", "cash_area", "counter", "atm")
PATROL_ROLES: frozenset[str] = frozenset(role.value for role in PRIORITY_ROLES)
#: why a snapshot could not be taken (vidaudit.collector.snapshots), each with a message
ERROR_KINDS = frozenset(
    {
        "auth",
        "timeout",
        "unreachable",
        "unsupported",
        "malformed",
        "device_fault",
        "not_found",
        "config",
        "device_down",
    }
)


@dataclass(frozen=True)
class SnapshotTile:
    channel_id: str
    channel_name: str
    role: str
    branch_id: str
    branch_name: str
    timezone: str
    snapshot_id: int | None
    taken_at: dt.datetime | None
    has_image: bool
    failed: list[str]
    error: str | None

    @property
    def flagged(self) -> bool:
        """Needs a person's eyes: a failed picture check, or the picture could not be taken."""
        return bool(self.failed) or self.error is not None

    @property
    def error_kind(self) -> str | None:
        """``auth``, ``timeout``, … or ``device_down`` (the poll found the device down)."""
        if self.error is None:
            return None
        kind = self.error.split(":", 1)[0].strip()
        return "device_down" if kind == "device down" else kind

    @property
    def error_known(self) -> bool:
        """Whether the page has words for ``error_kind`` (else it shows the kind as is)."""
        return self.error_kind in ERROR_KINDS


def latest_snapshots(
    db: Session,
    *,
    scope: Collection[str] | None,
    now: dt.datetime,
    roles: Collection[str] | None = None,
    branch_id: str | None = None,
) -> list[SnapshotTile]:
    """One tile per live channel in ``scope`` (None: all branches) with its newest
    snapshot of the last ``MAX_AGE``: flagged tiles first, then normal ones, then channels
    without a recent snapshot; within each by branch and role (vault first)."""
    channels = (
        select(ChannelRow, DeviceRow.branch_id, BranchRow.name, BranchRow.timezone)
        .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
        .join(BranchRow, DeviceRow.branch_id == BranchRow.id)
        .where(
            ChannelRow.retired_at.is_(None),
            DeviceRow.retired_at.is_(None),
            BranchRow.retired_at.is_(None),
        )
    )
    if scope is not None:
        channels = channels.where(DeviceRow.branch_id.in_(list(scope)))
    if branch_id is not None:
        channels = channels.where(DeviceRow.branch_id == branch_id)
    if roles is not None:
        channels = channels.where(ChannelRow.role.in_(list(roles)))
    found = list(db.execute(channels))
    if not found:
        return []
    ids = [row[0].id for row in found]
    newest = (
        select(SnapshotRow.channel_id, func.max(SnapshotRow.taken_at).label("taken_at"))
        .where(SnapshotRow.channel_id.in_(ids), SnapshotRow.taken_at >= now - MAX_AGE)
        .group_by(SnapshotRow.channel_id)
        .subquery()
    )
    snaps: dict[str, SnapshotRow] = {}
    for found_snap in db.scalars(
        select(SnapshotRow)
        .join(
            newest,
            (SnapshotRow.channel_id == newest.c.channel_id)
            & (SnapshotRow.taken_at == newest.c.taken_at),
        )
        # two snapshots of one instant (a re-run): the one stored last wins
        .order_by(SnapshotRow.id)
    ):
        snaps[found_snap.channel_id] = found_snap
    tiles = []
    for channel, branch, branch_name, timezone in found:
        snap = snaps.get(channel.id)
        diagnostics = snap.diagnostics if snap is not None else {}
        failed = failed_checks(diagnostics)
        if not failed and picture_failed(diagnostics):
            failed = ["unknown"]
        tiles.append(
            SnapshotTile(
                channel_id=channel.id,
                channel_name=channel.name,
                role=channel.role,
                branch_id=branch,
                branch_name=branch_name,
                timezone=timezone,
                snapshot_id=snap.id if snap is not None else None,
                taken_at=snap.taken_at if snap is not None else None,
                has_image=snap is not None and snap.evidence_sha256 is not None,
                failed=failed,
                error=snap.error if snap is not None else None,
            )
        )

    def order(tile: SnapshotTile) -> tuple[int, str, int, str]:
        rank = ROLE_ORDER.index(tile.role) if tile.role in ROLE_ORDER else len(ROLE_ORDER)
        group = 0 if tile.flagged else 1 if tile.snapshot_id is not None else 2
        return (group, tile.branch_id, rank, tile.channel_id)

    return sorted(tiles, key=order)
