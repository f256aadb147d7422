"""``/reviews/{id}``: the written record of a review (D3, Art. 49 "书面记录"), made to be
printed on A4 and signed: branch, channel, window, reviewer and role, each item with its
verdict, note and frames, the summary, the findings raised and the register entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import (
    BranchRow,
    ChannelRow,
    RegisterEntryRow,
    ReviewRow,
    UserRow,
)
from vidaudit.review.access import footage_access
from vidaudit.review.items import BY_CODE
from vidaudit.web.deps import DbId, SessionDep, check_branch, require_permission
from vidaudit.web.i18n import DEFAULT_TIMEZONE
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    channel_items,
    frames_by_sha,
    not_found,
    query_flag,
    review_findings,
    user_names,
)

router = APIRouter(tags=["reviews"])


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_record(
    request: Request,
    db: SessionDep,
    user: Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)],
    review_id: DbId,
) -> HTMLResponse:
    review = db.get(ReviewRow, review_id)
    if review is None:
        raise not_found()
    check_branch(user, review.branch_id)
    branch = db.get(BranchRow, review.branch_id)
    channel = db.get(ChannelRow, review.channel_id)
    if branch is None or channel is None:
        raise not_found()
    # Items in the catalogue's order (the order the reviewer saw), then any the catalogue
    # no longer has, so an old record still shows everything that was marked.
    codes = [i.code for i in channel_items(channel.role) if i.code in review.items]
    codes += sorted(set(review.items) - set(codes))
    rows: list[dict[str, Any]] = []
    shas: set[str] = set()
    for code in codes:
        mark = review.items[code]
        frames = [str(s) for s in mark.get("frames", [])]
        shas.update(frames)
        rows.append({"code": code, "item": BY_CODE.get(code), "mark": mark, "frames": frames})
    frame_rows = frames_by_sha(db, shas)
    # The thumbnails are footage: D4 decides whether this reader sees them or a placeholder.
    may_see_frames = footage_access(
        db, user, review.branch_id, review.channel_id, review.window_start, review.window_end
    ).allowed
    findings = review_findings(db, review.id)
    entry = db.get(RegisterEntryRow, review.register_seq)
    return render(
        request,
        "review_record.html",
        {
            "review": review,
            "branch": branch,
            "channel": channel,
            "device": channel.device,
            "tz": branch.timezone or DEFAULT_TIMEZONE,
            "rows": rows,
            "frame_rows": frame_rows,
            "may_see_frames": may_see_frames,
            "findings": findings,
            "entry": entry,
            "people": user_names(db, [review.reviewer_id, *(f.owner_id for f in findings)]),
            "counts": {
                v: sum(1 for r in rows if r["mark"].get("verdict") == v)
                for v in ("pass", "fail", "not_visible")
            },
            "done": query_flag(request, "done"),
        },
    )
