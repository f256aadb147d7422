"""Who hears of what: each configured channel that reaches one of the event's roles at the
item's branch; for e-mail, each reached account's own address (in the account's language,
only items of branches the account may see) and the channel's fixed addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import branch_scope_for
from vidaudit.alerts.due import Due
from vidaudit.db.models import UserRow
from vidaudit.notify.config import EmailChannel, NotifySettings


@dataclass(frozen=True)
class Target:
    channel: str
    kind: str
    #: an e-mail address, or "" for a group robot or webhook
    recipient: str
    language: str


def _accounts(session: Session) -> list[UserRow]:
    return list(
        session.scalars(
            select(UserRow)
            .where(UserRow.disabled_at.is_(None), UserRow.email.is_not(None))
            .order_by(UserRow.id)
        )
    )


def route(
    session: Session, notify: NotifySettings, roles: frozenset[str], items: Sequence[Due]
) -> list[tuple[Target, list[Due]]]:
    out: list[tuple[Target, list[Due]]] = []
    accounts: list[UserRow] | None = None
    for name, channel in sorted(notify.channels.items()):
        reached = [d for d in items if channel.reaches_any(roles, d.branch_id)]
        if not reached:
            continue
        if not isinstance(channel, EmailChannel):
            out.append((Target(name, channel.kind, "", channel.language), reached))
            continue
        addresses: dict[str, tuple[str, list[Due]]] = {
            address.lower(): (channel.language, reached) for address in channel.to
        }
        if channel.accounts:
            accounts = _accounts(session) if accounts is None else accounts
            for user in accounts:
                if user.role not in roles or not user.email:
                    continue
                scope = branch_scope_for(user.role, user.branch_id)
                mine = [
                    d
                    for d in reached
                    if (scope is None or d.branch_id in scope)
                    and channel.reaches_any(frozenset({user.role}), d.branch_id)
                ]
                if mine:
                    addresses[user.email.lower()] = (user.locale, mine)
        for address, (language, chosen) in sorted(addresses.items()):
            out.append((Target(name, "email", address, language), chosen))
    return out
