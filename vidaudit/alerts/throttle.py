"""At most one alert about one thing (a ticket, an approval, a branch-day) per period.

``claim`` is one conditional UPDATE, or an INSERT that a unique key lets through once, so
two processes deciding at the same moment (``serve`` and ``collect --every``) never both
send: the second finds the row already claimed for this period.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vidaudit.db.models import AlertThrottleRow


def claim(session: Session, key: str, now: dt.datetime, repeat: dt.timedelta | None) -> int:
    """Claim the right to alert about ``key`` now: the alert's number (1 for the first,
    2 for the first repeat, …), or 0 when it was alerted less than ``repeat`` ago (or
    ever, for ``repeat`` None: once only)."""
    if repeat is not None:
        done = session.execute(
            update(AlertThrottleRow)
            .where(AlertThrottleRow.key == key, AlertThrottleRow.last_at <= now - repeat)
            .values(last_at=now, times=AlertThrottleRow.times + 1)
            .returning(AlertThrottleRow.times)
        ).scalar()
        if done is not None:
            return int(done)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    added = session.execute(
        insert(AlertThrottleRow)
        .values(key=key, last_at=now, times=1)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(AlertThrottleRow.times)
    ).scalar()
    return 1 if added is not None else 0
