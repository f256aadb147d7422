"""The navigation bar: an entry per page, shown to whoever holds one of its permissions."""

from __future__ import annotations

from dataclasses import dataclass

from vidaudit.accounts.roles import Permission, role_info

P = Permission


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
    NavItem("overview", "/overview", frozenset({P.VIEW_OVERVIEW})),
    NavItem("spot_checks", "/spot-checks", frozenset({P.VIEW_SPOT_CHECKS})),
    # with a count of what waits: a branch head's requests to decide, one's own requests
    NavItem("approvals", "/approvals", frozenset({P.VIEW_SPOT_CHECKS})),
    NavItem("tickets", "/tickets", frozenset({P.VIEW_TICKETS})),
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
