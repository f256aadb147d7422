"""The review register (D4): who viewed which channel's footage, when, over what range, why.

Append-only and hash-chained: each entry's hash covers its predecessor's hash, its
sequence number and its canonical content, so altering, inserting or deleting an entry
breaks the chain from that point on; the head row catches a deleted tail.  Database
triggers refuse UPDATE and DELETE as well (migration 0003).

Hand-written because it is a few lines of hashlib over our own rows; an audit-log
library would bring its own storage model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidaudit.db.models import RegisterEntryRow, RegisterHeadRow
from vidaudit.errors import Problem

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    actor: str
    actor_role: str
    action: str
    reason: str
    branch_id: str | None = None
    channel_id: str | None = None
    range_start: dt.datetime | None = None
    range_end: dt.datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(seq: int, at: dt.datetime, entry: Entry) -> bytes:
    """The exact bytes hashed for an entry: sorted-key JSON, UTC times to the microsecond."""
    document = {
        "seq": seq,
        "at": _utc(at),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "reason": entry.reason,
        "branch_id": entry.branch_id,
        "channel_id": entry.channel_id,
        "range_start": _utc(entry.range_start),
        "range_end": _utc(entry.range_end),
        "details": entry.details,
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, seq: int, at: dt.datetime, entry: Entry) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(seq, at, entry)).hexdigest()


def append(session: Session, entry: Entry, at: dt.datetime) -> RegisterEntryRow:
    """Append in the caller's transaction; concurrent appends are serialised by the head."""
    if at.tzinfo is None:
        raise ValueError("register times must be aware")
    # Bump the head first: the UPDATE takes the write lock (SQLite) or the row lock
    # (PostgreSQL) before we read the predecessor, so no two appends share one.
    session.execute(
        update(RegisterHeadRow).where(RegisterHeadRow.id == 1).values(seq=RegisterHeadRow.seq + 1)
    )
    head = session.execute(
        select(RegisterHeadRow)
        .where(RegisterHeadRow.id == 1)
        .execution_options(populate_existing=True)
    ).scalar_one()
    seq = head.seq
    prev_hash = head.hash
    digest = chain_hash(prev_hash, seq, at, entry)
    row = RegisterEntryRow(
        seq=seq,
        at=at,
        actor=entry.actor,
        actor_role=entry.actor_role,
        action=entry.action,
        branch_id=entry.branch_id,
        channel_id=entry.channel_id,
        range_start=entry.range_start,
        range_end=entry.range_end,
        reason=entry.reason,
        details=entry.details,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(row)
    head.hash = digest
    session.flush()
    return row


def _entry_of(row: RegisterEntryRow) -> Entry:
    return Entry(
        actor=row.actor,
        actor_role=row.actor_role,
        action=row.action,
        reason=row.reason,
        branch_id=row.branch_id,
        channel_id=row.channel_id,
        range_start=row.range_start,
        range_end=row.range_end,
        details=row.details,
    )


@dataclass
class Verification:
    entries: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, batch: int = 1000) -> Verification:
    """Recompute the whole chain; name the first entry of every break."""
    result = Verification()
    expected_seq, prev = 1, GENESIS
    rows = session.scalars(
        select(RegisterEntryRow).order_by(RegisterEntryRow.seq).execution_options(yield_per=batch)
    )
    for row in rows:
        if row.seq > expected_seq:
            result.problems.append(
                Problem(
                    "register_missing",
                    f"entries {expected_seq}..{row.seq - 1} are missing (deleted)",
                    {"first": expected_seq, "last": row.seq - 1},
                )
            )
        elif row.seq < expected_seq:
            result.problems.append(
                Problem("register_twice", f"entry {row.seq} appears twice", {"seq": row.seq})
            )
        if row.prev_hash != prev:
            result.problems.append(
                Problem(
                    "register_unlinked",
                    f"entry {row.seq}: does not follow its predecessor's hash",
                    {"seq": row.seq},
                )
            )
        if chain_hash(row.prev_hash, row.seq, row.at, _entry_of(row)) != row.hash:
            result.problems.append(
                Problem(
                    "register_altered",
                    f"entry {row.seq}: content does not match its hash (altered)",
                    {"seq": row.seq},
                )
            )
        result.entries += 1
        expected_seq, prev = row.seq + 1, row.hash
    head = session.get(RegisterHeadRow, 1)
    if head is None:
        result.problems.append(Problem("register_no_head", "the register head is missing"))
    elif head.seq != expected_seq - 1 or head.hash != prev:
        result.problems.append(
            Problem(
                "register_tail_deleted",
                f"the head says {head.seq} entries ending {head.hash[:12]}…, the table ends at "
                f"{expected_seq - 1} ({prev[:12]}…): entries were deleted from the end",
                {"head": head.seq, "last": expected_seq - 1},
            )
        )
    result.head_hash = prev
    return result
