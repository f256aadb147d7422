"""What the fault-ticket pages read: the filtered list in the reader's scope, one ticket
with its history, and who may be given it (queries only; the rules and every write are
``vidaudit.review.tickets``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    DeviceRow,
    FaultTicketRow,
    TicketEventRow,
    UserRow,
)
from vidaudit.review.tickets import OPEN_STATES, State, assignable
from vidaudit.web.deps import branch_scope
from vidaudit.web.views.review_common import row_id

PAGE_LIMIT = 500
STATES = tuple(s.value for s in State)
#: "open for longer than": the age filter's choices, in days
AGES = (1, 3, 7, 30)


@dataclass(frozen=True)
class Filters:
    branch: str = ""
    rule: str = ""
    #: "active" (every open state), one state, or "" (any)
    state: str = "active"
    #: opened at least this many days ago (0: any age)
    age: int = 0
    #: "" any, "me", "none" (nobody assigned), or a user id
    assignee: str = ""
    overdue: bool = False

    def query(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "rule": self.rule,
            "state": self.state,
            "age": str(self.age or ""),
            "assignee": self.assignee,
            "overdue": "1" if self.overdue else "",
        }


def parse_filters(
    branch: str, rule: str, state: str, age: str, assignee: str, overdue: str
) -> Filters:
    """Whatever arrives in the query string becomes a bounded, known value."""
    assignee = assignee.strip()[:12]
    if assignee not in ("", "me", "none") and row_id(assignee) is None:
        assignee = ""
    return Filters(
        branch=branch.strip()[:64],
        rule=rule.strip()[:32],
        state=state if state in (*STATES, "active", "") else "active",
        age=next((days for days in AGES if str(days) == age.strip()), 0),
        assignee=assignee,
        overdue=overdue in ("1", "on", "true"),
    )


def _query(user: UserRow, filters: Filters, now: dt.datetime) -> Select[FaultTicketRow]:
    query = select(FaultTicketRow)
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(FaultTicketRow.branch_id.in_(scope))
    if filters.branch:
        query = query.where(FaultTicketRow.branch_id == filters.branch)
    if filters.rule:
        query = query.where(FaultTicketRow.rule == filters.rule)
    if filters.state == "active":
        query = query.where(FaultTicketRow.state.in_([s.value for s in OPEN_STATES]))
    elif filters.state:
        query = query.where(FaultTicketRow.state == filters.state)
    if filters.age:
        query = query.where(FaultTicketRow.opened_at <= now - dt.timedelta(days=filters.age))
    if filters.assignee == "me":
        query = query.where(FaultTicketRow.assignee_id == user.id)
    elif filters.assignee == "none":
        query = query.where(FaultTicketRow.assignee_id.is_(None))
    elif filters.assignee:
        query = query.where(FaultTicketRow.assignee_id == int(filters.assignee))
    if filters.overdue:
        query = query.where(
            FaultTicketRow.closed_at.is_(None),
            FaultTicketRow.due_at.is_not(None),
            FaultTicketRow.due_at < now,
        )
    return query


def tickets_in_scope(
    db: Session, user: UserRow, filters: Filters, now: dt.datetime
) -> list[FaultTicketRow]:
    """Newest first, at most ``PAGE_LIMIT``."""
    query = _query(user, filters, now)
    return list(
        db.scalars(
            query.order_by(FaultTicketRow.opened_at.desc(), FaultTicketRow.id.desc()).limit(
                PAGE_LIMIT
            )
        )
    )


def rules_in_scope(db: Session, user: UserRow) -> list[str]:
    query = select(FaultTicketRow.rule).distinct()
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(FaultTicketRow.branch_id.in_(scope))
    return sorted(db.scalars(query))


def assignees_in_scope(db: Session, user: UserRow) -> list[UserRow]:
    """People tickets in the reader's scope are assigned to (for the filter)."""
    query = select(UserRow).join(FaultTicketRow, FaultTicketRow.assignee_id == UserRow.id)
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(FaultTicketRow.branch_id.in_(scope))
    return list(db.scalars(query.distinct().order_by(UserRow.display_name)))


def subjects(db: Session, tickets: list[FaultTicketRow]) -> dict[str, str]:
    """Each ticket subject's name (devices and channels)."""
    devices = {t.subject_id for t in tickets if t.subject_kind == "device"}
    channels = {t.subject_id for t in tickets if t.subject_kind == "channel"}
    names: dict[str, str] = {}
    if devices:
        for row in db.scalars(select(DeviceRow).where(DeviceRow.id.in_(devices))):
            names[row.id] = row.name or row.id
    if channels:
        for channel in db.scalars(select(ChannelRow).where(ChannelRow.id.in_(channels))):
            names[channel.id] = channel.name
    return names


@dataclass(frozen=True)
class TicketDetail:
    branch: BranchRow | None
    subject_name: str
    events: list[TicketEventRow]
    candidates: list[UserRow]


def detail_of(db: Session, ticket: FaultTicketRow) -> TicketDetail:
    events = list(
        db.scalars(
            select(TicketEventRow)
            .where(TicketEventRow.ticket_id == ticket.id)
            .order_by(TicketEventRow.id)
        )
    )
    return TicketDetail(
        db.get(BranchRow, ticket.branch_id),
        subjects(db, [ticket]).get(ticket.subject_id, ""),
        events,
        assignable(db, ticket.branch_id),
    )
