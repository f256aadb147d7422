"""The compliance dashboard's numbers: pure query and aggregation functions, nothing renders.

One dashboard request runs a fixed number of statements whatever the number of branches
(no query per branch or per channel), and each reads an index range:

* the latest run per branch and the last compliant one: four correlated seeks per branch
  into ``ix_branch_results_branch_ok_time`` (the table grows by one row per branch per run,
  every few minutes, so "group by branch over all rows" would slow down month by month);
* channel and device aggregates over the latest runs only (``run_id`` indexes), grouped in
  SQL; the worst-retention channel by a window function;
* business days missed: the JSON is read only for channels that missed some;
* open tickets, overdue findings, this week's reviews and daily checks: one grouped read
  each.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, false, func, select, true
from sqlalchemy.orm import Session

from vidaudit.compliance.rules import RETENTION_TOLERANCE
from vidaudit.db.models import (
    BranchResultRow,
    BranchRow,
    ChannelObservationRow,
    DailyCheckRow,
    DeviceObservationRow,
    FaultTicketRow,
    FindingRow,
    ReviewRow,
)
from vidaudit.inventory.calendar import branch_calendar, current_policy
from vidaudit.inventory.schema import Inventory, Policy
from vidaudit.review.duties import WeekDuties, week_duties, week_start
from vidaudit.review.findings import Status
from vidaudit.web.i18n import zone

_TOLERANCE_DAYS = RETENTION_TOLERANCE / dt.timedelta(days=1)
#: findings that still wait for a fix (``is_overdue`` in vidaudit/review/findings.py)
_WAITING = (Status.OPEN.value, Status.REOPENED.value)


@dataclass(frozen=True)
class LatestRun:
    run_id: int
    observed_at: dt.datetime


@dataclass(frozen=True)
class BranchSummary:
    """One dashboard row: a branch as its latest run left it, plus its open work."""

    branch_id: str
    name: str
    timezone: str
    run: LatestRun | None
    last_compliant: dt.datetime | None
    channels: int = 0
    channels_compliant: int = 0
    #: the channel holding the smallest share of its required retention
    worst_channel: str | None = None
    worst_held: float | None = None
    worst_required: int | None = None
    worst_verified: bool = False
    retention_short: int = 0
    retention_unknown: int = 0
    verified: int = 0
    max_drift_s: float | None = None
    max_drift_allowed: float = 60.0
    devices: int = 0
    devices_down: int = 0
    #: error kind -> devices down with it
    down_kinds: dict[str, int] = field(default_factory=dict)
    hours_channels: int = 0
    hours_days: int = 0
    open_tickets: int = 0
    overdue: int = 0
    duties: WeekDuties | None = None

    @property
    def has_data(self) -> bool:
        return self.run is not None

    @property
    def drift_bad(self) -> bool:
        return self.max_drift_s is not None and self.max_drift_s > self.max_drift_allowed

    @property
    def duties_missed(self) -> bool:
        return self.duties is not None and bool(self.duties.missed)

    @property
    def duties_due(self) -> bool:
        return self.duties is not None and bool(self.duties.due)

    @property
    def problems(self) -> list[str]:
        """Problem kinds (the dashboard's filter values) this branch has now."""
        found = []
        if self.run is None:
            found.append("no_data")
        if self.channels_compliant < self.channels:
            found.append("channels")
        if self.retention_short or self.retention_unknown:
            found.append("retention")
        if self.drift_bad:
            found.append("drift")
        if self.devices_down:
            found.append("down")
        if self.hours_channels:
            found.append("hours")
        if self.open_tickets:
            found.append("tickets")
        if self.overdue:
            found.append("overdue")
        if self.duties_missed:
            found.append("duties")
        return found

    @property
    def compliance_ratio(self) -> float:
        return self.channels_compliant / self.channels if self.channels else 0.0

    @property
    def worst_ratio(self) -> float | None:
        if self.worst_held is None or not self.worst_required:
            return None
        return self.worst_held / self.worst_required


# --- queries ---------------------------------------------------------------------------


def _newest(column: Any, compliant: ColumnElement[bool]) -> Any:
    # compliant = true/false (not IS): an equality keeps the seek on the index's 2nd column.
    return (
        select(column)
        .where(BranchResultRow.branch_id == BranchRow.id, BranchResultRow.compliant == compliant)
        .order_by(BranchResultRow.observed_at.desc())
        .limit(1)
        .correlate(BranchRow)
        .scalar_subquery()
    )


def latest_runs(
    db: Session, branch_ids: Sequence[str]
) -> tuple[dict[str, LatestRun], dict[str, dt.datetime]]:
    """Per branch: its latest run (compliant or not) and when it last complied."""
    if not branch_ids:
        return {}, {}
    rows = db.execute(
        select(
            BranchRow.id,
            _newest(BranchResultRow.run_id, true()),
            _newest(BranchResultRow.observed_at, true()),
            _newest(BranchResultRow.run_id, false()),
            _newest(BranchResultRow.observed_at, false()),
        ).where(BranchRow.id.in_(branch_ids))
    )
    latest: dict[str, LatestRun] = {}
    last_ok: dict[str, dt.datetime] = {}
    for branch_id, ok_run, ok_at, bad_run, bad_at in rows:
        if ok_at is not None:
            last_ok[branch_id] = ok_at
        if ok_at is not None and (bad_at is None or ok_at >= bad_at):
            latest[branch_id] = LatestRun(ok_run, ok_at)
        elif bad_at is not None:
            latest[branch_id] = LatestRun(bad_run, bad_at)
    return latest, last_ok


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _pairs(latest: dict[str, LatestRun]) -> tuple[set[int], set[tuple[int, str]]]:
    return {r.run_id for r in latest.values()}, {(r.run_id, b) for b, r in latest.items()}


def channel_aggregates(db: Session, latest: dict[str, LatestRun]) -> dict[str, dict[str, Any]]:
    """Per branch, over its latest run's channel observations."""
    run_ids, wanted = _pairs(latest)
    if not run_ids:
        return {}
    co = ChannelObservationRow
    branches = list(latest)
    short = and_(
        co.retention_days.is_not(None), co.retention_days < co.required_days - _TOLERANCE_DAYS
    )
    out: dict[str, dict[str, Any]] = {}
    for run_id, branch_id, total, ok, n_short, unknown, verified, hours in db.execute(
        select(
            co.run_id,
            co.branch_id,
            func.count(),
            _count_if(co.compliant == true()),
            _count_if(short),
            _count_if(co.retention_days.is_(None)),
            _count_if(co.verified == true()),
            _count_if(co.business_hours_covered == false()),
        )
        .where(co.run_id.in_(run_ids), co.branch_id.in_(branches))
        .group_by(co.run_id, co.branch_id)
    ):
        if (run_id, branch_id) in wanted:
            out[branch_id] = {
                "channels": int(total),
                "channels_compliant": int(ok),
                "retention_short": int(n_short),
                "retention_unknown": int(unknown),
                "verified": int(verified),
                "hours_channels": int(hours),
            }
    # The worst channel: lowest share of its requirement (ties: by id, so it is stable).
    ratio = co.retention_days / co.required_days
    ranked = (
        select(
            co.run_id,
            co.branch_id,
            co.channel_id,
            co.retention_days,
            co.required_days,
            co.verified,
            func.row_number()
            .over(partition_by=(co.run_id, co.branch_id), order_by=(ratio.asc(), co.channel_id))
            .label("rank"),
        )
        .where(co.run_id.in_(run_ids), co.branch_id.in_(branches), co.retention_days.is_not(None))
        .subquery()
    )
    for run_id, branch_id, channel_id, held, required, verified, _rank in db.execute(
        select(ranked).where(ranked.c.rank == 1)
    ):
        if (run_id, branch_id) in wanted and branch_id in out:
            out[branch_id].update(
                worst_channel=channel_id,
                worst_held=float(held),
                worst_required=int(required),
                worst_verified=bool(verified),
            )
    # Days missed: only channels that missed some carry JSON worth reading.
    days: dict[str, set[str]] = defaultdict(set)
    for run_id, branch_id, business_days in db.execute(
        select(co.run_id, co.branch_id, co.business_days).where(
            co.run_id.in_(run_ids),
            co.branch_id.in_(branches),
            co.business_hours_covered == false(),
        )
    ):
        if (run_id, branch_id) in wanted:
            days[branch_id].update(
                str(d.get("date")) for d in business_days or [] if not d.get("covered", True)
            )
    for branch_id, missed in days.items():
        if branch_id in out:
            out[branch_id]["hours_days"] = len(missed)
    return out


def device_aggregates(db: Session, latest: dict[str, LatestRun]) -> dict[str, dict[str, Any]]:
    run_ids, wanted = _pairs(latest)
    if not run_ids:
        return {}
    do = DeviceObservationRow
    branches = list(latest)
    out: dict[str, dict[str, Any]] = {}
    for run_id, branch_id, total, down, drift in db.execute(
        select(
            do.run_id,
            do.branch_id,
            func.count(),
            _count_if(do.online == false()),
            func.max(func.abs(do.clock_drift_s)),
        )
        .where(do.run_id.in_(run_ids), do.branch_id.in_(branches))
        .group_by(do.run_id, do.branch_id)
    ):
        if (run_id, branch_id) in wanted:
            out[branch_id] = {
                "devices": int(total),
                "devices_down": int(down),
                "max_drift_s": None if drift is None else float(drift),
                "down_kinds": {},
            }
    for run_id, branch_id, kind, count in db.execute(
        select(do.run_id, do.branch_id, do.error_kind, func.count())
        .where(do.run_id.in_(run_ids), do.branch_id.in_(branches), do.online == false())
        .group_by(do.run_id, do.branch_id, do.error_kind)
    ):
        if (run_id, branch_id) in wanted and branch_id in out:
            out[branch_id]["down_kinds"][kind or "unreachable"] = int(count)
    return out


def open_ticket_counts(db: Session, branch_ids: Sequence[str]) -> dict[str, int]:
    rows = db.execute(
        select(FaultTicketRow.branch_id, func.count())
        .where(FaultTicketRow.closed_at.is_(None), FaultTicketRow.branch_id.in_(branch_ids))
        .group_by(FaultTicketRow.branch_id)
    )
    return {branch_id: int(count) for branch_id, count in rows}


def local_today(now: dt.datetime, tz: str) -> dt.date:
    return now.astimezone(zone(tz)).date()


def overdue_counts(db: Session, zones: dict[str, str], now: dt.datetime) -> dict[str, int]:
    """Findings past their deadline and still waiting for a fix, by the branch's own date
    (the rule of ``vidaudit.review.findings.is_overdue``)."""
    latest_today = now.date() + dt.timedelta(days=1)  # no zone is a day ahead of that
    counts: dict[str, int] = defaultdict(int)
    for branch_id, deadline, count in db.execute(
        select(FindingRow.branch_id, FindingRow.deadline, func.count())
        .where(
            FindingRow.branch_id.in_(list(zones)),
            FindingRow.status.in_(_WAITING),
            FindingRow.deadline < latest_today,
        )
        .group_by(FindingRow.branch_id, FindingRow.deadline)
    ):
        if deadline < local_today(now, zones[branch_id]):
            counts[branch_id] += int(count)
    return dict(counts)


def duties_this_week(
    db: Session,
    branches: Sequence[BranchRow],
    inventory: Inventory | None,
    policy: Policy,
    now: dt.datetime,
) -> dict[str, WeekDuties]:
    """``week_duties`` for each branch's current (local) week, from two grouped reads."""
    if not branches:
        return {}
    ids = [b.id for b in branches]
    mondays = {b.id: week_start(local_today(now, b.timezone)) for b in branches}
    earliest = min(mondays.values())
    # A day's margin either side covers every zone's Monday midnight.
    since = dt.datetime.combine(earliest - dt.timedelta(days=1), dt.time(), dt.UTC)
    reviews: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for branch_id, at, role in db.execute(
        select(ReviewRow.branch_id, ReviewRow.submitted_at, ReviewRow.reviewer_role).where(
            ReviewRow.branch_id.in_(ids), ReviewRow.submitted_at >= since
        )
    ):
        reviews[branch_id].append((at, role))
    checks: dict[str, list[dt.date]] = defaultdict(list)
    for branch_id, day in db.execute(
        select(DailyCheckRow.branch_id, DailyCheckRow.day).where(
            DailyCheckRow.branch_id.in_(ids), DailyCheckRow.day >= earliest
        )
    ):
        checks[branch_id].append(day)
    out = {}
    for row in branches:
        tz: ZoneInfo = zone(row.timezone)
        out[row.id] = week_duties(
            branch_calendar(row, inventory),
            policy,
            tz,
            mondays[row.id],
            reviews.get(row.id, []),
            checks.get(row.id, []),
            now,
        )
    return out


def scoped_branches(db: Session, scope: set[str] | None) -> list[BranchRow]:
    query = select(BranchRow).where(BranchRow.retired_at.is_(None)).order_by(BranchRow.id)
    if scope is not None:
        if not scope:
            return []
        query = query.where(BranchRow.id.in_(scope))
    return list(db.scalars(query))


def dashboard_rows(
    db: Session, scope: set[str] | None, inventory: Inventory | None, now: dt.datetime
) -> list[BranchSummary]:
    """Every branch the user may see, in id order, with its numbers."""
    branches = scoped_branches(db, scope)
    ids = [b.id for b in branches]
    if not ids:
        return []
    policy = current_policy(db, inventory)
    latest, last_ok = latest_runs(db, ids)
    channels = channel_aggregates(db, latest)
    devices = device_aggregates(db, latest)
    tickets = open_ticket_counts(db, ids)
    overdue = overdue_counts(db, {b.id: b.timezone for b in branches}, now)
    duties = duties_this_week(db, branches, inventory, policy, now)
    return [
        BranchSummary(
            branch_id=b.id,
            name=b.name,
            timezone=b.timezone,
            run=latest.get(b.id),
            last_compliant=last_ok.get(b.id),
            max_drift_allowed=policy.max_clock_drift_s,
            open_tickets=tickets.get(b.id, 0),
            overdue=overdue.get(b.id, 0),
            duties=duties.get(b.id),
            **channels.get(b.id, {}),
            **devices.get(b.id, {}),
        )
        for b in branches
    ]


# --- filter and sort (pure) -------------------------------------------------------------

PROBLEMS = (
    "any",
    "channels",
    "retention",
    "drift",
    "down",
    "hours",
    "tickets",
    "overdue",
    "duties",
    "no_data",
)


def _duty_shortfall(row: BranchSummary) -> int:
    if row.duties is None:
        return 0
    return len(row.duties.missed) * 2 + len(row.duties.due)


def _sort_keys() -> dict[str, Any]:
    # Missing values sort as the worst case in the "problems first" direction.
    return {
        "branch": lambda r: r.branch_id,
        "compliance": lambda r: (r.compliance_ratio, r.branch_id),
        "retention": lambda r: (
            r.worst_ratio if r.worst_ratio is not None else -1.0,
            r.branch_id,
        ),
        "drift": lambda r: (r.max_drift_s or 0.0, r.branch_id),
        "down": lambda r: (r.devices_down, r.branch_id),
        "hours": lambda r: (r.hours_days, r.hours_channels, r.branch_id),
        "tickets": lambda r: (r.open_tickets, r.branch_id),
        "overdue": lambda r: (r.overdue, r.branch_id),
        "duties": lambda r: (_duty_shortfall(r), r.branch_id),
        "last_compliant": lambda r: (
            r.last_compliant.timestamp() if r.last_compliant else 0.0,
            r.branch_id,
        ),
        "run": lambda r: (r.run.observed_at.timestamp() if r.run else 0.0, r.branch_id),
    }


SORT_KEYS = tuple(_sort_keys())
#: the direction that puts problems first, used when a column is first clicked
PROBLEMS_FIRST_DESC = frozenset({"drift", "down", "hours", "tickets", "overdue", "duties"})


@dataclass(frozen=True)
class View:
    """What the user asked to see: ``?q=&problem=&sort=&dir=`` (unknown values ignored)."""

    q: str = ""
    problem: str = ""
    sort: str = "compliance"
    desc: bool = False

    @classmethod
    def parse(cls, q: str | None, problem: str | None, sort: str | None, order: str | None) -> View:
        chosen = sort if sort in SORT_KEYS else "compliance"
        # no direction given: the one that puts problems first for this column
        desc = order == "desc" if order in ("asc", "desc") else chosen in PROBLEMS_FIRST_DESC
        return cls(
            q=(q or "").strip()[:64],
            problem=problem if problem in PROBLEMS else "",
            sort=chosen,
            desc=desc,
        )

    def query(self, **changes: str) -> dict[str, str]:
        values = {
            "q": self.q,
            "problem": self.problem,
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v}


def select_rows(rows: Iterable[BranchSummary], view: View) -> list[BranchSummary]:
    needle = view.q.casefold()
    chosen = []
    for row in rows:
        if needle and needle not in row.branch_id.casefold() and needle not in row.name.casefold():
            continue
        problems = row.problems
        if view.problem == "any" and not problems:
            continue
        if view.problem and view.problem != "any" and view.problem not in problems:
            continue
        chosen.append(row)
    return sorted(chosen, key=_sort_keys()[view.sort], reverse=view.desc)
