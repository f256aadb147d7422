"""The overview: each indicator for the bank, each region and each branch, by week.

``build_overview`` is what the ``/overview`` page, its PDF and its XLSX show.  Weeks run
Monday to Sunday in each branch's own time zone; the weeks shown end with the one that
holds today (the latest Monday any branch has reached), this week counted so far.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vidaudit.db.models import BranchRow
from vidaudit.inventory.schema import Inventory, Policy
from vidaudit.overview.days import DayCounts, branch_days, branch_zone, store_ended_days
from vidaudit.overview.model import INDICATORS, Indicator, Tallies, Tally, add, total
from vidaudit.overview.weeks import branch_weeks
from vidaudit.review.duties import week_start

#: weeks in the trend
TREND_WEEKS = 12
#: branches listed as the worst of this week
WORST_BRANCHES = 5


@dataclass(frozen=True)
class Series:
    """One group (a branch, a region, the bank) over the weeks: ``weeks[i]`` holds the
    tallies of ``Overview.mondays[i]``."""

    key: str
    name: str
    weeks: list[Tallies]

    @property
    def this_week(self) -> Tallies:
        return self.weeks[-1]

    def rate(self, indicator: Indicator, index: int = -1) -> float | None:
        return self.weeks[index].get(indicator, Tally()).rate

    def trend(self, indicator: Indicator) -> list[float | None]:
        return [week.get(indicator, Tally()).rate for week in self.weeks]


@dataclass(frozen=True)
class BranchSeries(Series):
    region: str | None = None

    @property
    def score(self) -> float | None:
        """The mean of this week's known rates: how the worst branches are ranked."""
        rates = [r for r in (self.rate(i) for i in INDICATORS) if r is not None]
        return sum(rates) / len(rates) if rates else None


@dataclass(frozen=True)
class Overview:
    mondays: list[dt.date]
    bank: Series
    regions: list[Series]
    branches: list[BranchSeries]
    generated_at: dt.datetime
    #: the branches' time zone when they share one (else None: the bank's default)
    zone: str | None = None

    @property
    def this_monday(self) -> dt.date:
        return self.mondays[-1]

    @property
    def this_sunday(self) -> dt.date:
        return self.mondays[-1] + dt.timedelta(days=6)

    @property
    def worst(self) -> list[BranchSeries]:
        """This week's lowest-scoring branches (those with something to score)."""
        scored = [b for b in self.branches if b.score is not None and b.score < 1.0]
        return sorted(scored, key=lambda b: (b.score, b.key))[:WORST_BRANCHES]


def trend_mondays(rows: Sequence[BranchRow], now: dt.datetime, weeks: int) -> list[dt.date]:
    latest = max(
        (week_start(now.astimezone(branch_zone(row)).date()) for row in rows),
        default=week_start(now.date()),
    )
    return [latest - dt.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def _week_of_days(
    counts: dict[tuple[str, dt.date], DayCounts], branch_id: str, monday: dt.date
) -> Tallies:
    out: Tallies = {}
    for n in range(7):
        found = counts.get((branch_id, monday + dt.timedelta(days=n)))
        if found is not None:
            add(out, found.tallies())
    return out


def build_overview(
    session: Session,
    rows: Sequence[BranchRow],
    now: dt.datetime,
    policy: Policy,
    inventory: Inventory | None,
    *,
    weeks: int = TREND_WEEKS,
) -> Overview:
    """The indicators of the branches in ``rows`` (those the user may see)."""
    mondays = trend_mondays(rows, now, weeks)
    counts = branch_days(session, rows, mondays[0], now, policy, inventory)
    branches: list[BranchSeries] = []
    for row in rows:
        weekly = branch_weeks(session, row, mondays, now, policy, inventory)
        series: list[Tallies] = []
        for monday in mondays:
            week = _week_of_days(counts, row.id, monday)
            add(week, weekly.get(monday, {}))
            series.append(week)
        branches.append(BranchSeries(row.id, row.name, series, region=row.region))
    by_region: dict[str, list[BranchSeries]] = defaultdict(list)
    for branch in branches:
        by_region[branch.region or ""].append(branch)
    regions = [
        Series(name, name, [total([b.weeks[i] for b in members]) for i in range(len(mondays))])
        for name, members in sorted(by_region.items(), key=lambda item: (item[0] == "", item[0]))
    ]
    bank = Series("", "", [total([b.weeks[i] for b in branches]) for i in range(len(mondays))])
    zones = {row.timezone for row in rows}
    return Overview(mondays, bank, regions, branches, now, zones.pop() if len(zones) == 1 else None)


def keep_ended_days(
    session: Session, now: dt.datetime, policy: Policy, inventory: Inventory | None
) -> int:
    """Count and keep every ended day the trend can show, before housekeeping rolls a day's
    observations up to one per channel (after which its polls could no longer be counted).
    Returns the branch-days newly kept."""
    return store_ended_days(session, now, policy, inventory, days_back=(TREND_WEEKS + 1) * 7)
