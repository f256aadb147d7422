"""Viewing recorded footage goes on the register (Art. 46: 录像查阅必须进行登记).

Pulling frames is registered by the sampler before any video is fetched.  Looking at
frames someone pulled earlier - a branch head opening the administrator's task, an
inspector after the branch head's approval, an auditor checking a record - is viewing
too, and is registered here: once per person, channel and stretch of footage within one
login, so reloading a page or opening its pictures one by one adds no noise, while the
next login's viewing is on record again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import RegisterEntryRow, UserRow
from vidaudit.review.register import Entry, append

VIEW_ACTION = "footage_view"


def register_viewing(
    session: Session,
    viewer: UserRow,
    *,
    branch_id: str,
    channel_id: str,
    start: dt.datetime,
    end: dt.datetime,
    since: dt.datetime,
    details: dict[str, Any],
    now: dt.datetime,
) -> RegisterEntryRow | None:
    """Register that ``viewer`` sees footage of ``channel_id`` over [start, end], unless
    a viewing registered since ``since`` (the login's start) covers it already.  Returns
    the new entry, or None when one covered it."""
    covered = session.scalars(
        select(RegisterEntryRow.seq)
        .where(
            RegisterEntryRow.action == VIEW_ACTION,
            RegisterEntryRow.actor == viewer.username,
            RegisterEntryRow.channel_id == channel_id,
            RegisterEntryRow.range_start <= start,
            RegisterEntryRow.range_end >= end,
            RegisterEntryRow.at >= since,
        )
        .limit(1)
    ).first()
    if covered is not None:
        return None
    return append(
        session,
        Entry(
            actor=viewer.username,
            actor_role=viewer.role,
            action=VIEW_ACTION,
            reason="",
            branch_id=branch_id,
            channel_id=channel_id,
            range_start=start,
            range_end=end,
            details={"purpose": "view", **details},
        ),
        now,
    )
