"""One branch's indicator counts for one local day, from the facts the collector stored.

A day is the branch's own calendar day (its time zone).  What is counted:

* device polls: every device observation of the day (online rate, clock compliance);
* channels: each channel's *last* observation of the day (retention; recording, with the
  day's required span cut off at that observation, as the collector judged it);
* pictures: each channel's last live snapshot of the day that was taken.

A day that has ended is summarised once and kept (``indicator_days``): housekeeping later
rolls a day's channel observations up to one per channel, and twelve weeks of a large
fleet's observations are millions of rows a page should not re-read.  Today (and
yesterday for ``KEEP_AFTER`` past midnight) is counted afresh on every request.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vidaudit.compliance.picture import picture_failed
from vidaudit.compliance.rules import business_day_needs
from vidaudit.db.models import (
    BranchRow,
    ChannelObservationRow,
    ChannelRow,
    CollectionRunRow,
    DeviceObservationRow,
    DeviceRow,
    IndicatorDayRow,
    SnapshotRow,
)
from vidaudit.inventory.calendar import branch_calendar
from vidaudit.inventory.schema import Branch, Inventory, Policy
from vidaudit.overview.model import Indicator, Tallies, Tally

C = ChannelObservationRow
D = DeviceObservationRow
#: the zone of a branch whose stored zone this machine does not know (as the web shows it)
FALLBACK_ZONE = "Asia/Shanghai"
#: how long after midnight a day is kept: a day's last runs may still be storing their
#: observations (a run stamps them when it finishes) just after midnight
KEEP_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DayCounts:
    """The columns of ``indicator_days`` (see ``overview.model.Indicator``)."""

    device_polls: int = 0
    device_online: int = 0
    clock_polls: int = 0
    clock_ok: int = 0
    record_channels: int = 0
    record_required_min: float = 0.0
    record_missing_min: float = 0.0
    retention_channels: int = 0
    retention_ok: int = 0
    picture_channels: int = 0
    picture_ok: int = 0

    def tallies(self) -> Tallies:
        required = self.record_required_min
        return {
            Indicator.ONLINE: Tally(self.device_online, self.device_polls),
            Indicator.CLOCK: Tally(self.clock_ok, self.clock_polls),
            Indicator.RECORDING: Tally(required - self.record_missing_min, required),
            Indicator.RETENTION: Tally(self.retention_ok, self.retention_channels),
            Indicator.PICTURE: Tally(self.picture_ok, self.picture_channels),
        }


def branch_zone(row: BranchRow) -> ZoneInfo:
    try:
        return ZoneInfo(row.timezone or FALLBACK_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_ZONE)


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[00:00, next 00:00) of a local day, as aware UTC datetimes."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


# --- counting (pure) --------------------------------------------------------------------


def _rules(violations: Iterable[Mapping[str, Any]] | None) -> set[str]:
    return {str(v.get("rule")) for v in violations or () if isinstance(v, Mapping)}


def count_devices(polls: Iterable[tuple[bool, float | None, list[Any] | None]]) -> DayCounts:
    """``polls``: (online, clock drift or None, the poll's violations).  A clock is
    compliant when the poll found no ``R3.clock`` (the limit in force at the time)."""
    total = online = clocks = clock_ok = 0
    for is_online, drift, violations in polls:
        total += 1
        if not is_online:
            continue
        online += 1
        if drift is not None:
            clocks += 1
            clock_ok += "R3.clock" not in _rules(violations)
    return DayCounts(
        device_polls=total, device_online=online, clock_polls=clocks, clock_ok=clock_ok
    )


@dataclass(frozen=True, slots=True)
class ChannelDay:
    """A channel's last observation of the day, as stored."""

    observed_at: dt.datetime
    retention_days: float | None
    gaps: list[Any] | None
    business_days: list[Any]
    violations: list[Any]


def required_minutes(
    branch: Branch, policy: Policy, tz: ZoneInfo, day: dt.date, until: dt.datetime
) -> float:
    """Minutes of ``day`` recording must cover, up to ``until`` (the collector's need)."""
    window_start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=tz)
    for need_day, span in business_day_needs(branch, policy, tz, window_start, until):
        if need_day == day:
            return span.duration.total_seconds() / 60
    return 0.0


def count_channels(
    channels: Iterable[ChannelDay], day: dt.date, required: Callable[[dt.datetime], float]
) -> DayCounts:
    """Retention and recording of each channel's last observation of ``day``.

    Retention is judged where it was read (``retention_days`` known): compliant unless
    the observation holds ``R1.retention``.  Recording counts where the footage was read
    (``gaps`` known): the day's required minutes up to the observation, less the minutes
    the observation found missing on that day."""
    iso = day.isoformat()
    record = retained = retention_ok = 0
    required_min = missing_min = 0.0
    for channel in channels:
        if channel.retention_days is not None:
            retained += 1
            retention_ok += "R1.retention" not in _rules(channel.violations)
        if channel.gaps is None:
            continue
        need = required(channel.observed_at)
        record += 1
        required_min += need
        for entry in channel.business_days or ():
            if (
                isinstance(entry, Mapping)
                and entry.get("date") == iso
                and not entry.get("covered", False)
            ):
                missing_min += min(need, float(entry.get("missing_min") or 0.0))
    return DayCounts(
        record_channels=record,
        record_required_min=round(required_min, 1),
        record_missing_min=round(missing_min, 1),
        retention_channels=retained,
        retention_ok=retention_ok,
    )


