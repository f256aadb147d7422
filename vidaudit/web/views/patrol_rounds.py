"""The ATM patrol board (D9): each ATM channel's latest picture, today's rounds and the
form to record one.  Off-site ATMs (the ones the daily duty counts) come first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import ChannelRow, PatrolRoundRow, UserRow
from vidaudit.inventory.schema import ChannelRole, Policy
from vidaudit.review.duties import PatrolDay, counted_rounds
from vidaudit.review.patrols import rounds_between
from vidaudit.web.i18n import zone
from vidaudit.web.views.duties_snapshots import SnapshotTile, latest_snapshots


@dataclass(frozen=True)
class RoundLine:
    at: dt.datetime
    who: str
    outcome: str
    note: str
    counted: bool


@dataclass
class AtmTile:
    tile: SnapshotTile
    offsite: bool
    required: int
    today: dt.date
    rounds: list[RoundLine] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return sum(r.counted for r in self.rounds)

    @property
    def status(self) -> str:
        """D9 today: ``met`` | ``due``; ``na`` for an ATM that is not off-site."""
        if not self.offsite or self.required == 0:
            return "na"
        # the duty's own rule (review.duties), for the day that is still running
        day = PatrolDay(
            self.tile.channel_id, self.today, len(self.rounds), self.counted, self.required, True
        )
        return day.status


def atm_board(
    db: Session, *, scope: Collection[str] | None, now: dt.datetime, policy: Policy
) -> list[AtmTile]:
    tiles = latest_snapshots(db, scope=scope, now=now, roles={ChannelRole.ATM.value})
    if not tiles:
        return []
    ids = [t.channel_id for t in tiles]
    offsite = set(
        db.scalars(select(ChannelRow.id).where(ChannelRow.id.in_(ids), ChannelRow.offsite))
    )
    # "today" per branch zone; one query from the earliest midnight among them
    todays = {t.channel_id: now.astimezone(zone(t.timezone)).date() for t in tiles}
    starts = [
        dt.datetime.combine(todays[t.channel_id], dt.time(), tzinfo=zone(t.timezone)) for t in tiles
    ]
    rounds = rounds_between(db, ids, min(starts), now + dt.timedelta(seconds=1))
    people = dict(
        db.execute(
            select(UserRow.id, UserRow.display_name).where(
                UserRow.id.in_({r.user_id for r in rounds})
            )
        ).all()
    )
    by_channel: dict[str, list[PatrolRoundRow]] = {}
    for found in rounds:
        by_channel.setdefault(found.channel_id, []).append(found)
    gap = dt.timedelta(minutes=policy.duties.atm_patrol_min_gap_min)
    board = []
    for tile in tiles:
        tz = zone(tile.timezone)
        today = todays[tile.channel_id]
        mine = [
            r for r in by_channel.get(tile.channel_id, []) if r.at.astimezone(tz).date() == today
        ]
        counts = set(counted_rounds([r.at for r in mine], gap))
        board.append(
            AtmTile(
                tile=tile,
                offsite=tile.channel_id in offsite,
                required=policy.duties.atm_patrol_rounds_per_day,
                today=today,
                rounds=[
                    RoundLine(r.at, people.get(r.user_id, ""), r.outcome, r.note, r.at in counts)
                    for r in mine
                ],
            )
        )
    # off-site ATMs first, those still owing rounds today first among them
    board.sort(
        key=lambda a: (not a.offsite, a.status != "due", a.tile.branch_id, a.tile.channel_id)
    )
    return board
