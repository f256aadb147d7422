"""Findings and their rectification (D7): owner, deadline, status, every change kept.

    open ──fix──► fixed ──close──► closed
      ▲             │                │
      └──reopen─────┴────reopen──────┘   (reopened behaves like open)

A change names the version it was made against; the UPDATE only succeeds when that is
still the row's version, so of two people saving the same finding the second is refused
with a clear message instead of silently overwriting the first.  Closing needs a second
person: whoever reported the fix cannot also confirm it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission, PersonRole, roles_with
from vidaudit.db.models import BranchRow, FindingEventRow, FindingRow, UserRow
from vidaudit.review.register import Entry, append


class Status(StrEnum):
    OPEN = "open"
    FIXED = "fixed"
    CLOSED = "closed"
    REOPENED = "reopened"


class Action(StrEnum):
    FIX = "fixed"
    CLOSE = "closed"
    REOPEN = "reopened"
    ASSIGN = "assigned"
    COMMENT = "comment"


#: action -> (statuses it may start from, status it leaves, roles allowed)
_FIXERS = roles_with(Permission.RECTIFY)
_VERIFIERS = roles_with(Permission.VERIFY_RECTIFICATION)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None, frozenset[PersonRole]]] = {
    Action.FIX: (
        frozenset({Status.OPEN, Status.REOPENED}),
        Status.FIXED,
        _FIXERS,
    ),
    Action.CLOSE: (
        frozenset({Status.FIXED}),
        Status.CLOSED,
        _VERIFIERS,
    ),
    Action.REOPEN: (
        frozenset({Status.FIXED, Status.CLOSED}),
        Status.REOPENED,
        _VERIFIERS,
    ),
    Action.ASSIGN: (
        frozenset({Status.OPEN, Status.REOPENED, Status.FIXED}),
        None,
        _VERIFIERS,
    ),
    Action.COMMENT: (
        frozenset(Status),
        None,
        _FIXERS | _VERIFIERS,
    ),
}


class FindingError(ValueError):
    """A change that is not allowed; ``code`` names the reason for translation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StaleFinding(FindingError):
    def __init__(self, finding_id: int, expected: int, current: int) -> None:
        super().__init__(
            "stale",
            f"finding {finding_id} was changed by someone else (your version {expected}, "
            f"now {current}); reload it and try again",
        )


@dataclass(frozen=True)
class Change:
    action: Action
    expected_version: int
    note: str = ""
    evidence_sha256: str | None = None
    owner_id: int | None = None
    deadline: dt.date | None = None


def is_overdue(finding: FindingRow, today: dt.date) -> bool:
    """Past its deadline and still waiting for a fix (a reported fix awaits checking)."""
    return finding.status in (Status.OPEN, Status.REOPENED) and finding.deadline < today


def apply_change(
    session: Session, finding_id: int, actor: UserRow, change: Change, now: dt.datetime
) -> FindingRow:
    finding = session.get(FindingRow, finding_id, populate_existing=True)
    if finding is None:
        raise FindingError("not_found", f"no finding {finding_id}")
    allowed_from, to_status, roles = TRANSITIONS[change.action]
    if actor.role not in roles:
        raise FindingError(
            "role", f"the {actor.role} role may not mark findings {change.action.value}"
        )
    if actor.branch_id is not None and actor.branch_id != finding.branch_id:
        raise FindingError("branch", "this finding belongs to another branch")
    if finding.version != change.expected_version:
        raise StaleFinding(finding_id, change.expected_version, finding.version)
    current = Status(finding.status)
    if current not in allowed_from:
        raise FindingError(
            "transition", f"a {current.value} finding cannot be {change.action.value}"
        )
    if change.action in (Action.FIX, Action.REOPEN) and not change.note.strip():
        raise FindingError("note", "say what was done (fix) or why it is reopened")
    if change.action is Action.ASSIGN and change.deadline is not None:
        branch = session.get(BranchRow, finding.branch_id)
        found_on = finding.created_at.astimezone(ZoneInfo(branch.timezone if branch else "UTC"))
        if change.deadline < found_on.date():
            raise FindingError(
                "deadline_before",
                f"the deadline {change.deadline} is before the finding ({found_on.date()})",
            )
    if change.action is Action.CLOSE:
        fixer = session.scalar(
            select(FindingEventRow.actor_id)
            .where(FindingEventRow.finding_id == finding_id, FindingEventRow.action == "fixed")
            .order_by(FindingEventRow.id.desc())
            .limit(1)
        )
        if fixer == actor.id:
            raise FindingError("four_eyes", "the person who reported the fix cannot close it")
    new_status = to_status or current
    values: dict[str, object] = {
        "status": new_status.value,
        "updated_at": now,
        "version": FindingRow.version + 1,
    }
    if change.action is Action.ASSIGN:
        if change.owner_id is not None:
            values["owner_id"] = change.owner_id
        if change.deadline is not None:
            values["deadline"] = change.deadline
    # The version in the WHERE clause makes the check and the write one atomic step.
    done = session.execute(
        update(FindingRow)
        .where(FindingRow.id == finding_id, FindingRow.version == change.expected_version)
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        # someone else's change committed between our read and our write
        latest = session.get(FindingRow, finding_id, populate_existing=True)
        raise StaleFinding(finding_id, change.expected_version, latest.version if latest else -1)
    session.add(
        FindingEventRow(
            finding_id=finding_id,
            at=now,
            actor_id=actor.id,
            action=change.action.value,
            from_status=current.value,
            to_status=new_status.value,
            note=change.note,
            evidence_sha256=change.evidence_sha256,
            version=change.expected_version + 1,
        )
    )
    session.flush()
    refreshed = session.get(FindingRow, finding_id, populate_existing=True)
    assert refreshed is not None
    register_finding(
        session, actor, refreshed, change.action.value, current.value, change.note, now
    )
    return refreshed


def register_finding(
    session: Session,
    actor: UserRow,
    finding: FindingRow,
    change: str,
    from_status: str | None,
    note: str,
    now: dt.datetime,
) -> None:
    """Every rectification step goes on the review register too (D7 with D4: who did
    what to which finding, when), in the same transaction as the change itself."""
    append(
        session,
        Entry(
            actor=actor.username,
            actor_role=actor.role,
            action="finding",
            reason=note,
            branch_id=finding.branch_id,
            channel_id=finding.channel_id,
            details={
                "purpose": "finding",
                "finding_id": finding.id,
                "change": change,
                "from": from_status,
                "to": finding.status,
                "review_id": finding.review_id,
            },
        ),
        now,
    )
