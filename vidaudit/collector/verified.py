"""Retention proven by footage, as the collector uses it (the proofs come from
``vidaudit retention verify``, vidaudit/sampler/retention.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidaudit.db.models import RetentionCheckRow

#: A proof older than this no longer stands for today's retention.
VALID_FOR = dt.timedelta(days=2)


def verified_for(session: Session, now: dt.datetime) -> dict[str, dt.datetime]:
    """Per channel, the earliest footage the latest successful proof stands for *now*.

    A proof at ``checked_at`` showed footage at ``actual``; a recorder overwrites its
    oldest footage as it records, so at ``now`` that proof stands for footage from
    ``actual + (now − checked_at)``.  Proofs older than ``VALID_FOR`` are ignored.
    """
    latest = (
        select(
            RetentionCheckRow.channel_id,
            func.max(RetentionCheckRow.checked_at).label("checked_at"),
        )
        .where(RetentionCheckRow.checked_at >= now - VALID_FOR)
        .group_by(RetentionCheckRow.channel_id)
        .subquery()
    )
    rows = session.execute(
        select(RetentionCheckRow).join(
            latest,
            (RetentionCheckRow.channel_id == latest.c.channel_id)
            & (RetentionCheckRow.checked_at == latest.c.checked_at),
        )
    ).scalars()
    return {
        row.channel_id: row.actual + (now - row.checked_at)
        for row in rows
        if row.ok and row.actual is not None
    }
