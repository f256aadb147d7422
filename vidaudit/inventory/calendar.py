"""A branch's business calendar and the policy in force: one answer for every page.

The dashboard's "this week's duties", ``/duties``, the daily check, the weekly report and
the recording timeline all judge a branch by the same calendar and policy, so a branch
cannot pass on one page and fail on another:

* the calendar: the inventory's branch when the inventory lists it; otherwise (the
  database was synced from another file, or the branch has been retired since) the hours
  ``inventory sync`` stored with the branch;
* the policy: the inventory's; otherwise the one the latest collection run recorded (by
  run id: runs are numbered as they start); otherwise the defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import BranchRow, CollectionRunRow
from vidaudit.inventory.schema import Branch, Inventory, OpenHours, Policy, WeekHours


def branch_calendar(row: BranchRow, inventory: Inventory | None) -> Branch:
    """The branch's business hours, closed dates and special days.

    ``model_construct`` for a branch rebuilt from its row: it has no devices, which the
    inventory schema would refuse; only the calendar is read from it.
    """
    if inventory is not None:
        for branch in inventory.branches:
            if branch.id == row.id:
                return branch
    hours: dict[str, Any] = row.hours or {}
    week = WeekHours.model_validate(hours.get("week") or {"mon": "closed", "sun": "closed"})
    closed = [dt.date.fromisoformat(d) for d in hours.get("closed_dates", [])]
    special = {
        dt.date.fromisoformat(d): OpenHours.parse(h)
        for d, h in (hours.get("special_days") or {}).items()
    }
    return Branch.model_construct(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        hours=week,
        closed_dates=closed,
        special_days=special,
        devices=[],
    )


def current_policy(session: Session, inventory: Inventory | None) -> Policy:
    """The policy branches are judged by now (see the module's docstring)."""
    if inventory is not None:
        return inventory.policy
    recorded = session.scalar(
        select(CollectionRunRow.policy).order_by(CollectionRunRow.id.desc()).limit(1)
    )
    if recorded:
        try:
            return Policy.model_validate(recorded)
        except ValueError:
            pass  # a policy from an older schema: the defaults judge instead
    return Policy()
