"""What the register page reads: the entries in the reader's scope, filtered and paged
(queries only; the register itself is ``vidaudit.review.register``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vidaudit.dates import parse_date
from vidaudit.db.models import RegisterEntryRow, UserRow
from vidaudit.web.deps import branch_scope
from vidaudit.web.i18n import DEFAULT_TIMEZONE, zone
from vidaudit.web.views.review_common import branch_zones

PAGE_SIZE = 50
#: actions with their own label; others (written by later modules) show as they are
KNOWN_ACTIONS = ("frame_pull", "playback", "review", "approval_request", "approval", "finding")


@dataclass(frozen=True)
class Filters:
    branch: str = ""
    channel: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""

    def query(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "channel": self.channel,
            "action": self.action,
            "date_from": self.date_from,
            "date_to": self.date_to,
        }


def entries_query(db: Session, user: UserRow, filters: Filters) -> Select[RegisterEntryRow]:
    query = select(RegisterEntryRow)
    scope = branch_scope(user)
    if scope is not None:
        # A branch's people see their branch's entries, not who looked at other branches.
        query = query.where(RegisterEntryRow.branch_id.in_(scope))
    if filters.branch:
        query = query.where(RegisterEntryRow.branch_id == filters.branch)
    if filters.channel:
        query = query.where(RegisterEntryRow.channel_id == filters.channel)
    if filters.action:
        query = query.where(RegisterEntryRow.action == filters.action)
    # Dates are calendar days where the reader is: the chosen branch's zone, else Beijing.
    zones = branch_zones(db)
    tz = zone(zones.get(filters.branch, DEFAULT_TIMEZONE))
    first, last = parse_date(filters.date_from), parse_date(filters.date_to)
    if first is not None:
        query = query.where(RegisterEntryRow.at >= dt.datetime.combine(first, dt.time(), tz))
    if last is not None:
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
        query = query.where(RegisterEntryRow.at < end)
    return query


def parse_filters(branch: str, channel: str, action: str, date_from: str, date_to: str) -> Filters:
    return Filters(
        branch=branch.strip()[:64],
        channel=channel.strip()[:64],
        action=action.strip()[:32],
        date_from=date_from.strip()[:10],
        date_to=date_to.strip()[:10],
    )


@dataclass(frozen=True)
class RegisterPage:
    entries: list[RegisterEntryRow]
    page: int
    pages: int
    total: int
    #: every action in the reader's scope, and the known ones
    actions: list[str]


def register_page_data(db: Session, user: UserRow, filters: Filters, page: int) -> RegisterPage:
    query = entries_query(db, user, filters)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(1, min(page, pages or 1))
    entries = list(
        db.scalars(
            query.order_by(RegisterEntryRow.seq.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    scope_query = select(RegisterEntryRow.action).distinct()
    scope = branch_scope(user)
    if scope is not None:
        scope_query = scope_query.where(RegisterEntryRow.branch_id.in_(scope))
    actions = sorted(set(db.scalars(scope_query)) | set(KNOWN_ACTIONS))
    return RegisterPage(entries, page, pages, total, actions)
