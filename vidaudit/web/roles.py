"""Who may do what, as data: the roles, their branch scope, and a permission table.

Pages never test a role by name; they ask for a permission (``require_permission("review")``)
so that changing who may review is one edit here, and the route-enumeration test
(tests/web/test_routes_guarded.py) reads this same table to know what each role must get.

The roles follow section 4 of ../shared/domain/bank-video-rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SECURITY = "security"  # 保卫部: all branches, dashboard, assigns spot-checks
    INSPECTOR = "inspector"  # 检查员: all branches, targeted reviews from transaction data
    BRANCH_HEAD = "branch_head"  # 网点负责人: own branch, weekly review, approvals, rectification
    ADMINISTRATOR = "administrator"  # 监控管理员: own branch, daily check, twice-weekly reviews
    AUDITOR = "auditor"  # 审计: read-only, verifies the register


class Permission(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"  # compliance dashboard, branch/device/channel pages
    VIEW_SPOT_CHECKS = "view_spot_checks"  # the spot-check queue and task pages (read)
    VIEW_FINDINGS = "view_findings"  # findings and their history (read)
    VIEW_REGISTER = "view_register"  # the review register (read)
    VIEW_DUTIES = "view_duties"  # weekly duty status D1-D3 (read)
    VIEW_REPORTS = "view_reports"  # printable records, weekly report, exports
    VIEW_PATROL = "view_patrol"  # video-wall patrol of live snapshots (D8)
    REVIEW = "review"  # do a spot-check review: pull frames, mark items, submit
    APPROVE = "approve"  # approve or deny out-of-scope viewing (D4)
    RECTIFY = "rectify"  # act on a finding: record the fix and its evidence (D7)
    VERIFY_RECTIFICATION = "verify_rectification"  # close or reopen a fixed finding
    MANAGE_PLANS = "manage_plans"  # create random / targeted spot-check plans (D5, D6)
    VERIFY_REGISTER = "verify_register"  # run the register's chain verification
    DAILY_CHECK = "daily_check"  # confirm the daily surveillance check (D1)
    MANAGE_USERS = "manage_users"  # list, add and disable accounts
    ACCOUNT = "account"  # one's own account: language, logout


@dataclass(frozen=True)
class RoleInfo:
    role: Role
    #: True: sees every branch; False: only the user's own branch (``UserRow.branch_id``)
    all_branches: bool
    permissions: frozenset[Permission]


P = Permission
_EVERYONE = frozenset(
    {
        P.VIEW_DASHBOARD,
        P.VIEW_FINDINGS,
        P.VIEW_REGISTER,
        P.VIEW_DUTIES,
        P.VIEW_REPORTS,
        P.ACCOUNT,
    }
)

ROLES: dict[Role, RoleInfo] = {
    Role.SECURITY: RoleInfo(
        Role.SECURITY,
        all_branches=True,
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.REVIEW,
            P.VERIFY_RECTIFICATION,
            P.MANAGE_PLANS,
            P.VERIFY_REGISTER,
            P.MANAGE_USERS,
        },
    ),
    Role.INSPECTOR: RoleInfo(
        Role.INSPECTOR,
        all_branches=True,
        permissions=_EVERYONE
        | {P.VIEW_SPOT_CHECKS, P.VIEW_PATROL, P.REVIEW, P.VERIFY_RECTIFICATION, P.MANAGE_PLANS},
    ),
    Role.BRANCH_HEAD: RoleInfo(
        Role.BRANCH_HEAD,
        all_branches=False,
        # The head follows up her branch's rectifications (Art. 49: 督促整改): she may close
        # a fix someone else reported (findings.py refuses closing one's own fix).
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.REVIEW,
            P.APPROVE,
            P.RECTIFY,
            P.VERIFY_RECTIFICATION,
        },
    ),
    Role.ADMINISTRATOR: RoleInfo(
        Role.ADMINISTRATOR,
        all_branches=False,
        permissions=_EVERYONE
        | {P.VIEW_SPOT_CHECKS, P.VIEW_PATROL, P.REVIEW, P.RECTIFY, P.DAILY_CHECK},
    ),
    # Read-only: no permission that writes anything except its own language and logout.
    Role.AUDITOR: RoleInfo(
        Role.AUDITOR,
        all_branches=True,
        permissions=_EVERYONE | {P.VERIFY_REGISTER},
    ),
}

#: Permissions that change nothing but what is shown: an auditor may hold only these.
READ_ONLY = frozenset(
    {
        P.VIEW_DASHBOARD,
        P.VIEW_SPOT_CHECKS,
        P.VIEW_FINDINGS,
        P.VIEW_REGISTER,
        P.VIEW_DUTIES,
        P.VIEW_REPORTS,
        P.VIEW_PATROL,
        P.VERIFY_REGISTER,
        P.ACCOUNT,
    }
)


def role_info(role: str) -> RoleInfo | None:
    """The role's entry, or None for a role this code does not know (then: no rights)."""
    try:
        return ROLES[Role(role)]
    except ValueError:
        return None


def has_permission(role: str, permission: Permission | str) -> bool:
    info = role_info(role)
    return info is not None and Permission(permission) in info.permissions


def branch_scope_for(role: str, branch_id: str | None) -> set[str] | None:
    """Branches a user may see: None = all; a branch-bound role sees only its branch.

    An unknown role, or a branch-bound role without a branch, sees nothing (an empty set),
    never everything.
    """
    info = role_info(role)
    if info is None:
        return set()
    if info.all_branches:
        return None
    return {branch_id} if branch_id else set()


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key nav.<key>
    path: str
    #: shown when the user holds any of these
    any_of: frozenset[Permission]


#: The navigation bar, in order.  Pages that do not exist yet still get their entry, so
#: the bar looks the same as modules land; an unbuilt path answers 404.
NAV: tuple[NavItem, ...] = (
    NavItem("dashboard", "/", frozenset({P.VIEW_DASHBOARD})),
    NavItem("spot_checks", "/spot-checks", frozenset({P.VIEW_SPOT_CHECKS})),
    NavItem("findings", "/findings", frozenset({P.VIEW_FINDINGS})),
    NavItem("register", "/register", frozenset({P.VIEW_REGISTER})),
    NavItem("duties", "/duties", frozenset({P.VIEW_DUTIES})),
    NavItem("reports", "/reports", frozenset({P.VIEW_REPORTS})),
    NavItem("patrol", "/patrol", frozenset({P.VIEW_PATROL})),
    NavItem("users", "/users", frozenset({P.MANAGE_USERS})),
)


def nav_for(role: str) -> list[NavItem]:
    info = role_info(role)
    if info is None:
        return []
    return [item for item in NAV if item.any_of & info.permissions]
