"""Questions about the past that the dashboard and reports ask; each is one index range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import BranchResultRow, ChannelObservationRow, FaultTicketRow


@dataclass(frozen=True)
class RetentionPoint:
    observed_at: dt.datetime
    retention_days: float | None
    required_days: int
    verified: bool
    compliant: bool


def retention_trend(
    session: Session, channel_id: str, since: dt.datetime, limit: int = 10_000
) -> list[RetentionPoint]:
    """Retention held over time for one channel (ix_channel_obs_channel_time)."""
    rows = session.execute(
        select(
            ChannelObservationRow.observed_at,
            ChannelObservationRow.retention_days,
            ChannelObservationRow.required_days,
            ChannelObservationRow.verified,
            ChannelObservationRow.compliant,
        )
        .where(
            ChannelObservationRow.channel_id == channel_id,
            ChannelObservationRow.observed_at >= since,
        )
        .order_by(ChannelObservationRow.observed_at)
        .limit(limit)
    )
    return [RetentionPoint(*row) for row in rows]


def last_compliant(session: Session, branch_id: str) -> dt.datetime | None:
    """When the branch last had a run with no violations (ix_branch_results_branch_ok_time)."""
    return session.scalar(
        select(BranchResultRow.observed_at)
        .where(BranchResultRow.branch_id == branch_id, BranchResultRow.compliant.is_(True))
        .order_by(BranchResultRow.observed_at.desc())
        .limit(1)
    )


def open_tickets(session: Session, branch_id: str | None = None) -> list[FaultTicketRow]:
    query = select(FaultTicketRow).where(FaultTicketRow.closed_at.is_(None))
    if branch_id is not None:
        query = query.where(FaultTicketRow.branch_id == branch_id)
    return list(session.scalars(query.order_by(FaultTicketRow.opened_at)))
