"""Who may do what, as data: a person's roles, their branch scope, and a permission table.

Pages never test a role by name; they ask for a permission (``require_permission("review")``)
so that changing who may review is one edit here, and the route-enumeration test
(tests/web/test_routes_guarded.py) reads this same table to know what each role must get.
The review and collector rules name roles through ``PersonRole`` and the groups below,
never as strings.  (A channel's role - counter, vault - is ``inventory.ChannelRole``.)

The roles follow section 4 of ../shared/domain/bank-video-rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PersonRole(StrEnum):
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
    #: the O&M indicators per region and bank with their trend (/overview, its PDF, XLSX);
    #: a branch-bound role sees its own branch only, like every page
    VIEW_OVERVIEW = "view_overview"
    REVIEW = "review"  # do a spot-check review: pull frames, mark items, submit
    APPROVE = "approve"  # approve or deny out-of-scope viewing (D4)
    RECTIFY = "rectify"  # act on a finding: record the fix and its evidence (D7)
    VERIFY_RECTIFICATION = "verify_rectification"  # close or reopen a fixed finding
    MANAGE_PLANS = "manage_plans"  # create random / targeted spot-check plans (D5, D6)
    VERIFY_REGISTER = "verify_register"  # run the register's chain verification
    DAILY_CHECK = "daily_check"  # confirm the daily surveillance check (D1)
    VIEW_TICKETS = "view_tickets"  # fault tickets, their history, search (read)
    HANDLE_TICKETS = "handle_tickets"  # acknowledge, comment, attach evidence, close (R7)
    ASSIGN_TICKETS = "assign_tickets"  # give a ticket to a person with a due time
    PATROL_ROUND = "patrol_round"  # record an ATM patrol round (D9)
    MANAGE_USERS = "manage_users"  # list, add and disable accounts
    ACCOUNT = "account"  # one's own account: language, logout


@dataclass(frozen=True)
class RoleInfo:
    role: PersonRole
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
        P.VIEW_TICKETS,
        P.ACCOUNT,
    }
)

ROLES: dict[PersonRole, RoleInfo] = {
    PersonRole.SECURITY: RoleInfo(
        PersonRole.SECURITY,
        all_branches=True,
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.VIEW_OVERVIEW,
            P.PATROL_ROUND,
            P.REVIEW,
            P.VERIFY_RECTIFICATION,
            P.MANAGE_PLANS,
            P.VERIFY_REGISTER,
            P.MANAGE_USERS,
            P.HANDLE_TICKETS,
            P.ASSIGN_TICKETS,
        },
    ),
    PersonRole.INSPECTOR: RoleInfo(
        PersonRole.INSPECTOR,
        all_branches=True,
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.VIEW_OVERVIEW,
            P.PATROL_ROUND,
            P.REVIEW,
            P.VERIFY_RECTIFICATION,
            P.MANAGE_PLANS,
        },
    ),
    PersonRole.BRANCH_HEAD: RoleInfo(
        PersonRole.BRANCH_HEAD,
        all_branches=False,
        # The head follows up her branch's rectifications (Art. 49: 督促整改): she may close
        # a fix someone else reported (findings.py refuses closing one's own fix).
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.VIEW_OVERVIEW,
            P.PATROL_ROUND,
            P.REVIEW,
            P.APPROVE,
            P.RECTIFY,
            P.VERIFY_RECTIFICATION,
            P.HANDLE_TICKETS,
            P.ASSIGN_TICKETS,
        },
    ),
    PersonRole.ADMINISTRATOR: RoleInfo(
        PersonRole.ADMINISTRATOR,
        all_branches=False,
        permissions=_EVERYONE
        | {
            P.VIEW_SPOT_CHECKS,
            P.VIEW_PATROL,
            P.REVIEW,
            P.RECTIFY,
            P.DAILY_CHECK,
            P.HANDLE_TICKETS,
            P.PATROL_ROUND,
        },
    ),
    # Read-only: no permission that writes anything except its own language and logout.
    PersonRole.AUDITOR: RoleInfo(
        PersonRole.AUDITOR,
        all_branches=True,
        permissions=_EVERYONE | {P.VIEW_OVERVIEW, P.VERIFY_REGISTER},
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
        P.VIEW_TICKETS,
        P.VIEW_OVERVIEW,
        P.VERIFY_REGISTER,
        P.ACCOUNT,
    }
)


def roles_with(permission: Permission) -> frozenset[PersonRole]:
    """The roles holding ``permission``: rules name groups of people this way, never by
    listing role names."""
    return frozenset(info.role for info in ROLES.values() if permission in info.permissions)


#: Whose business is every branch's footage, so routine review and inspection anywhere
#: needs no approval (Art. 46, D4): the security department and the inspectors.  Auditors
#: see every branch's records but ask, like anyone else, before they see video.
FOOTAGE_OF_EVERY_BRANCH = frozenset({PersonRole.SECURITY, PersonRole.INSPECTOR})
#: Who reviews for the weekly duties: the administrator (D2) and the branch head (D3).
DUTY_REVIEWERS = (PersonRole.ADMINISTRATOR, PersonRole.BRANCH_HEAD)
#: A fault ticket's owner (R7, the surveillance administrator) and who is told of it.
TICKET_OWNER = PersonRole.ADMINISTRATOR
TICKET_NOTIFIED = (PersonRole.BRANCH_HEAD, PersonRole.SECURITY)


def role_info(role: str) -> RoleInfo | None:
    """The role's entry, or None for a role this code does not know (then: no rights)."""
    try:
        return ROLES[PersonRole(role)]
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
