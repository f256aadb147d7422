"""What the fault-ticket and finding pages share: both are a filtered list with CSV / XLSX
exports and one case's page with its history, versioned action forms and a photo upload.

Kept here so each route module says only what its cases differ in (their filters, columns,
actions and rules); the rules themselves stay in ``vidaudit.review``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import Request, UploadFile
from sqlalchemy.orm import Session

from vidaudit.db.models import BranchRow, UserRow
from vidaudit.web.i18n import DEFAULT_TIMEZONE
from vidaudit.web.state import WebState
from vidaudit.web.views.review_common import evidence_store, query_flag, with_query

#: a photo of the fault or the fix, not a video: a phone picture is a few MB
MAX_PHOTO_BYTES = 10 << 20
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class PhotoRefused(Exception):
    """A file sent with an action that takes none, not a JPEG or PNG, or too large."""


def image_type(data: bytes) -> str | None:
    return next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), None)


def store_photo(
    state: WebState,
    db: Session,
    upload: UploadFile | None,
    *,
    allowed: bool,
    details: dict[str, Any],
    now: dt.datetime,
) -> str | None:
    """The evidence digest of the photo sent with an action, None when none was sent.

    Raises ``PhotoRefused`` when the action takes no photo (``allowed``) or the file is not
    one; reading one byte past the limit tells "too large" without reading all of it."""
    data = upload.file.read(MAX_PHOTO_BYTES + 1) if upload is not None else b""
    if not data:
        return None
    media_type = image_type(data)
    if not allowed or media_type is None or len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused
    return evidence_store(state).put(db, data, media_type, details, now).sha256


def export_links(path: str, query: Mapping[str, Any]) -> dict[str, str]:
    """The list page's CSV and XLSX buttons: the same filters as the list shown."""
    return {
        "csv_url": with_query(f"{path}.csv", query),
        "xlsx_url": with_query(f"{path}.xlsx", query),
    }


def branch_tz(branch: BranchRow | None) -> str:
    return (branch.timezone if branch else None) or DEFAULT_TIMEZONE


class CaseDetail(Protocol):
    """What ``views.tickets.detail_of`` and ``views.findings.detail_of`` both give."""

    @property
    def branch(self) -> BranchRow | None: ...
    @property
    def events(self) -> Sequence[object]: ...
    @property
    def candidates(self) -> Sequence[UserRow]: ...


def case_page(request: Request, detail: CaseDetail, *, error: str, form: object) -> dict[str, Any]:
    """The part of one case's page context both kinds have: where and when (the branch and
    its zone), the history, who it may go to, and the outcome of the last action (a refusal
    with what was typed, or the ``?done=`` flag after a redirect)."""
    return {
        "branch": detail.branch,
        "tz": branch_tz(detail.branch),
        "events": detail.events,
        "candidates": detail.candidates,
        "error": error,
        "form": form,
        "done": query_flag(request, "done"),
    }
