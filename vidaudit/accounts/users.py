"""People: accounts, their passwords and their roles (no HTTP).

- Passwords: argon2id (argon2-cffi's RFC 9106 low-memory defaults).  Hashing is CPU- and
  memory-heavy (64 MiB each), so at most ``_HASH_SLOTS`` run at once; callers run it in a
  worker thread (sync route handlers), never on the event loop.
- A disabled account keeps its row (reviews, findings and the register name it) and loses
  every live login session at once.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import PersonRole, RoleInfo, role_info
from vidaudit.db.models import BranchRow, UserRow, WebSessionRow

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106 "low memory")
# Bound concurrent hashes: 40 threadpool workers x 64 MiB would be 2.5 GB at a login burst.
_HASH_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


class UserError(ValueError):
    """A user cannot be created or changed as asked: the message for the command line,
    ``code`` for the web's words (``users.error_<code>``)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def hash_password(password: str) -> str:
    with _HASH_SLOTS:
        return _hasher.hash(password)


def _dummy() -> str:
    # A hash to verify against when the username is unknown, so an unknown user costs the
    # same time as a wrong password and timing does not tell which usernames exist.
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        return _dummy_hash


def verify_password(stored_hash: str | None, password: str) -> bool:
    target = stored_hash or _dummy()
    with _HASH_SLOTS:
        try:
            ok = _hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return ok and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", "password_short"
        )
    if password.strip() != password:
        raise UserError("the password must not start or end with white space", "password_space")


def authenticate(session: Session, username: str, password: str) -> UserRow | None:
    """The user if the password is right and the account is enabled, else None.

    Always performs exactly one argon2 verification, whether or not the user exists or is
    disabled, so the answer's timing reveals neither.
    """
    user = session.scalars(select(UserRow).where(UserRow.username == username)).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled_at is not None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    branch_id: str | None,
    display_name: str | None,
    now: dt.datetime,
    locale: str = "zh",
    email: str | None = None,
) -> UserRow:
    info = _role_and_branch(session, role, branch_id)
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise UserError("the username must be 1-64 printable characters without spaces", "username")
    if session.scalars(select(UserRow.id).where(UserRow.username == username)).first():
        raise UserError(f"user {username!r} exists already", "exists")
    check_new_password(password)
    address = check_email(email) if email else None
    user = UserRow(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=info.role.value,
        branch_id=branch_id,
        locale=locale,
        created_at=now,
        disabled_at=None,
        email=address,
    )
    session.add(user)
    session.flush()
    return user


def _role_and_branch(session: Session, role: str, branch_id: str | None) -> RoleInfo:
    """The role, if it exists and ``branch_id`` fits it (a branch-bound role needs one
    that exists; an all-branches role has none)."""
    info = role_info(role)
    if info is None:
        raise UserError(
            f"unknown role {role!r}: use one of {', '.join(r.value for r in PersonRole)}", "role"
        )
    if info.all_branches and branch_id:
        raise UserError(f"role {role} sees every branch; leave out --branch", "branch_not_allowed")
    if not info.all_branches and not branch_id:
        raise UserError(f"role {role} works for one branch: give --branch", "branch_needed")
    if branch_id and session.get(BranchRow, branch_id) is None:
        raise UserError(
            f"no branch {branch_id!r} in the database (run `vidaudit inventory sync`)",
            "branch_unknown",
        )
    return info


def change_role(
    session: Session, user: UserRow, role: str, branch_id: str | None, now: dt.datetime
) -> UserRow:
    """Give ``user`` another role or branch; their logins end, so the next one carries
    what they may now do."""
    info = _role_and_branch(session, role, branch_id)
    user.role, user.branch_id = info.role.value, branch_id
    revoke_user_sessions(session, user.id, now)
    return user


def reset_password(session: Session, user: UserRow, password: str, now: dt.datetime) -> UserRow:
    """Set a new password someone chose (the security department, to hand over in person);
    every login of the account ends."""
    check_new_password(password)
    user.password_hash = hash_password(password)
    revoke_user_sessions(session, user.id, now)
    return user


def enable_user(user: UserRow) -> UserRow:
    user.disabled_at = None
    return user


#: one address, no display name, no spaces or angle brackets (it goes into an SMTP
#: envelope as it is); the mail server has the last word on whether it exists
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def check_email(address: str) -> str:
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise UserError(f"not an e-mail address: {address[:80]!r}", "email")
    return address


def set_email(session: Session, username: str, address: str | None) -> UserRow:
    """Where e-mail alerts reach the person; None removes the address."""
    user = session.scalars(select(UserRow).where(UserRow.username == username)).first()
    if user is None:
        raise UserError(f"no user {username!r}", "not_found")
    user.email = check_email(address) if address else None
    session.flush()
    return user


def disable_user(session: Session, username: str, now: dt.datetime) -> UserRow:
    user = session.scalars(select(UserRow).where(UserRow.username == username)).first()
    if user is None:
        raise UserError(f"no user {username!r}", "not_found")
    user.disabled_at = user.disabled_at or now
    revoke_user_sessions(session, user.id, now)
    return user


def revoke_user_sessions(session: Session, user_id: int, now: dt.datetime) -> None:
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
