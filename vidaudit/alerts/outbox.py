"""The outbox: alerts written in the transaction that decided them, sent later by any
drainer, each attempt's outcome recorded (sent, or why not and when to try again).

A drainer leases a row (``lease_owner``, ``lease_until``) with a conditional UPDATE before
sending it, so two drainers (``serve`` and ``collect --every``) never send one row twice
at the same time.  Delivery is at least once: a drainer that dies between sending and
recording leaves the lease to expire and the row to be sent again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from vidaudit.alerts.recipients import Target
from vidaudit.db.models import AlertOutboxRow
from vidaudit.notify.config import NotifySettings
from vidaudit.notify.message import Line, Message

PENDING, SENT, FAILED = "pending", "sent", "failed"
#: longer than any one send may take (timeouts are at most 120 s)
LEASE = dt.timedelta(minutes=5)


def add(
    session: Session, target: Target, message: Message, branch_id: str | None, now: dt.datetime
) -> AlertOutboxRow:
    row = AlertOutboxRow(
        created_at=now,
        event=message.event,
        channel=target.channel,
        channel_kind=target.kind,
        recipient=target.recipient,
        language=target.language,
        branch_id=branch_id,
        title=message.title[:256],
        body=message.plain(),
        payload={
            "link_label": message.link_label,
            "lines": [{"text": ln.text, "link": ln.link, **ln.about} for ln in message.lines],
        },
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        last_attempt_at=None,
        sent_at=None,
        last_error=None,
        lease_owner=None,
        lease_until=None,
    )
    session.add(row)
    return row


def message_of(row: AlertOutboxRow) -> Message:
    lines = []
    for item in row.payload.get("lines", []):
        about = {k: str(v) for k, v in item.items() if k not in ("text", "link")}
        lines.append(Line(str(item["text"]), item.get("link"), about))
    return Message(
        event=row.event,
        title=row.title,
        lines=tuple(lines),
        language=row.language,
        link_label=str(row.payload.get("link_label", "")),
    )


def lease_due(session: Session, owner: str, now: dt.datetime, limit: int = 20) -> list[int]:
    """Lease up to ``limit`` rows due now; their ids (commit before sending)."""
    candidates = session.scalars(
        select(AlertOutboxRow.id)
        .where(
            AlertOutboxRow.state == PENDING,
            AlertOutboxRow.next_attempt_at <= now,
            or_(AlertOutboxRow.lease_until.is_(None), AlertOutboxRow.lease_until < now),
        )
        .order_by(AlertOutboxRow.next_attempt_at, AlertOutboxRow.id)
        .limit(limit)
    ).all()
    leased = []
    for row_id in candidates:
        done = session.execute(
            update(AlertOutboxRow)
            .where(
                AlertOutboxRow.id == row_id,
                AlertOutboxRow.state == PENDING,
                or_(AlertOutboxRow.lease_until.is_(None), AlertOutboxRow.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            leased.append(row_id)
    return leased


def backoff(notify: NotifySettings, attempts: int) -> dt.timedelta:
    """retry_base_s, doubling with each failed attempt, at most retry_max_s."""
    seconds = min(notify.retry_max_s, notify.retry_base_s * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None


def record(
    session: Session,
    row_id: int,
    owner: str,
    now: dt.datetime,
    notify: NotifySettings,
    *,
    error: str | None = None,
    retry: bool = False,
) -> Outcome:
    """Record one attempt of a row this drainer leased."""
    row = session.get(AlertOutboxRow, row_id, populate_existing=True)
    if row is None or row.lease_owner != owner:
        return Outcome(row.state if row else FAILED, "lease lost")
    row.attempts += 1
    row.last_attempt_at = now
    row.lease_owner = None
    row.lease_until = None
    if error is None:
        row.state, row.sent_at, row.last_error = SENT, now, None
    else:
        row.last_error = error[:1000]
        if retry and row.attempts < notify.max_attempts:
            row.next_attempt_at = now + backoff(notify, row.attempts)
        else:
            row.state = FAILED
    session.flush()
    return Outcome(row.state, row.last_error)