def count_pictures(diagnoses: Iterable[Mapping[str, Any]]) -> DayCounts:
    """Each channel's last live picture of the day: intact unless a check failed."""
    seen = ok = 0
    for diagnostics in diagnoses:
        seen += 1
        ok += not picture_failed(diagnostics)
    return DayCounts(picture_channels=seen, picture_ok=ok)


def combine(*parts: DayCounts) -> DayCounts:
    out = DayCounts()
    for part in parts:
        out = DayCounts(*(a + b for a, b in zip(astuple(out), astuple(part), strict=True)))
    return out


# --- reading the day's facts --------------------------------------------------------------


class RequiredMinutes:
    """The required minutes of one branch-day up to an instant (cached per instant)."""

    def __init__(self, branch: Branch, policy: Policy, tz: ZoneInfo, day: dt.date) -> None:
        self._args = (branch, policy, tz, day)
        self._cache: dict[dt.datetime, float] = {}

    def __call__(self, until: dt.datetime) -> float:
        if until not in self._cache:
            self._cache[until] = required_minutes(*self._args, until)
        return self._cache[until]


def _runs(session: Session, lo: dt.datetime, hi: dt.datetime) -> list[int]:
    """The runs whose observations may fall in [lo, hi): observations are stamped when
    their run finishes, so runs that started up to a day before ``lo`` are included.  The
    day's observations are then found through their run (an index), not by scanning a
    branch's whole history for the day's times."""
    return list(
        session.scalars(
            select(CollectionRunRow.id).where(
                CollectionRunRow.started_at >= lo - dt.timedelta(days=1),
                CollectionRunRow.started_at < hi,
            )
        )
    )


def _device_polls(
    session: Session,
    branch_ids: Sequence[str],
    runs: Sequence[int],
    lo: dt.datetime,
    hi: dt.datetime,
) -> dict[str, list[tuple[bool, float | None, list[Any] | None]]]:
    out: dict[str, list[tuple[bool, float | None, list[Any] | None]]] = defaultdict(list)
    wanted = set(branch_ids)
    for branch_id, online, drift, violations in session.execute(
        # by run only (the run_id index); branches are picked here: a day's runs hold
        # every branch, and a branch filter tempts the planner into its branch index
        select(D.branch_id, D.online, D.clock_drift_s, D.violations).where(
            D.run_id.in_(runs), D.observed_at >= lo, D.observed_at < hi
        )
    ):
        if branch_id not in wanted:
            continue
        out[branch_id].append((online, drift, violations))
    return out


def _last_channel_observations(
    session: Session,
    branch_ids: Sequence[str],
    runs: Sequence[int],
    lo: dt.datetime,
    hi: dt.datetime,
) -> dict[str, list[ChannelDay]]:
    last = (
        select(C.channel_id, func.max(C.observed_at).label("at"))
        .where(C.run_id.in_(runs), C.observed_at >= lo, C.observed_at < hi)
        .group_by(C.channel_id)
        .subquery()
    )
    rows = session.execute(
        select(
            C.branch_id,
            C.channel_id,
            C.observed_at,
            C.retention_days,
            C.gaps,
            C.business_days,
            C.violations,
        )
        .join(last, and_(C.channel_id == last.c.channel_id, C.observed_at == last.c.at))
        .where(C.run_id.in_(runs))
        .order_by(C.id)
    )
    seen: dict[str, tuple[str, ChannelDay]] = {}
    wanted = set(branch_ids)
    for branch_id, channel_id, at, retention, gaps, days, violations in rows:
        if branch_id not in wanted:
            continue
        # two observations at the same instant (a repeated run): the later row wins
        seen[channel_id] = (branch_id, ChannelDay(at, retention, gaps, days or [], violations))
    out: dict[str, list[ChannelDay]] = defaultdict(list)
    for branch_id, channel in seen.values():
        out[branch_id].append(channel)
    return out


def _last_pictures(
    session: Session, branch_ids: Sequence[str], lo: dt.datetime, hi: dt.datetime
) -> dict[str, list[dict[str, Any]]]:
    S = SnapshotRow
    rows = session.execute(
        select(DeviceRow.branch_id, S.channel_id, S.diagnostics)
        .join(ChannelRow, S.channel_id == ChannelRow.id)
        .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
        .where(
            DeviceRow.branch_id.in_(branch_ids),
            S.taken_at >= lo,
            S.taken_at < hi,
            S.error.is_(None),
        )
        .order_by(S.taken_at, S.id)
    )
    last: dict[str, tuple[str, dict[str, Any]]] = {}
    for branch_id, channel_id, diagnostics in rows:
        last[channel_id] = (branch_id, diagnostics or {})
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for branch_id, diagnostics in last.values():
        out[branch_id].append(diagnostics)
    return out


