"""What deserves an alert now, read from the database (never from one run's report), so a
sweep after a restart catches up on whatever was missed:

==========================  ==========================================  ==================
event                       due when                                    repeats
==========================  ==========================================  ==================
device_offline              an R6.offline ticket is open                every repeat_hours
disk_failed                 an R6.storage ticket is open                every repeat_hours
ticket_escalated            a ticket is open past its due time          once per due time
approval_waiting            a viewing request waits for the head        every repeat_hours
rectification_overdue       from daily_at (branch-local), a branch has  once a day
                            findings past their deadline
daily_check_missing         from daily_check_by on a business day, the  once a day
                            day's check (D1) is not confirmed
weekly_report               from weekly_report_day weekly_report_at,    once a week
                            the week just finished
==========================  ==========================================  ==================

Each item carries its throttle key, its branch (for routing), the catalogue key and
values of its line, and the page it links to.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    AlertThrottleRow,
    ApprovalRow,
    BranchRow,
    ChannelRow,
    DailyCheckRow,
    FaultTicketRow,
    FindingRow,
    ReviewRow,
    UserRow,
)
from vidaudit.inventory.calendar import branch_calendar, current_policy
from vidaudit.inventory.schema import Inventory
from vidaudit.notify.config import NotifySettings, hhmm
from vidaudit.review.duties import week_duties, week_start
from vidaudit.review.findings import is_overdue as finding_overdue
from vidaudit.review.tickets import OPEN_STATES, escalate_overdue

#: which ticket rules raise which immediate alert (R6.storage: a disk failed or is full)
TICKET_EVENTS = {"R6.offline": "device_offline", "R6.storage": "disk_failed"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Due:
    event: str
    #: the throttle key: what "the same alert" means
    key: str
    branch_id: str
    #: catalogue key of the line and its values; ``terms`` are values that are
    #: themselves catalogue keys (translated into the message's language)
    text_key: str
    values: dict[str, object] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)
    path: str = "/"
    #: None: once only; else at most once per this long
    repeat: dt.timedelta | None = None
    about: dict[str, str] = field(default_factory=dict)


def _local(at: dt.datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _branches(session: Session) -> dict[str, BranchRow]:
    return {
        b.id: b for b in session.scalars(select(BranchRow).where(BranchRow.retired_at.is_(None)))
    }


def ticket_faults(session: Session, notify: NotifySettings, now: dt.datetime) -> list[Due]:
    branches = _branches(session)
    repeat = dt.timedelta(hours=notify.repeat_hours)
    tickets = session.scalars(
        select(FaultTicketRow)
        .where(
            FaultTicketRow.closed_at.is_(None),
            FaultTicketRow.rule.in_(TICKET_EVENTS),
        )
        .order_by(FaultTicketRow.branch_id, FaultTicketRow.subject_id)
    )
    out = []
    for ticket in tickets:
        branch = branches.get(ticket.branch_id)
        if branch is None:
            continue  # a retired branch's device is nobody's alarm
        kind = str(ticket.evidence.get("error_kind", "")) or "unreachable"
        out.append(
            Due(
                event=TICKET_EVENTS[ticket.rule],
                key=f"ticket:{ticket.id}",
                branch_id=ticket.branch_id,
                text_key=f"alerts.line.{TICKET_EVENTS[ticket.rule]}",
                values={
                    "branch": branch.name,
                    "subject": ticket.subject_id,
                    "since": _local(ticket.opened_at, branch.timezone),
                    "ticket": ticket.id,
                },
                terms={"why": f"dashboard.error_kind.{kind}"}
                if ticket.rule == "R6.offline"
                else {},
                path=f"/tickets/{ticket.id}",
                repeat=repeat,
                about={
                    "key": f"ticket:{ticket.id}",
                    "branch": ticket.branch_id,
                    "subject": f"{ticket.subject_kind}:{ticket.subject_id}",
                    "rule": ticket.rule,
                },
            )
        )
    return out


def escalations(session: Session, now: dt.datetime) -> list[Due]:
    """Escalate overdue tickets (a write: ``review.tickets``) and alert each once."""
    branches = _branches(session)
    out = []
    for ticket in escalate_overdue(session, now):
        branch = branches.get(ticket.branch_id)
        if branch is None or ticket.due_at is None:
            continue
        assignee = session.get(UserRow, ticket.assignee_id) if ticket.assignee_id else None
        out.append(
            Due(
                event="ticket_escalated",
                key=f"escalated:{ticket.id}:{ticket.due_at.isoformat()}",
                branch_id=ticket.branch_id,
                text_key="alerts.line.ticket_escalated",
                values={
                    "branch": branch.name,
                    "subject": ticket.subject_id,
                    "ticket": ticket.id,
                    "due": _local(ticket.due_at, branch.timezone),
                    "assignee": assignee.display_name if assignee else "—",
                },
                terms={"rule": "dashboard.rule." + ticket.rule.lower().replace(".", "_")},
                path=f"/tickets/{ticket.id}",
                about={"key": f"ticket:{ticket.id}", "branch": ticket.branch_id},
            )
        )
    return out


def approvals_waiting(session: Session, notify: NotifySettings, now: dt.datetime) -> list[Due]:
    branches = _branches(session)
    repeat = dt.timedelta(hours=notify.repeat_hours)
    rows = session.execute(
        select(ApprovalRow, UserRow.display_name, ChannelRow.name)
        .join(UserRow, UserRow.id == ApprovalRow.requester_id)
        .join(ChannelRow, ChannelRow.id == ApprovalRow.channel_id)
        .where(ApprovalRow.status == "pending")
        .order_by(ApprovalRow.id)
    )
    out = []
    for approval, requester, channel_name in rows:
        branch = branches.get(approval.branch_id)
        if branch is None:
            continue
        out.append(
            Due(
                event="approval_waiting",
                key=f"approval:{approval.id}",
                branch_id=approval.branch_id,
                text_key="alerts.line.approval_waiting",
                values={
                    "branch": branch.name,
                    "requester": requester,
                    "channel": f"{approval.channel_id} {channel_name}",
                    "start": _local(approval.range_start, branch.timezone),
                    "end": _local(approval.range_end, branch.timezone),
                    "reason": approval.reason[:200],
                },
                path="/approvals",
                repeat=repeat,
                about={"key": f"approval:{approval.id}", "branch": approval.branch_id},
            )
        )
    return out


def _reached(local_now: dt.datetime, at: str) -> bool:
    return local_now.time() >= hhmm(at)


def _not_sent(session: Session, keys: dict[str, str]) -> dict[str, str]:
    """Of ``{branch: key}`` for once-only alerts, those not alerted yet: a sweep every
    half minute must not recompute a week's duties for every branch."""
    if not keys:
        return {}
    sent = set(
        session.scalars(select(AlertThrottleRow.key).where(AlertThrottleRow.key.in_(keys.values())))
    )
    return {branch: key for branch, key in keys.items() if key not in sent}


