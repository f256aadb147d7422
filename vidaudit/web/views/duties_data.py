"""What the duties, daily-check and weekly-report pages read: weeks, schedules, duties.

Weeks run Monday to Sunday in each branch's own time zone (``vidaudit.review.duties``);
a branch's business hours come from its database row (as ``vidaudit inventory sync``
stored them from cameras.yaml), so the pages judge the same calendar the collector did
even when the web server's copy of cameras.yaml is absent or another file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.dates import plausible
from vidaudit.db.models import BranchRow, DailyCheckRow, ReviewRow
from vidaudit.inventory.calendar import branch_calendar
from vidaudit.inventory.schema import Inventory, Policy
from vidaudit.review.duties import WeekDuties, week_duties, week_start
from vidaudit.web.i18n import zone

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
#: how many weeks before the chosen one the history shows
HISTORY_WEEKS = 8


class BadWeek(ValueError):
    """A ``week`` parameter that is neither a date nor an ISO week."""


def parse_week(text: str | None, today: dt.date) -> dt.date:
    """The Monday of the week ``text`` names: ``2026-11-19`` (any day of it) or
    ``2026-W47`` (what ``<input type=week>`` sends); empty means this week."""
    if not text:
        return week_start(today)
    text = text.strip()[:32]
    match = _ISO_WEEK.match(text)
    try:
        if match:
            monday = dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        else:
            monday = week_start(dt.date.fromisoformat(text))
    except ValueError:
        raise BadWeek(text) from None
    if not plausible(monday):  # year 1 or 9999: weeks around it overflow
        raise BadWeek(text)
    return monday


def iso_week(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(monday: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[Monday 00:00, next Monday 00:00) in the branch's zone, as aware datetimes."""
    start = dt.datetime.combine(monday, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def branch_today(row: BranchRow, now: dt.datetime) -> dt.date:
    return now.astimezone(zone(row.timezone)).date()


def duties_for_weeks(
    db: Session,
    row: BranchRow,
    policy: Policy,
    mondays: Sequence[dt.date],
    now: dt.datetime,
    inventory: Inventory | None,
) -> list[WeekDuties]:
    """D1–D3 of ``row`` for each week in ``mondays`` (two queries for all of them)."""
    if not mondays:
        return []
    tz = zone(row.timezone)
    first, _ = week_bounds(min(mondays), tz)
    _, last = week_bounds(max(mondays), tz)
    reviews = [
        (at, role)
        for at, role in db.execute(
            select(ReviewRow.submitted_at, ReviewRow.reviewer_role).where(
                ReviewRow.branch_id == row.id,
                ReviewRow.submitted_at >= first,
                ReviewRow.submitted_at < last,
            )
        )
    ]
    checks = list(
        db.scalars(
            select(DailyCheckRow.day).where(
                DailyCheckRow.branch_id == row.id,
                DailyCheckRow.day >= min(mondays),
                DailyCheckRow.day <= max(mondays) + dt.timedelta(days=6),
            )
        )
    )
    branch = branch_calendar(row, inventory)
    return [week_duties(branch, policy, tz, monday, reviews, checks, now) for monday in mondays]


@dataclass(frozen=True)
class DutyLine:
    """One branch's week as a page shows it."""

    branch: BranchRow
    duties: WeekDuties
    #: today is a business day of this week and its check is not confirmed yet
    today_pending: bool = False

    @property
    def checks_done(self) -> int:
        return len([d for d in self.duties.check_days if d in self.duties.checked_days])

    def status(self, code: str) -> str:
        """``met`` | ``due`` (can still be done this week) | ``missed``."""
        if code == "D1":
            if self.duties.missing_checks:
                return "missed"
            return "due" if self.today_pending else "met"
        if code in self.duties.missed:
            return "missed"
        if code in self.duties.due:
            return "due"
        return "met"
