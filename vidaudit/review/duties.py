"""Weekly duties per branch (D1-D3), as a pure function of what was recorded.

  D1  the administrator confirms the daily check on every business day
  D2  the administrator reviews footage at least ``admin_reviews_per_week`` times
  D3  the branch head reviews footage at least ``head_reviews_per_week`` times

Weeks run Monday to Sunday in the branch's time zone; the current week is judged so far
(a Monday morning is not already "missing two reviews": ``due`` says what is still open
and ``missed`` only what can no longer be done).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vidaudit.accounts.roles import PersonRole
from vidaudit.inventory.schema import Branch, Policy


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class WeekDuties:
    branch_id: str
    week_start: dt.date
    admin_reviews: int
    admin_required: int
    head_reviews: int
    head_required: int
    #: business days of the week up to today and those with a confirmed daily check
    check_days: list[dt.date]
    checked_days: list[dt.date]
    finished: bool  # the week is over

    @property
    def missing_checks(self) -> list[dt.date]:
        return [d for d in self.check_days if d not in self.checked_days]

    @property
    def missed(self) -> list[str]:
        """Duties that can no longer be met (or, for daily checks, days already gone)."""
        out = [f"D1:{d.isoformat()}" for d in self.missing_checks]
        if self.finished and self.admin_reviews < self.admin_required:
            out.append("D2")
        if self.finished and self.head_reviews < self.head_required:
            out.append("D3")
        return out

    @property
    def due(self) -> list[str]:
        """Duties not yet done this week that can still be done."""
        if self.finished:
            return []
        out = []
        if self.admin_reviews < self.admin_required:
            out.append("D2")
        if self.head_reviews < self.head_required:
            out.append("D3")
        return out

    @property
    def complete(self) -> bool:
        return not self.missed and not self.due


def week_duties(
    branch: Branch,
    policy: Policy,
    tz: ZoneInfo,
    week: dt.date,
    reviews: Iterable[tuple[dt.datetime, str]],
    checks: Iterable[dt.date],
    now: dt.datetime,
) -> WeekDuties:
    """``reviews``: (submitted_at, reviewer role); ``checks``: days with a daily check."""
    monday = week_start(week)
    sunday = monday + dt.timedelta(days=6)
    today = now.astimezone(tz).date()
    admin = head = 0
    for at, role in reviews:
        local = at.astimezone(tz).date()
        if monday <= local <= sunday:
            admin += role == PersonRole.ADMINISTRATOR
            head += role == PersonRole.BRANCH_HEAD
    check_days = []
    day = monday
    while day <= min(sunday, today):
        if branch.hours_on(day) is not None:
            check_days.append(day)
        day += dt.timedelta(days=1)
    checked = sorted({d for d in checks if monday <= d <= sunday})
    # today's check is still possible until the day is over: today counts once it is done
    # (a confirmed day must never leave D1 reading as if nothing happened)
    required_days = (
        [d for d in check_days if d < today or (d == today and d in checked)]
        if today <= sunday
        else check_days
    )
    return WeekDuties(
        branch_id=branch.id,
        week_start=monday,
        admin_reviews=admin,
        admin_required=policy.duties.admin_reviews_per_week,
        head_reviews=head,
        head_required=policy.duties.head_reviews_per_week,
        check_days=required_days if policy.duties.daily_check else [],
        checked_days=checked,
        finished=today > sunday,
    )


# --- D9: off-site ATM patrol rounds ---------------------------------------------------------


def counted_rounds(times: Iterable[dt.datetime], min_gap: dt.timedelta) -> list[dt.datetime]:
    """The rounds that count towards the day's duty: the first, then each one at least
    ``min_gap`` after the last counted one ("spread over the day": six clicks in one
    minute are one round)."""
    counted: list[dt.datetime] = []
    for at in sorted(times):
        if not counted or at - counted[-1] >= min_gap:
            counted.append(at)
    return counted


@dataclass(frozen=True)
class PatrolDay:
    """One off-site ATM on one local day (D9)."""

    channel_id: str
    day: dt.date
    rounds: int  # every round recorded that day
    counted: int  # those that count (``counted_rounds``)
    required: int
    is_today: bool

    @property
    def status(self) -> str:
        """``met`` | ``due`` (today, still possible) | ``missed``."""
        if self.counted >= self.required:
            return "met"
        return "due" if self.is_today else "missed"


def patrol_days(
    channel_id: str,
    days: Iterable[dt.date],
    rounds: Iterable[dt.datetime],
    policy: Policy,
    tz: ZoneInfo,
    today: dt.date,
    since: dt.date | None = None,
) -> list[PatrolDay]:
    """D9 for one off-site ATM on each of ``days`` from the instants of its rounds: the
    days up to today, and from ``since`` (the day it was first listed: an ATM owes no
    rounds for days before the bank said it exists)."""
    by_day: dict[dt.date, list[dt.datetime]] = {}
    for at in rounds:
        by_day.setdefault(at.astimezone(tz).date(), []).append(at)
    gap = dt.timedelta(minutes=policy.duties.atm_patrol_min_gap_min)
    required = policy.duties.atm_patrol_rounds_per_day
    return [
        PatrolDay(
            channel_id=channel_id,
            day=day,
            rounds=len(by_day.get(day, [])),
            counted=len(counted_rounds(by_day.get(day, []), gap)),
            required=required,
            is_today=day == today,
        )
        for day in days
        if day <= today and (since is None or day >= since)
    ]


@dataclass(frozen=True)
class PatrolWeek:
    """D9 of one branch's off-site ATMs over one week (days up to today)."""

    days: list[PatrolDay]

    @property
    def applies(self) -> bool:
        return bool(self.days) and self.days[0].required > 0

    @property
    def met(self) -> int:
        return sum(d.status == "met" for d in self.days)

    @property
    def missed(self) -> list[PatrolDay]:
        return [d for d in self.days if d.status == "missed"]

    @property
    def status(self) -> str:
        """``na`` (no off-site ATM or no duty) | ``missed`` | ``due`` | ``met``."""
        if not self.applies:
            return "na"
        if self.missed:
            return "missed"
        return "due" if any(d.status == "due" for d in self.days) else "met"