def overdue_rectifications(session: Session, notify: NotifySettings, now: dt.datetime) -> list[Due]:
    branches = _branches(session)
    open_findings = session.scalars(
        select(FindingRow).where(FindingRow.status.in_(("open", "reopened")))
    )
    overdue: dict[str, list[FindingRow]] = defaultdict(list)
    for finding in open_findings:
        branch = branches.get(finding.branch_id)
        if branch is None:
            continue
        if finding_overdue(finding, now.astimezone(ZoneInfo(branch.timezone)).date()):
            overdue[finding.branch_id].append(finding)
    candidates = {}
    for branch_id in overdue:
        local = now.astimezone(ZoneInfo(branches[branch_id].timezone))
        if _reached(local, notify.daily_at):
            candidates[branch_id] = f"overdue:{branch_id}:{local.date().isoformat()}"
    out = []
    for branch_id, key in sorted(_not_sent(session, candidates).items()):
        findings = overdue[branch_id]
        out.append(
            Due(
                event="rectification_overdue",
                key=key,
                branch_id=branch_id,
                text_key="alerts.line.rectification_overdue",
                values={
                    "branch": branches[branch_id].name,
                    "n": len(findings),
                    "oldest": min(f.deadline for f in findings).isoformat(),
                },
                path=f"/findings?status=active&overdue=1&branch={branch_id}",
                about={"key": f"overdue:{branch_id}", "branch": branch_id},
            )
        )
    return out


