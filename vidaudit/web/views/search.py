"""The search box: one query over branches, devices, channels, fault tickets, findings and
register entries, by id or name, within what the person may see (branch scope and the
permission of each kind), a few of each kind.  Queries only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from vidaudit.accounts.roles import Permission, has_permission
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    DeviceRow,
    FaultTicketRow,
    FindingRow,
    RegisterEntryRow,
    UserRow,
)
from vidaudit.web.deps import branch_scope
from vidaudit.web.views.register import KNOWN_ACTIONS
from vidaudit.web.views.review_common import row_id

#: what a person can type usefully: ids are at most 64 characters
MAX_QUERY = 64
PER_KIND = 10


@dataclass(frozen=True)
class Hit:
    kind: str  # branch | device | channel | ticket | finding | register
    label: str  # ids and names, as stored
    detail: str  # more ids and what people wrote, as stored
    path: str
    retired: bool = False
    #: the catalogue key of its state or action (the page translates it), or ""
    state: str = ""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _number(text: str) -> int | None:
    return row_id(text.removeprefix("#"))


def search(db: Session, user: UserRow, text: str) -> list[Hit]:
    text = text.strip()[:MAX_QUERY]
    if not text:
        return []
    like = f"%{_escape(text)}%"
    scope = branch_scope(user)
    number = _number(text)

    def matches(*columns: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        return or_(*(c.ilike(like, escape="\\") for c in columns))

    hits: list[Hit] = []
    branches = select(BranchRow).where(matches(BranchRow.id, BranchRow.name))
    if scope is not None:
        branches = branches.where(BranchRow.id.in_(scope))
    for b in db.scalars(branches.order_by(BranchRow.id).limit(PER_KIND)):
        hits.append(
            Hit(
                "branch",
                f"{b.id} {b.name}",
                b.timezone,
                f"/branches/{b.id}",
                b.retired_at is not None,
            )
        )
    devices = select(DeviceRow).where(matches(DeviceRow.id, DeviceRow.name))
    if scope is not None:
        devices = devices.where(DeviceRow.branch_id.in_(scope))
    for d in db.scalars(devices.order_by(DeviceRow.id).limit(PER_KIND)):
        hits.append(
            Hit(
                "device",
                f"{d.id} {d.name or ''}".strip(),
                f"{d.branch_id} · {d.vendor}",
                f"/devices/{d.id}",
                d.retired_at is not None,
            )
        )
    channels = (
        select(ChannelRow, DeviceRow.branch_id)
        .join(DeviceRow, DeviceRow.id == ChannelRow.device_id)
        .where(matches(ChannelRow.id, ChannelRow.name))
    )
    if scope is not None:
        channels = channels.where(DeviceRow.branch_id.in_(scope))
    for c, branch_id in db.execute(channels.order_by(ChannelRow.id).limit(PER_KIND)):
        hits.append(
            Hit(
                "channel",
                f"{c.id} {c.name}",
                f"{branch_id} · {c.device_id} · {c.role}",
                f"/channels/{c.id}",
                c.retired_at is not None,
            )
        )
    if has_permission(user.role, Permission.VIEW_TICKETS):
        tickets = select(FaultTicketRow).where(
            or_(
                matches(FaultTicketRow.subject_id),
                *((FaultTicketRow.id == number,) if number is not None else ()),
            )
        )
        if scope is not None:
            tickets = tickets.where(FaultTicketRow.branch_id.in_(scope))
        for t in db.scalars(tickets.order_by(FaultTicketRow.id.desc()).limit(PER_KIND)):
            hits.append(
                Hit(
                    "ticket",
                    f"#{t.id} {t.rule} {t.subject_id}",
                    t.branch_id,
                    f"/tickets/{t.id}",
                    state=f"tickets.state_{t.state}",
                )
            )
    if has_permission(user.role, Permission.VIEW_FINDINGS):
        findings = select(FindingRow).where(
            or_(
                matches(FindingRow.channel_id),
                *((FindingRow.id == number,) if number is not None else ()),
            )
        )
        if scope is not None:
            findings = findings.where(FindingRow.branch_id.in_(scope))
        for f in db.scalars(findings.order_by(FindingRow.id.desc()).limit(PER_KIND)):
            hits.append(
                Hit(
                    "finding",
                    f"#{f.id} {f.channel_id} {f.item_code}",
                    f"{f.branch_id} · {f.note[:60]}",
                    f"/findings/{f.id}",
                    state=f"findings.status_{f.status}",
                )
            )
    if has_permission(user.role, Permission.VIEW_REGISTER):
        entries = select(RegisterEntryRow).where(
            or_(
                matches(RegisterEntryRow.actor, RegisterEntryRow.channel_id),
                *((RegisterEntryRow.seq == number,) if number is not None else ()),
            )
        )
        if scope is not None:
            entries = entries.where(RegisterEntryRow.branch_id.in_(scope))
        for e in db.scalars(entries.order_by(RegisterEntryRow.seq.desc()).limit(PER_KIND)):
            query = f"branch={e.branch_id or ''}&channel={e.channel_id or ''}"
            hits.append(
                Hit(
                    "register",
                    f"#{e.seq} {e.actor}",
                    f"{e.branch_id or '—'} · {e.channel_id or '—'} · {e.reason[:60]}",
                    f"/register?{query}",
                    # an action written by a later module without a label shows as it is
                    state=f"register.action_{e.action}" if e.action in KNOWN_ACTIONS else "",
                )
            )
    return hits
