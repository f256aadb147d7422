"""The week-long indicators of one branch: duties kept (D1-D3, D9) and rectification on time.

Both are judged by the same pure rules the duty pages and the findings use
(``review.duties``), on weeks that run Monday to Sunday in the branch's own time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    DailyCheckRow,
    DeviceRow,
    FindingEventRow,
    FindingRow,
    ReviewRow,
)
from vidaudit.inventory.calendar import branch_calendar
from vidaudit.inventory.schema import Inventory, Policy
from vidaudit.overview.days import branch_zone, day_bounds
from vidaudit.overview.model import Indicator, Tallies, Tally
from vidaudit.review.duties import PatrolDay, WeekDuties, patrol_days, week_duties, week_start
from vidaudit.review.findings import Action
from vidaudit.review.patrols import rounds_between


def duty_tally(
    duties: WeekDuties, patrol: Iterable[PatrolDay] = (), since: dt.date | None = None
) -> Tally:
    """Duties met of duties due in one branch-week.

    D1 counts each business day that has ended (today's check can still be done); D2 and
    D3 count once the week is over, or earlier once met (a week's reviews are not "missed"
    on a Monday); D9 counts each off-site ATM's ended days, and today once met.  ``since``:
    the day the branch was first listed; nothing before it was its duty, and a week it
    joined part-way counts D2 and D3 only if met."""
    checked = set(duties.checked_days)
    days = [d for d in duties.check_days if since is None or d >= since]
    ok = sum(day in checked for day in days)
    due = len(days)
    whole_week = since is None or since <= duties.week_start
    for done, required in (
        (duties.admin_reviews, duties.admin_required),
        (duties.head_reviews, duties.head_required),
    ):
        if required <= 0:
            continue
        met = done >= required
        if met or (duties.finished and whole_week):
            due += 1
            ok += met
    for day in patrol:
        if day.required <= 0 or day.status == "due":
            continue
        due += 1
        ok += day.status == "met"
    return Tally(ok, due)


def rectification_tally(
    findings: Iterable[tuple[dt.date, dt.datetime | None]], tz: ZoneInfo, today: dt.date
) -> Tally:
    """``findings``: (deadline, when its first fix was reported or None).  Due once the
    deadline has passed or the fix is in; on time when the fix came by the end of the
    deadline day in the branch's zone."""
    ok = due = 0
    for deadline, fixed_at in findings:
        if fixed_at is None and deadline >= today:
            continue
        due += 1
        if fixed_at is not None:
            ok += fixed_at < day_bounds(deadline, tz)[1]
    return Tally(ok, due)


def _offsite_atms(session: Session, branch_id: str) -> list[tuple[str, dt.datetime]]:
    return [
        (channel_id, first_seen)
        for channel_id, first_seen in session.execute(
            select(ChannelRow.id, ChannelRow.first_seen_at)
            .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
            .where(
                ChannelRow.offsite.is_(True),
                ChannelRow.retired_at.is_(None),
                DeviceRow.retired_at.is_(None),
                DeviceRow.branch_id == branch_id,
            )
        )
    ]


def branch_weeks(
    session: Session,
    row: BranchRow,
    mondays: Sequence[dt.date],
    now: dt.datetime,
    policy: Policy,
    inventory: Inventory | None,
) -> dict[dt.date, Tallies]:
    """Duties and rectification of ``row`` for each week in ``mondays`` (five queries)."""
    if not mondays:
        return {}
    tz = branch_zone(row)
    today = now.astimezone(tz).date()
    first_day, last_day = min(mondays), max(mondays) + dt.timedelta(days=6)
    lo, hi = day_bounds(first_day, tz)[0], day_bounds(last_day, tz)[1]
    reviews = [
        (submitted, role)
        for submitted, role in session.execute(
            select(ReviewRow.submitted_at, ReviewRow.reviewer_role).where(
                ReviewRow.branch_id == row.id,
                ReviewRow.submitted_at >= lo,
                ReviewRow.submitted_at < hi,
            )
        )
    ]
    checks = list(
        session.scalars(
            select(DailyCheckRow.day).where(
                DailyCheckRow.branch_id == row.id,
                DailyCheckRow.day >= first_day,
                DailyCheckRow.day <= last_day,
            )
        )
    )
    atms = _offsite_atms(session, row.id)
    rounds: dict[str, list[dt.datetime]] = {channel_id: [] for channel_id, _ in atms}
    for found in rounds_between(session, list(rounds), lo, hi):
        rounds[found.channel_id].append(found.at)
    first_fix = (
        select(FindingEventRow.finding_id, func.min(FindingEventRow.at).label("fixed_at"))
        .where(FindingEventRow.action == Action.FIX.value)
        .group_by(FindingEventRow.finding_id)
        .subquery()
    )
    findings = [
        (deadline, fixed_at)
        for deadline, fixed_at in session.execute(
            select(FindingRow.deadline, first_fix.c.fixed_at)
            .outerjoin(first_fix, first_fix.c.finding_id == FindingRow.id)
            .where(
                FindingRow.branch_id == row.id,
                FindingRow.deadline >= first_day,
                FindingRow.deadline <= last_day,
            )
        )
    ]
    branch = branch_calendar(row, inventory)
    since = row.first_seen_at.astimezone(tz).date()
    out: dict[dt.date, Tallies] = {}
    for monday in mondays:
        days = [monday + dt.timedelta(days=n) for n in range(7)]
        if days[-1] < since:
            continue  # the branch was not listed yet: nothing was its duty
        duties = week_duties(branch, policy, tz, monday, reviews, checks, now)
        patrol = [
            day
            for channel_id, first_seen in atms
            for day in patrol_days(
                channel_id,
                [d for d in days if d >= first_seen.astimezone(tz).date()],
                rounds[channel_id],
                policy,
                tz,
                today,
            )
        ]
        out[monday] = {
            Indicator.DUTIES: duty_tally(duties, patrol, since),
            Indicator.RECTIFICATION: rectification_tally(
                ((d, fixed) for d, fixed in findings if week_start(d) == monday), tz, today
            ),
        }
    return out
