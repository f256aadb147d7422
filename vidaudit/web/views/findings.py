"""What the findings pages read: the filtered list, one finding with its history and
who may own it (queries only; the rules and writes are ``vidaudit.review.findings``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, roles_with
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    FindingEventRow,
    FindingRow,
    ReviewRow,
    UserRow,
)
from vidaudit.review.findings import Status, is_overdue
from vidaudit.web.deps import branch_scope
from vidaudit.web.i18n import DEFAULT_TIMEZONE, localtime
from vidaudit.web.views.review_common import branch_zones

STATUSES = tuple(s.value for s in Status)
PAGE_LIMIT = 500


def branch_today(finding: FindingRow, zones: dict[str, str], now: dt.datetime) -> dt.date:
    return localtime(now, zones.get(finding.branch_id, DEFAULT_TIMEZONE)).date()


@dataclass(frozen=True)
class Filters:
    status: str = ""
    branch: str = ""
    overdue: bool = False

    def query(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "branch": self.branch,
            "overdue": "1" if self.overdue else "",
        }


def parse_filters(status: str, branch: str, overdue: str) -> Filters:
    return Filters(
        status=status if status in (*STATUSES, "active") else "",
        branch=branch.strip()[:64],
        overdue=overdue in ("1", "on", "true"),
    )


def findings_in_scope(
    db: Session, user: UserRow, filters: Filters, now: dt.datetime
) -> list[FindingRow]:
    """The user's findings as filtered, by deadline (at most ``PAGE_LIMIT``)."""
    query = select(FindingRow)
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(FindingRow.branch_id.in_(scope))
    if filters.branch:
        query = query.where(FindingRow.branch_id == filters.branch)
    if filters.status == "active":
        query = query.where(FindingRow.status != Status.CLOSED.value)
    elif filters.status:
        query = query.where(FindingRow.status == filters.status)
    if filters.overdue:
        query = query.where(FindingRow.status.in_((Status.OPEN.value, Status.REOPENED.value)))
    rows = list(db.scalars(query.order_by(FindingRow.deadline, FindingRow.id).limit(PAGE_LIMIT)))
    if filters.overdue:
        # "Overdue" depends on each branch's own calendar day, so it is decided here.
        zones = branch_zones(db)
        rows = [f for f in rows if is_overdue(f, branch_today(f, zones, now))]
    return rows


def channels_by_id(db: Session, ids: set[str]) -> dict[str, ChannelRow]:
    return {c.id: c for c in db.scalars(select(ChannelRow).where(ChannelRow.id.in_(ids)))}


def all_branches(db: Session) -> dict[str, BranchRow]:
    return {b.id: b for b in db.scalars(select(BranchRow))}


@dataclass(frozen=True)
class FindingDetail:
    branch: BranchRow | None
    channel: ChannelRow | None
    review: ReviewRow | None
    events: list[FindingEventRow]
    #: who may be made the finding's owner: the branch's people who rectify
    candidates: list[UserRow]


def detail_of(db: Session, finding: FindingRow) -> FindingDetail:
    events = list(
        db.scalars(
            select(FindingEventRow)
            .where(FindingEventRow.finding_id == finding.id)
            .order_by(FindingEventRow.id)
        )
    )
    candidates = list(
        db.scalars(
            select(UserRow)
            .where(
                UserRow.branch_id == finding.branch_id,
                UserRow.disabled_at.is_(None),
                UserRow.role.in_(roles_with(Permission.RECTIFY)),
            )
            .order_by(UserRow.role, UserRow.display_name)
        )
    )
    return FindingDetail(
        db.get(BranchRow, finding.branch_id),
        db.get(ChannelRow, finding.channel_id),
        db.get(ReviewRow, finding.review_id),
        events,
        candidates,
    )
