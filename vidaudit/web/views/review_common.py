"""What the spot-check, approval, review, finding and register pages share.

Kept out of the route modules so each router stays one resource; nothing here renders.
The D4 rule lives in the domain (``vidaudit.review.access.footage_access``): every page and
the evidence route ask it before a frame is shown or pulled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    DeviceRow,
    FindingRow,
    SpotCheckTaskRow,
    TaskFrameRow,
    UserRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory.schema import ChannelRole
from vidaudit.review.items import InspectionItem, items_for
from vidaudit.review.viewing import register_viewing
from vidaudit.web.deps import MAX_DB_ID, branch_scope
from vidaudit.web.i18n import DEFAULT_TIMEZONE
from vidaudit.web.state import WebState, web_state

#: the longest free text we keep from a form (notes, reasons, summaries)
MAX_TEXT = 2000


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str:
    return (value or "").strip()[:limit]


def row_id(text: str) -> int | None:
    """An id or version typed into a form or a query: ASCII digits within ``MAX_DB_ID``,
    the bound path ids (``DbId``) have. (``str.isdigit`` alone accepts "²", which ``int``
    refuses.)"""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_DB_ID:
        return None
    return int(text)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def evidence_store(state: WebState) -> EvidenceStore:
    return EvidenceStore(state.settings.evidence_dir)


def in_scope(user: UserRow, branch_id: str) -> bool:
    scope = branch_scope(user)
    return scope is None or branch_id in scope


@dataclass(frozen=True)
class TaskView:
    task: SpotCheckTaskRow
    branch: BranchRow
    channel: ChannelRow
    device: DeviceRow

    @property
    def tz(self) -> str:
        return self.branch.timezone or DEFAULT_TIMEZONE


def load_task(db: Session, task_id: int) -> TaskView:
    task = db.get(SpotCheckTaskRow, task_id)
    if task is None:
        raise not_found()
    branch = db.get(BranchRow, task.branch_id)
    channel = db.get(ChannelRow, task.channel_id)
    if branch is None or channel is None:
        raise not_found()
    return TaskView(task, branch, channel, channel.device)


def channel_items(role: str) -> list[InspectionItem]:
    try:
        return items_for(ChannelRole(role))
    except ValueError:  # a role this code does not know: the items every channel has
        return items_for(ChannelRole.OTHER)


def user_names(db: Session, ids: Iterable[int | None]) -> dict[int, UserRow]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.scalars(select(UserRow).where(UserRow.id.in_(wanted)))}


def branches_in_scope(db: Session, user: UserRow) -> list[BranchRow]:
    query = select(BranchRow).where(BranchRow.retired_at.is_(None)).order_by(BranchRow.id)
    scope = branch_scope(user)
    if scope is not None:
        query = query.where(BranchRow.id.in_(scope))
    return list(db.scalars(query))


def branch_zones(db: Session) -> dict[str, str]:
    return {b.id: b.timezone or DEFAULT_TIMEZONE for b in db.scalars(select(BranchRow))}


def with_query(path: str, values: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in values.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(kept) if kept else "")


def query_flag(request: Request, name: str) -> str:
    """A short message key handed over a redirect (``?done=pulled``); only [a-z_]."""
    value = request.query_params.get(name, "")
    return value if value.replace("_", "").isalpha() and len(value) <= 32 else ""


def frames_by_sha(db: Session, shas: Iterable[str]) -> dict[str | None, TaskFrameRow]:
    """The pulled frames behind these evidence digests."""
    return {
        f.evidence_sha256: f
        for f in db.scalars(select(TaskFrameRow).where(TaskFrameRow.evidence_sha256.in_(shas)))
    }


def review_findings(db: Session, review_id: int) -> list[FindingRow]:
    return list(
        db.scalars(
            select(FindingRow).where(FindingRow.review_id == review_id).order_by(FindingRow.id)
        )
    )


def note_viewing(
    request: Request,
    db: Session,
    user: UserRow,
    *,
    branch_id: str,
    channel_id: str,
    start: dt.datetime,
    end: dt.datetime,
    details: dict[str, Any],
) -> None:
    """Frames shown on a page are footage seen (Art. 46): on the register, once per login
    for the same channel and stretch (``vidaudit.review.viewing``), committed at once."""
    register_viewing(
        db,
        user,
        branch_id=branch_id,
        channel_id=channel_id,
        start=start,
        end=end,
        since=request.state.web_session.created_at,
        details=details,
        now=web_state(request).clock(),
    )
    db.commit()
