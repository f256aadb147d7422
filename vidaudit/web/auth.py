"""Login sessions and the login rate limit, without HTTP (people, passwords and
roles are ``vidaudit.accounts``).

- Sessions: the cookie carries 32 random bytes; the database holds only their sha256, so
  a leaked database (or backup) does not yield usable cookies.  Expiry is absolute.
- Rate limit: an in-memory sliding window of failures per (username, client address).
  It is per process: with several worker processes each counts on its own, and a restart
  forgets.  That is enough to make online guessing slow; it is not an account lockout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vidaudit.db.models import UserRow, WebSessionRow

#: sessions that ended this long ago are deleted at the next login (the table stays small)
_SESSION_KEEP = dt.timedelta(days=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    row: WebSessionRow


def start_session(session: Session, user: UserRow, now: dt.datetime, hours: float) -> NewSession:
    session.execute(
        delete(WebSessionRow).where(
            WebSessionRow.user_id == user.id, WebSessionRow.expires_at < now - _SESSION_KEEP
        )
    )
    token = secrets.token_urlsafe(32)
    row = WebSessionRow(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return NewSession(token, row)


def load_session(
    session: Session, token: str | None, now: dt.datetime
) -> tuple[WebSessionRow, UserRow] | None:
    """The live session and its enabled user for a cookie value, else None."""
    if not token or len(token) > 128:
        return None
    found = session.execute(
        select(WebSessionRow, UserRow)
        .join(UserRow, UserRow.id == WebSessionRow.user_id)
        .where(
            WebSessionRow.token_hash == token_hash(token),
            WebSessionRow.revoked_at.is_(None),
            WebSessionRow.expires_at > now,
            UserRow.disabled_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    return found[0], found[1]


def revoke_session(session: Session, row: WebSessionRow, now: dt.datetime) -> None:
    row.revoked_at = row.revoked_at or now


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class LoginLimiter:
    """Sliding window of failed logins per (username, address); thread-safe.

    ``allowed`` is asked before checking a password; a refused attempt is not checked at
    all, so guessing cannot continue through the limit.  A success clears the key.
    """

    #: keys kept at most; the oldest are dropped first (bounded memory under a spray)
    MAX_KEYS = 100_000

    def __init__(
        self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, username: str, address: str) -> float:
        """0 if an attempt is allowed now, else seconds until the oldest failure expires."""
        key = (username.casefold(), address)
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if len(times) < self.attempts:
                return 0.0
            return max(1.0, times[0] + self.window_s - now)

    def failed(self, username: str, address: str) -> None:
        key = (username.casefold(), address)
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if key not in self._failures:
                if len(self._failures) >= self.MAX_KEYS:
                    del self._failures[next(iter(self._failures))]
                self._failures[key] = times
            times.append(now)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username.casefold(), address), None)
