"""Housekeeping of vidaudit's own data: old channel observations rolled up, nothing else.

Every run stores one observation per channel: 8,000 channels every 5 minutes is 2.3
million rows a day.  Readers want the detail for recent weeks (today's daily check, the
weekly report, the 30-day timeline); further back, one observation per channel per day
answers every question asked of the past (the retention trend, what a day looked like).

Observations older than ``observations_keep_days`` (default 90) are therefore rolled up,
one local day (the inventory's time zone) at a time: per channel, the day keeps one
observation - the last one that broke a rule if any did that day, else the day's last -
and the rest are deleted in batches (``ROWS_PER_TRANSACTION``), so the database is never
locked for long and an interrupted pass simply resumes.  A day's runs are then marked
(``collection_runs.observations_rolled_up_at``) and never scanned again.

Never pruned: runs, device observations, branch results, fault tickets, spot-check
plans and frames, reviews, findings, approvals, the review register and evidence (the
records the bank must keep, and what the rules count).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import ChannelObservationRow, CollectionRunRow

C = ChannelObservationRow
#: rows deleted per transaction: small enough that a reader or the collector's next run
#: waits at most a moment for the database, large enough that commits do not dominate
ROWS_PER_TRANSACTION = 50_000
IDS_PER_STATEMENT = 5_000


@dataclass(frozen=True)
class RollUp:
    days: int
    runs: int
    deleted: int

    def summary(self) -> str:
        if not self.days:
            return "nothing to roll up"
        return (
            f"{self.days} day(s) of channel observations rolled up to one per channel per "
            f"day: {self.deleted} observations from {self.runs} runs deleted"
        )


def roll_up_observations(
    sessions: sessionmaker[Session], *, now: dt.datetime, keep_days: int, tz: ZoneInfo
) -> RollUp:
    """Roll up every whole local day that ended ``keep_days`` or more days ago."""
    cutoff_day = (now.astimezone(tz) - dt.timedelta(days=keep_days)).date()
    cutoff = dt.datetime.combine(cutoff_day, dt.time(), tzinfo=tz)
    with sessions() as session:
        due = session.execute(
            select(CollectionRunRow.id, CollectionRunRow.started_at)
            .where(
                CollectionRunRow.started_at < cutoff,
                CollectionRunRow.observations_rolled_up_at.is_(None),
            )
            .order_by(CollectionRunRow.id)
        ).all()
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    for run_id, started in due:
        by_day[started.astimezone(tz).date()].append(run_id)
    deleted = 0
    for runs in by_day.values():
        deleted += _roll_up_day(sessions, runs)
        with sessions.begin() as session:
            session.execute(
                update(CollectionRunRow)
                .where(CollectionRunRow.id.in_(runs))
                .values(observations_rolled_up_at=now)
            )
    return RollUp(len(by_day), len(due), deleted)


def _roll_up_day(sessions: sessionmaker[Session], runs: list[int]) -> int:
    """Keep one observation per channel among ``runs`` (one day's), delete the rest."""
    rank = (
        func.row_number()
        .over(
            partition_by=C.channel_id,
            # non-compliant first (false sorts before true on SQLite and PostgreSQL),
            # then the latest
            order_by=(C.compliant.asc(), C.observed_at.desc(), C.id.desc()),
        )
        .label("rank")
    )
    ranked = select(C.id, rank).where(C.run_id.in_(runs)).subquery()
    with sessions() as session:
        keep = set(session.scalars(select(ranked.c.id).where(ranked.c.rank == 1)))
    deleted = 0
    doomed: list[int] = []
    for index, run_id in enumerate(runs):
        with sessions() as session:
            ids = session.scalars(select(C.id).where(C.run_id == run_id)).all()
        doomed.extend(i for i in ids if i not in keep)
        if len(doomed) >= ROWS_PER_TRANSACTION or index == len(runs) - 1:
            with sessions.begin() as session:
                # bounded statements: SQLite allows 32,766 bound parameters
                for start in range(0, len(doomed), IDS_PER_STATEMENT):
                    chunk = doomed[start : start + IDS_PER_STATEMENT]
                    session.execute(delete(C).where(C.id.in_(chunk)))
            deleted += len(doomed)
            doomed = []
    return deleted