def count_day(
    session: Session,
    rows: Sequence[BranchRow],
    day: dt.date,
    policy: Policy,
    inventory: Inventory | None,
) -> dict[str, DayCounts]:
    """The counts of ``day`` for branches sharing one time zone (four queries)."""
    if not rows:
        return {}
    tz = branch_zone(rows[0])
    lo, hi = day_bounds(day, tz)
    ids = [row.id for row in rows]
    runs = _runs(session, lo, hi)
    polls = _device_polls(session, ids, runs, lo, hi) if runs else {}
    channels = _last_channel_observations(session, ids, runs, lo, hi) if runs else {}
    pictures = _last_pictures(session, ids, lo, hi)
    out = {}
    for row in rows:
        minutes = RequiredMinutes(branch_calendar(row, inventory), policy, tz, day)
        out[row.id] = combine(
            count_devices(polls.get(row.id, [])),
            count_channels(channels.get(row.id, []), day, minutes),
            count_pictures(pictures.get(row.id, [])),
        )
    return out


# --- stored days --------------------------------------------------------------------------


def _counts_of(row: IndicatorDayRow) -> DayCounts:
    return DayCounts(**{name: getattr(row, name) for name in DayCounts.__dataclass_fields__})


def _keepable(day: dt.date, tz: ZoneInfo, now: dt.datetime) -> bool:
    return day_bounds(day, tz)[1] + KEEP_AFTER <= now


def branch_days(
    session: Session,
    rows: Sequence[BranchRow],
    first: dt.date,
    now: dt.datetime,
    policy: Policy,
    inventory: Inventory | None,
    *,
    kept_only: bool = False,
) -> dict[tuple[str, dt.date], DayCounts]:
    """Every branch's counts for each local day from ``first`` to its today (with
    ``kept_only``, only the days that can be kept: what housekeeping wants).

    Ended days come from ``indicator_days``; those missing are counted and stored (a
    concurrent request storing the same day first is fine: both counted the same facts).
    Today, and yesterday for ``KEEP_AFTER`` past midnight, are counted and not stored.
    Days before the branch was first synced are skipped.
    """
    ids = [row.id for row in rows]
    out: dict[tuple[str, dt.date], DayCounts] = {}
    for stored in session.scalars(
        select(IndicatorDayRow).where(
            IndicatorDayRow.branch_id.in_(ids), IndicatorDayRow.day >= first
        )
    ):
        out[(stored.branch_id, stored.day)] = _counts_of(stored)
    wanted: dict[tuple[str, dt.date], list[BranchRow]] = defaultdict(list)
    for row in rows:
        tz = branch_zone(row)
        today = now.astimezone(tz).date()
        day = max(first, row.first_seen_at.astimezone(tz).date())
        while day <= today:
            if (row.id, day) not in out and (not kept_only or _keepable(day, tz, now)):
                wanted[(row.timezone, day)].append(row)
            day += dt.timedelta(days=1)
    fresh: list[IndicatorDayRow] = []
    for (_zone, day), group in sorted(wanted.items(), key=lambda item: item[0][1]):
        counted = count_day(session, group, day, policy, inventory)
        for row in group:
            out[(row.id, day)] = counted[row.id]
            if _keepable(day, branch_zone(row), now):
                fresh.append(
                    IndicatorDayRow(
                        branch_id=row.id,
                        day=day,
                        computed_at=now,
                        **{
                            name: getattr(counted[row.id], name)
                            for name in DayCounts.__dataclass_fields__
                        },
                    )
                )
    if fresh:
        try:
            session.add_all(fresh)
            session.commit()
        except IntegrityError:
            session.rollback()
    return out


def store_ended_days(
    session: Session,
    now: dt.datetime,
    policy: Policy,
    inventory: Inventory | None,
    *,
    days_back: int,
) -> int:
    """Count and keep every ended day of the last ``days_back`` days not kept yet (the
    collector calls this before housekeeping rolls observations up).  Returns how many
    branch-days were counted."""
    rows = list(session.scalars(select(BranchRow).where(BranchRow.retired_at.is_(None))))
    if not rows:
        return 0
    first = (now - dt.timedelta(days=days_back)).date()
    before = session.scalar(
        select(func.count()).select_from(IndicatorDayRow).where(IndicatorDayRow.day >= first)
    )
    branch_days(session, rows, first, now, policy, inventory, kept_only=True)
    after = session.scalar(
        select(func.count()).select_from(IndicatorDayRow).where(IndicatorDayRow.day >= first)
    )
    return int(after or 0) - int(before or 0)
