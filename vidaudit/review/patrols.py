"""Off-site ATM patrol rounds (D9): 加大atm机的巡查力度,组织专人每天不少于6次巡查,并且要有记录.

A round is one person looking at one ATM channel's latest live picture and saying whether
it is normal: who, when, the snapshot seen with its diagnosis, normal or abnormal (an
abnormal round says what is wrong).  Rounds are written once and never edited, and each
is appended to the review register, whose chain lets an auditor check that the record of
rounds was not touched afterwards.

Any ATM channel can be patrolled; the daily duty (``duties.patrol_days``) is counted for
the off-site ones (``offsite: true`` in cameras.yaml).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import branch_scope_for
from vidaudit.compliance.picture import failed_checks, picture_failed
from vidaudit.db.models import (
    ChannelRow,
    DeviceRow,
    PatrolRoundRow,
    SnapshotRow,
    UserRow,
)
from vidaudit.inventory.schema import ChannelRole
from vidaudit.review.register import Entry, append

OUTCOMES = ("normal", "abnormal")
MAX_NOTE = 1000
#: how the register words a round (the bank's own record, in its language)
REASON_OFFSITE = "离行式自助设备巡查"
REASON_ATM = "自助设备巡查"


class PatrolError(ValueError):
    """A round that is refused; ``code`` names why (a catalogue key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def snapshot_summary(snapshot: SnapshotRow | None) -> dict[str, Any]:
    """What the person saw, as the round keeps it: the verdict and the failed checks."""
    if snapshot is None:
        return {"verdict": None, "failed": [], "error": None}
    diagnostics = snapshot.diagnostics or {}
    failed = failed_checks(diagnostics)
    verdict = diagnostics.get("verdict")
    if picture_failed(diagnostics):
        verdict = "fail"
    return {
        "verdict": verdict,
        "failed": failed,
        "error": snapshot.error,
        "taken_at": snapshot.taken_at.astimezone(dt.UTC).isoformat(),
    }


def record_round(
    db: Session,
    user: UserRow,
    *,
    channel_id: str,
    snapshot_id: int | None,
    outcome: str,
    note: str,
    now: dt.datetime,
) -> PatrolRoundRow:
    """Record one round in the caller's transaction (and its register entry)."""
    if outcome not in OUTCOMES:
        raise PatrolError("patrol.error_outcome")
    note = note.strip()[:MAX_NOTE]
    if outcome == "abnormal" and not note:
        raise PatrolError("patrol.error_note")
    found = db.execute(
        select(ChannelRow, DeviceRow.branch_id)
        .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
        .where(ChannelRow.id == channel_id)
    ).first()
    if found is None or found[0].retired_at is not None:
        raise PatrolError("patrol.error_channel")
    channel, branch_id = found
    if channel.role != ChannelRole.ATM.value:
        raise PatrolError("patrol.error_not_atm")
    scope = branch_scope_for(user.role, user.branch_id)
    if scope is not None and branch_id not in scope:
        raise PatrolError("patrol.error_scope")
    snapshot = db.get(SnapshotRow, snapshot_id) if snapshot_id is not None else None
    if snapshot_id is not None and (snapshot is None or snapshot.channel_id != channel_id):
        raise PatrolError("patrol.error_snapshot")
    seen = snapshot_summary(snapshot)
    entry = append(
        db,
        Entry(
            actor=user.username,
            actor_role=user.role,
            action="patrol_round",
            reason=REASON_OFFSITE if channel.offsite else REASON_ATM,
            branch_id=branch_id,
            channel_id=channel_id,
            range_start=snapshot.taken_at if snapshot is not None else None,
            range_end=snapshot.taken_at if snapshot is not None else None,
            details={
                "outcome": outcome,
                "note": note,
                "snapshot_id": snapshot_id,
                "evidence_sha256": snapshot.evidence_sha256 if snapshot is not None else None,
                "picture": seen["verdict"],
                "failed": seen["failed"],
            },
        ),
        now,
    )
    row = PatrolRoundRow(
        channel_id=channel_id,
        branch_id=branch_id,
        user_id=user.id,
        at=now,
        snapshot_id=snapshot_id,
        evidence_sha256=snapshot.evidence_sha256 if snapshot is not None else None,
        diagnostics=seen,
        outcome=outcome,
        note=note,
        register_seq=entry.seq,
    )
    db.add(row)
    db.flush()
    return row


def rounds_between(
    db: Session, channel_ids: Collection[str], start: dt.datetime, end: dt.datetime
) -> list[PatrolRoundRow]:
    """The rounds of these channels in [start, end), oldest first."""
    if not channel_ids:
        return []
    return list(
        db.scalars(
            select(PatrolRoundRow)
            .where(
                PatrolRoundRow.channel_id.in_(list(channel_ids)),
                PatrolRoundRow.at >= start,
                PatrolRoundRow.at < end,
            )
            .order_by(PatrolRoundRow.at, PatrolRoundRow.id)
        )
    )
