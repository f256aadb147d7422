"""What the user-management page reads: every account, the branches, and the branches
nobody can act for (queries only; the rules are ``vidaudit.accounts.users``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import PersonRole
from vidaudit.db.models import BranchRow, UserRow

#: the accounts a branch needs: a head to approve and follow up rectifications, an
#: administrator for the daily checks and weekly reviews (the rules' D1-D4)
BRANCH_ROLES = (PersonRole.BRANCH_HEAD.value, PersonRole.ADMINISTRATOR.value)


@dataclass(frozen=True)
class UsersPage:
    users: list[UserRow]
    branches: list[BranchRow]
    #: branch id -> the branch roles it has no enabled account for
    missing: dict[str, list[str]]


def users_page_data(db: Session) -> UsersPage:
    users = list(db.scalars(select(UserRow).order_by(UserRow.branch_id, UserRow.username)))
    branches = list(db.scalars(select(BranchRow).order_by(BranchRow.id)))
    held = {(u.branch_id, u.role) for u in users if u.disabled_at is None}
    missing = {b.id: [role for role in BRANCH_ROLES if (b.id, role) not in held] for b in branches}
    return UsersPage(users, branches, {b: roles for b, roles in missing.items() if roles})