def daily_checks_missing(
    session: Session, notify: NotifySettings, inventory: Inventory | None, now: dt.datetime
) -> list[Due]:
    policy = current_policy(session, inventory)
    if not policy.duties.daily_check:
        return []
    branches = _branches(session)
    candidates: dict[str, str] = {}
    for branch_id, row in branches.items():
        local = now.astimezone(ZoneInfo(row.timezone))
        if not _reached(local, notify.daily_check_by):
            continue
        if branch_calendar(row, inventory).hours_on(local.date()) is None:
            continue  # not a business day: no check is due
        candidates[branch_id] = f"daily_check:{branch_id}:{local.date().isoformat()}"
    candidates = _not_sent(session, candidates)
    today = {b: now.astimezone(ZoneInfo(branches[b].timezone)).date() for b in candidates}
    checked = set(
        session.execute(
            select(DailyCheckRow.branch_id, DailyCheckRow.day).where(
                DailyCheckRow.branch_id.in_(candidates),
                DailyCheckRow.day.in_(set(today.values())),
            )
        ).all()
    )
    out = []
    for branch_id, key in sorted(candidates.items()):
        if (branch_id, today[branch_id]) in checked:
            continue
        out.append(
            Due(
                event="daily_check_missing",
                key=key,
                branch_id=branch_id,
                text_key="alerts.line.daily_check_missing",
                values={
                    "branch": branches[branch_id].name,
                    "day": today[branch_id].isoformat(),
                    "by": notify.daily_check_by,
                },
                path="/duties",
                about={"key": f"daily_check:{branch_id}", "branch": branch_id},
            )
        )
    return out


def weekly_reports(
    session: Session, notify: NotifySettings, inventory: Inventory | None, now: dt.datetime
) -> list[Due]:
    """The finished week's report, from its report moment until the week after ends."""
    policy = current_policy(session, inventory)
    day = WEEKDAYS.index(notify.weekly_report_day)
    branches = _branches(session)
    candidates: dict[str, str] = {}
    for branch_id, row in branches.items():
        local = now.astimezone(ZoneInfo(row.timezone))
        this_monday = week_start(local.date())
        moment = dt.datetime.combine(
            this_monday + dt.timedelta(days=day), hhmm(notify.weekly_report_at), local.tzinfo
        )
        if local >= moment:
            last_monday = this_monday - dt.timedelta(days=7)
            candidates[branch_id] = f"weekly:{branch_id}:{last_monday.isoformat()}"
    out = []
    for branch_id, key in sorted(_not_sent(session, candidates).items()):
        row = branches[branch_id]
        tz = ZoneInfo(row.timezone)
        monday = dt.date.fromisoformat(key.rsplit(":", 1)[1])
        start = dt.datetime.combine(monday, dt.time(), tz)
        end = start + dt.timedelta(days=7)
        reviews = session.execute(
            select(ReviewRow.submitted_at, ReviewRow.reviewer_role).where(
                ReviewRow.branch_id == branch_id,
                ReviewRow.submitted_at >= start,
                ReviewRow.submitted_at < end,
            )
        ).all()
        checks = session.scalars(
            select(DailyCheckRow.day).where(
                DailyCheckRow.branch_id == branch_id,
                DailyCheckRow.day >= monday,
                DailyCheckRow.day < monday + dt.timedelta(days=7),
            )
        ).all()
        duties = week_duties(
            branch_calendar(row, inventory),
            policy,
            tz,
            monday,
            [(at, role) for at, role in reviews],
            checks,
            now,
        )
        open_tickets = session.scalar(
            select(func.count())
            .select_from(FaultTicketRow)
            .where(
                FaultTicketRow.branch_id == branch_id,
                FaultTicketRow.state.in_([s.value for s in OPEN_STATES]),
            )
        )
        out.append(
            Due(
                event="weekly_report",
                key=key,
                branch_id=branch_id,
                text_key="alerts.line.weekly_report",
                values={
                    "branch": row.name,
                    "week": monday.isoformat(),
                    "checks": len(duties.checked_days),
                    "check_days": len(duties.check_days),
                    "admin": duties.admin_reviews,
                    "admin_required": duties.admin_required,
                    "head": duties.head_reviews,
                    "head_required": duties.head_required,
                    "tickets": open_tickets or 0,
                },
                path=f"/reports/weekly?branch={branch_id}&week={monday.isoformat()}",
                about={"key": f"weekly:{branch_id}", "branch": branch_id},
            )
        )
    return out


def all_due(
    session: Session, notify: NotifySettings, inventory: Inventory | None, now: dt.datetime
) -> list[Due]:
    """Everything due now, for the events that are switched on."""

    def on(*events: str) -> bool:
        return any(notify.recipients(e) is not None for e in events)

    # escalation is a state of the ticket as well as an alert: it happens regardless
    found = escalations(session, now)
    if on("device_offline", "disk_failed"):
        found += ticket_faults(session, notify, now)
    if on("approval_waiting"):
        found += approvals_waiting(session, notify, now)
    if on("rectification_overdue"):
        found += overdue_rectifications(session, notify, now)
    if on("daily_check_missing"):
        found += daily_checks_missing(session, notify, inventory, now)
    if on("weekly_report"):
        found += weekly_reports(session, notify, inventory, now)
    return [d for d in found if notify.recipients(d.event) is not None]
