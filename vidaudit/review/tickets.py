"""Fault tickets (R7) handled by people to the end, and by the check itself.

    open ─ack─► acknowledged ─assign─► assigned ─close (reason)─► closed
      │  (reopened behaves like open)     ▲                        │  ▲
      └──────────────assign───────────────┘                        │  │ check passes
                                  check fails again (within 7 days)│  │ (any open state)
                          reopened ◄───────────────────────────────┘

People acknowledge (who, when, a note), assign to a person with a due time, comment,
attach evidence and close by hand, always with a reason.  The check still closes a
ticket by itself when it passes again, and reopens the ticket when it fails again soon
after: a manual "fixed" that the next run contradicts is visible as such.  A ticket still
open after its due time is escalated once (the alerts tell the branch head and 保卫部).

Every change names the ticket version it was made against; the UPDATE only succeeds while
that is still the version, so of two people acting on one ticket the second is told,
never silently overwritten (as for findings).  A run that merely sees the fault again
(last seen, occurrences) does not bump the version: a form stays valid across runs.
Every person's action goes on the review register; the check's own changes and
escalations go on the ticket's history (``ticket_events``), with no person named.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import (
    Permission,
    branch_scope_for,
    has_permission,
)
from vidaudit.db.models import FaultTicketRow, TicketEventRow, UserRow
from vidaudit.review.register import Entry, append

#: A ticket closed less than this long ago reopens when its check fails again; after
#: that the failure is a new fault and opens a new ticket.
REOPEN_WITHIN = dt.timedelta(days=7)
#: notes, comments and reasons are bounded like every other text people type
MAX_NOTE = 2000


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    REOPENED = "reopened"
    CLOSED = "closed"


OPEN_STATES = frozenset({State.OPEN, State.ACKNOWLEDGED, State.ASSIGNED, State.REOPENED})


class Action(StrEnum):
    """What a person does to a ticket (the register action is ``ticket_<value>``)."""

    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    COMMENT = "comment"
    EVIDENCE = "evidence"
    CLOSE = "close"


class SystemAction(StrEnum):
    """What vidaudit itself does to a ticket (history only)."""

    AUTO_CLOSED = "auto_closed"
    REOPENED = "reopened"
    ESCALATED = "escalated"


#: action -> (states it may start from, state it leaves (None: unchanged), permission)
TRANSITIONS: dict[Action, tuple[frozenset[State], State | None, Permission]] = {
    Action.ACKNOWLEDGE: (
        frozenset({State.OPEN, State.REOPENED}),
        State.ACKNOWLEDGED,
        Permission.HANDLE_TICKETS,
    ),
    Action.ASSIGN: (OPEN_STATES, State.ASSIGNED, Permission.ASSIGN_TICKETS),
    Action.COMMENT: (frozenset(State), None, Permission.HANDLE_TICKETS),
    Action.EVIDENCE: (OPEN_STATES, None, Permission.HANDLE_TICKETS),
    Action.CLOSE: (OPEN_STATES, State.CLOSED, Permission.HANDLE_TICKETS),
}


class TicketError(ValueError):
    """A change that is not allowed; ``code`` names the reason for translation
    (``tickets.error_<code>``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StaleTicket(TicketError):
    def __init__(self, ticket_id: int, expected: int, current: int) -> None:
        super().__init__(
            "stale",
            f"ticket {ticket_id} was changed meanwhile (your version {expected}, now "
            f"{current}); reload it and try again",
        )


@dataclass(frozen=True)
class TicketChange:
    action: Action
    expected_version: int
    note: str = ""
    evidence_sha256: str | None = None
    assignee_id: int | None = None
    due_at: dt.datetime | None = None


def may(user: UserRow, ticket: FaultTicketRow, action: Action) -> bool:
    """Whether ``user`` may do ``action`` to ``ticket`` as it stands (for the page's
    buttons; ``apply_change`` checks the same and more)."""
    allowed_from, _to, permission = TRANSITIONS[action]
    return (
        has_permission(user.role, permission)
        and in_scope(user, ticket.branch_id)
        and State(ticket.state) in allowed_from
    )


def in_scope(user: UserRow, branch_id: str) -> bool:
    scope = branch_scope_for(user.role, user.branch_id)
    return scope is None or branch_id in scope


def may_be_assigned(person: UserRow, branch_id: str) -> bool:
    """Who may own a ticket: an active person who handles tickets and sees its branch."""
    return (
        person.disabled_at is None
        and has_permission(person.role, Permission.HANDLE_TICKETS)
        and in_scope(person, branch_id)
    )


def assignable(session: Session, branch_id: str) -> list[UserRow]:
    people = session.scalars(
        select(UserRow).where(UserRow.disabled_at.is_(None)).order_by(UserRow.display_name)
    )
    return [p for p in people if may_be_assigned(p, branch_id)]


def is_overdue(ticket: FaultTicketRow, now: dt.datetime) -> bool:
    return ticket.closed_at is None and ticket.due_at is not None and ticket.due_at < now


def _check(
    session: Session, ticket: FaultTicketRow, actor: UserRow, change: TicketChange, now: dt.datetime
) -> None:
    allowed_from, _to, permission = TRANSITIONS[change.action]
    if not has_permission(actor.role, permission):
        raise TicketError("role", f"the {actor.role} role may not {change.action.value} tickets")
    if not in_scope(actor, ticket.branch_id):
        raise TicketError("branch", "this ticket belongs to another branch")
    if ticket.version != change.expected_version:
        raise StaleTicket(ticket.id, change.expected_version, ticket.version)
    if State(ticket.state) not in allowed_from:
        raise TicketError(
            "transition", f"a {ticket.state} ticket cannot be given '{change.action.value}'"
        )
    if len(change.note) > MAX_NOTE:
        raise TicketError("too_long", f"at most {MAX_NOTE} characters")
    if change.action in (Action.COMMENT, Action.CLOSE) and not change.note.strip():
        # closing by hand says why: the check will say whether it was right
        raise TicketError("note", "a comment, or the reason for closing, is needed")
    if change.action is Action.EVIDENCE and not change.evidence_sha256:
        raise TicketError("evidence", "attach a picture")
    if change.action is Action.ASSIGN:
        person = session.get(UserRow, change.assignee_id) if change.assignee_id else None
        if person is None or not may_be_assigned(person, ticket.branch_id):
            raise TicketError("assignee", "choose a person who handles this branch's tickets")
        if change.due_at is None or change.due_at.tzinfo is None or change.due_at <= now:
            raise TicketError("due", "the due time must be in the future")


def apply_change(
    session: Session, ticket_id: int, actor: UserRow, change: TicketChange, now: dt.datetime
) -> FaultTicketRow:
    """Apply a person's action in the caller's transaction; register it."""
    ticket = session.get(FaultTicketRow, ticket_id, populate_existing=True)
    if ticket is None:
        raise TicketError("not_found", f"no ticket {ticket_id}")
    _check(session, ticket, actor, change, now)
    before = State(ticket.state)
    after = TRANSITIONS[change.action][1] or before
    values: dict[str, object] = {"state": after.value, "version": FaultTicketRow.version + 1}
    if change.action is Action.ACKNOWLEDGE or (
        change.action is Action.ASSIGN and ticket.acknowledged_at is None
    ):
        # assigning a ticket nobody acknowledged yet acknowledges it too
        values |= {"acknowledged_by": actor.id, "acknowledged_at": now}
    if change.action is Action.ASSIGN:
        # a new due time may be missed again: escalation starts over
        values |= {"assignee_id": change.assignee_id, "due_at": change.due_at, "escalated_at": None}
    if change.action is Action.CLOSE:
        values |= {
            "closed_at": now,
            "closed_by": actor.id,
            "close_reason": change.note.strip(),
            "closed_run_id": None,
        }
    # The version in the WHERE clause makes the check and the write one atomic step.
    done = session.execute(
        update(FaultTicketRow)
        .where(FaultTicketRow.id == ticket_id, FaultTicketRow.version == change.expected_version)
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        latest = session.get(FaultTicketRow, ticket_id, populate_existing=True)
        raise StaleTicket(ticket_id, change.expected_version, latest.version if latest else -1)
    assignee = session.get(UserRow, change.assignee_id) if change.assignee_id else None
    entry = append(
        session,
        Entry(
            actor=actor.username,
            actor_role=actor.role,
            action=f"ticket_{change.action.value}",
            reason=change.note.strip() or change.action.value,
            branch_id=ticket.branch_id,
            channel_id=ticket.subject_id if ticket.subject_kind == "channel" else None,
            details={
                "ticket_id": ticket.id,
                "rule": ticket.rule,
                "subject": f"{ticket.subject_kind}:{ticket.subject_id}",
                "from": before.value,
                "to": after.value,
                "version": change.expected_version + 1,
                **({"assignee": assignee.username} if assignee else {}),
                **({"due_at": change.due_at.isoformat()} if change.due_at else {}),
                **({"evidence": change.evidence_sha256} if change.evidence_sha256 else {}),
            },
        ),
        now,
    )
    session.add(
        TicketEventRow(
            ticket_id=ticket.id,
            at=now,
            actor_id=actor.id,
            action=change.action.value,
            from_state=before.value,
            to_state=after.value,
            note=change.note.strip(),
            evidence_sha256=change.evidence_sha256,
            assignee_id=change.assignee_id if change.action is Action.ASSIGN else None,
            due_at=change.due_at if change.action is Action.ASSIGN else None,
            version=change.expected_version + 1,
            register_seq=entry.seq,
        )
    )
    session.flush()
    refreshed = session.get(FaultTicketRow, ticket_id, populate_existing=True)
    assert refreshed is not None
    return refreshed


# --- what the check and the clock do -------------------------------------------------


def _system_event(
    session: Session,
    ticket: FaultTicketRow,
    action: SystemAction,
    before: str,
    after: str,
    note: str,
    now: dt.datetime,
) -> None:
    session.add(
        TicketEventRow(
            ticket_id=ticket.id,
            at=now,
            actor_id=None,
            action=action.value,
            from_state=before,
            to_state=after,
            note=note,
            evidence_sha256=None,
            assignee_id=None,
            due_at=None,
            version=ticket.version,
        )
    )


def close_by_check(session: Session, ticket: FaultTicketRow, run_id: int, now: dt.datetime) -> bool:
    """The check passed again: close the ticket unless someone closed it meanwhile."""
    before = ticket.state
    done = session.execute(
        update(FaultTicketRow)
        .where(FaultTicketRow.id == ticket.id, FaultTicketRow.closed_at.is_(None))
        .values(
            closed_at=now,
            closed_run_id=run_id,
            state=State.CLOSED.value,
            version=FaultTicketRow.version + 1,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(ticket)
    _system_event(session, ticket, SystemAction.AUTO_CLOSED, before, State.CLOSED, "", now)
    return True


def reopen_by_check(
    session: Session,
    ticket: FaultTicketRow,
    now: dt.datetime,
    *,
    severity: str,
    detail: str,
    evidence: dict[str, object],
) -> bool:
    """The check failed again soon after the ticket was closed: reopen it (its close
    reason stays in the history)."""
    reason = ticket.close_reason or ""
    done = session.execute(
        update(FaultTicketRow)
        .where(FaultTicketRow.id == ticket.id, FaultTicketRow.closed_at.is_not(None))
        .values(
            closed_at=None,
            closed_run_id=None,
            closed_by=None,
            close_reason=None,
            escalated_at=None,
            state=State.REOPENED.value,
            reopened=FaultTicketRow.reopened + 1,
            version=FaultTicketRow.version + 1,
            last_seen_at=now,
            occurrences=FaultTicketRow.occurrences + 1,
            severity=severity,
            detail=detail,
            evidence=evidence,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(ticket)
    _system_event(session, ticket, SystemAction.REOPENED, State.CLOSED, State.REOPENED, reason, now)
    return True


def recently_closed(
    session: Session, keys: set[tuple[str, str, str]], now: dt.datetime
) -> dict[tuple[str, str, str], FaultTicketRow]:
    """For each (subject kind, subject, rule) in ``keys``, its ticket closed within
    ``REOPEN_WITHIN`` (the latest), if any."""
    if not keys:
        return {}
    rows = session.scalars(
        select(FaultTicketRow)
        .where(
            FaultTicketRow.closed_at >= now - REOPEN_WITHIN,
            FaultTicketRow.subject_id.in_({subject for _kind, subject, _rule in keys}),
        )
        .order_by(FaultTicketRow.closed_at)
    )
    found: dict[tuple[str, str, str], FaultTicketRow] = {}
    for row in rows:
        key = (row.subject_kind, row.subject_id, row.rule)
        if key in keys:
            found[key] = row  # later rows win: the latest closed
    return found


def escalate_overdue(session: Session, now: dt.datetime) -> list[FaultTicketRow]:
    """Mark every ticket still open past its due time as escalated (once per due time);
    returns those newly escalated, for the alerts to tell."""
    rows = list(
        session.scalars(
            select(FaultTicketRow).where(
                FaultTicketRow.closed_at.is_(None),
                FaultTicketRow.due_at.is_not(None),
                FaultTicketRow.due_at < now,
                FaultTicketRow.escalated_at.is_(None),
            )
        )
    )
    escalated = []
    for ticket in rows:
        done = session.execute(
            update(FaultTicketRow)
            .where(FaultTicketRow.id == ticket.id, FaultTicketRow.escalated_at.is_(None))
            .values(escalated_at=now)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(ticket)
            _system_event(
                session, ticket, SystemAction.ESCALATED, ticket.state, ticket.state, "", now
            )
            escalated.append(ticket)
    session.flush()
    return escalated
