"""Login sessions and the login rate limit, without HTTP (people, passwords and
roles are ``vidaudit.accounts``).

- Sessions: the cookie carries 32 random bytes; the database holds only their sha256, so
  a leaked database (or backup) does not yield usable cookies.  Expiry is absolute.
- Rate limit: growing delays after failed logins, per account and per client address
  separately (``LoginLimiter``).  It is per process: with several worker processes each
  counts on its own, and a restart forgets.  That makes online guessing slow; it is not
  an account lockout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
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


@dataclass
class _Failures:
    count: int
    last: float


class _Backoff:
    """Failures per key with a growing delay: ``free`` failures cost nothing, each one
    after that doubles the wait before the next attempt (1 s, 2 s, 4 s, … up to
    ``max_delay_s``); a quiet ``forget_s`` forgets the key.  At most ``max_keys`` keys are
    kept (least recently failed dropped first), so a spray of names costs bounded memory."""

    def __init__(self, free: int, max_delay_s: float, forget_s: float, max_keys: int) -> None:
        self.free = free
        self.max_delay_s = max_delay_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def _live(self, key: str, now: float) -> _Failures | None:
        found = self._keys.get(key)
        if found is not None and now - found.last >= self.forget_s:
            del self._keys[key]
            return None
        return found

    def wait(self, key: str, now: float) -> float:
        found = self._live(key, now)
        if found is None or found.count < self.free:
            return 0.0
        delay = min(self.max_delay_s, 2.0 ** (found.count - self.free))
        return max(0.0, found.last + delay - now)

    def failed(self, key: str, now: float) -> None:
        found = self._live(key, now)
        if found is None:
            if len(self._keys) >= self.max_keys:
                self._keys.popitem(last=False)
            found = self._keys[key] = _Failures(0, now)
        found.count += 1
        found.last = now
        self._keys.move_to_end(key)

    def clear(self, key: str) -> None:
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)


class LoginLimiter:
    """Failed logins slow down guessing, per account and per client address separately;
    thread-safe, in memory, per process.

    - Per account (from any address): ``account_free`` failures, then a doubling delay up
      to ``max_delay_s`` before that account may be tried again.  Guessing one person's
      password is slow however many addresses a guesser has, and the real person waits
      at most ``max_delay_s`` (not a lock-out: the pen test's shared NAT locked a user out
      for 15 minutes).
    - Per address (any account): ``address_free`` failures (more: an office behind one
      NAT mistypes too), then the same doubling delay: spraying many accounts from one
      address is slow too.  The address is the connection's peer; X-Forwarded-For counts
      only from the proxies named in VIDAUDIT_WEB_TRUSTED_PROXIES (web/app.py), so a
      rotating header gains nothing.

    ``retry_after`` is asked before a password is checked; a refused attempt is not
    checked at all.  A success clears the account (not the address).  Usernames are cut to
    ``MAX_NAME`` characters by the caller before they get here.
    """

    #: keys kept per table at most (a few hundred bytes each)
    MAX_KEYS = 10_000

    def __init__(
        self,
        account_free: int,
        address_free: int,
        max_delay_s: float,
        forget_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = _Backoff(account_free, max_delay_s, forget_s, self.MAX_KEYS)
        self._addresses = _Backoff(address_free, max_delay_s, forget_s, self.MAX_KEYS)
        self._clock = clock
        self._lock = threading.Lock()

    def retry_after(self, username: str, address: str) -> float:
        """0 if an attempt is allowed now, else seconds to wait."""
        with self._lock:
            now = self._clock()
            return max(
                self._accounts.wait(username.casefold(), now),
                self._addresses.wait(address, now),
            )

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            now = self._clock()
            self._accounts.failed(username.casefold(), now)
            self._addresses.failed(address, now)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._accounts.clear(username.casefold())

    @property
    def keys(self) -> int:
        """Keys held (accounts + addresses): bounded by ``2 * MAX_KEYS``."""
        with self._lock:
            return len(self._accounts) + len(self._addresses)
