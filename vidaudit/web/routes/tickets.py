"""Fault tickets (R7) handled by people: the list with its filters and exports, one
ticket's page with its history and its actions.

Every action form carries the version it was rendered with; ``review.tickets`` refuses a
change made against an older one, and the page then shows the ticket as it now stands,
with the message and what the person typed, instead of overwriting what someone (or the
check) changed meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import Permission
from vidaudit.db.models import FaultTicketRow, UserRow
from vidaudit.review.tickets import (
    Action,
    StaleTicket,
    TicketChange,
    TicketError,
    apply_change,
    is_overdue,
    may,
)
from vidaudit.web.deps import DbId, FormText, SessionDep, check_branch, require_permission
from vidaudit.web.export import Cell, download, to_csv, to_xlsx
from vidaudit.web.i18n import DEFAULT_TIMEZONE, fmt_dt, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.review_common import (
    branch_zones,
    branches_in_scope,
    evidence_store,
    not_found,
    query_flag,
    row_id,
    user_names,
    with_query,
)
from vidaudit.web.views.tickets import (
    AGES,
    PAGE_LIMIT,
    STATES,
    Filters,
    assignees_in_scope,
    detail_of,
    parse_filters,
    rules_in_scope,
    subjects,
    tickets_in_scope,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["tickets"])

ViewUser = Annotated[UserRow, require_permission(Permission.VIEW_TICKETS)]
ReportUser = Annotated[UserRow, require_permission(Permission.VIEW_REPORTS)]
#: acknowledging, commenting, closing; assigning needs assign_tickets too (review.tickets)
HandleUser = Annotated[UserRow, require_permission(Permission.HANDLE_TICKETS)]
#: due times people type: a year outside these is a slip of the keyboard, and year 1 in a
#: zone east of UTC does not even convert to UTC
DUE_YEARS = range(2000, 2200)
#: a photo of the fault or the fix, not a video
MAX_UPLOAD_BYTES = 10 << 20
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def _filters(branch: str, rule: str, state: str, age: str, assignee: str, overdue: str) -> Filters:
    return parse_filters(branch[:64], rule[:32], state[:16], age[:4], assignee[:12], overdue[:4])


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(
    request: Request,
    db: SessionDep,
    user: ViewUser,
    branch: str = "",
    rule: str = "",
    state: str = "active",
    age: str = "",
    assignee: str = "",
    overdue: str = "",
) -> HTMLResponse:
    now = web_state(request).clock()
    filters = _filters(branch, rule, state, age, assignee, overdue)
    rows = tickets_in_scope(db, user, filters, now)
    return render(
        request,
        "ticket_list.html",
        {
            "tickets": rows,
            "filters": filters,
            "states": STATES,
            "ages": AGES,
            "rules": rules_in_scope(db, user),
            "assignees": assignees_in_scope(db, user),
            "branches": branches_in_scope(db, user),
            "subjects": subjects(db, rows),
            "people": user_names(db, [t.assignee_id for t in rows]),
            "overdue": {t.id for t in rows if is_overdue(t, now)},
            "zones": branch_zones(db),
            "limit": PAGE_LIMIT,
            "csv_url": with_query("/tickets.csv", filters.query()),
            "xlsx_url": with_query("/tickets.xlsx", filters.query()),
        },
    )


# --- exports ----------------------------------------------------------------------------

_COLUMNS = (
    "tickets.col_id",
    "tickets.col_branch",
    "tickets.col_subject",
    "tickets.col_rule",
    "tickets.col_detail",
    "tickets.col_state",
    "tickets.col_assignee",
    "tickets.col_due",
    "tickets.col_overdue",
    "tickets.col_opened",
    "tickets.col_last_seen",
    "tickets.col_closed",
    "tickets.col_close_reason",
)
OVERDUE_COLUMN = _COLUMNS.index("tickets.col_overdue")


def _export_rows(
    request: Request, db: Session, user: UserRow, filters: Filters
) -> tuple[list[str], list[list[Cell]]]:
    state = web_state(request)
    now = state.clock()
    t = state.catalogue.translator(getattr(request.state, "lang", "zh"))
    rows = tickets_in_scope(db, user, filters, now)
    zones = branch_zones(db)
    names = subjects(db, rows)
    people = user_names(db, [r.assignee_id for r in rows])
    out: list[list[Cell]] = []
    for ticket in rows:
        tz = zones.get(ticket.branch_id, DEFAULT_TIMEZONE)
        assignee = people.get(ticket.assignee_id) if ticket.assignee_id else None
        out.append(
            [
                ticket.id,
                ticket.branch_id,
                f"{ticket.subject_id} {names.get(ticket.subject_id, '')}".strip(),
                ticket.rule,
                ticket.detail,
                t(f"tickets.state_{ticket.state}"),
                assignee.display_name if assignee else "",
                fmt_dt(ticket.due_at, tz),
                t("tickets.yes") if is_overdue(ticket, now) else "",
                fmt_dt(ticket.opened_at, tz),
                fmt_dt(ticket.last_seen_at, tz),
                fmt_dt(ticket.closed_at, tz),
                ticket.close_reason or "",
            ]
        )
    return [t(key) for key in _COLUMNS], out


@router.get("/tickets.csv")
def tickets_csv(
    request: Request,
    db: SessionDep,
    user: ReportUser,
    branch: str = "",
    rule: str = "",
    state: str = "active",
    age: str = "",
    assignee: str = "",
    overdue: str = "",
) -> Response:
    filters = _filters(branch, rule, state, age, assignee, overdue)
    header, rows = _export_rows(request, db, user, filters)
    stamp = web_state(request).clock().strftime("%Y%m%d")
    return download(to_csv(header, rows), f"tickets-{stamp}.csv")


@router.get("/tickets.xlsx")
def tickets_xlsx(
    request: Request,
    db: SessionDep,
    user: ReportUser,
    branch: str = "",
    rule: str = "",
    state: str = "active",
    age: str = "",
    assignee: str = "",
    overdue: str = "",
) -> Response:
    filters = _filters(branch, rule, state, age, assignee, overdue)
    header, rows = _export_rows(request, db, user, filters)
    stamp = web_state(request).clock().strftime("%Y%m%d")
    data = to_xlsx(header, rows, "tickets", highlight=lambda row: bool(row[OVERDUE_COLUMN]))
    return download(data, f"tickets-{stamp}.xlsx")


# --- one ticket -------------------------------------------------------------------------


@dataclass
class ActionForm:
    """What was typed into an action form, shown again after a refusal."""

    action: str = ""
    note: str = ""
    assignee_id: str = ""
    due: str = ""


def _load(db: Session, user: UserRow, ticket_id: int) -> FaultTicketRow:
    ticket = db.get(FaultTicketRow, ticket_id)
    if ticket is None:
        raise not_found()
    check_branch(user, ticket.branch_id)
    return ticket


def _page(
    request: Request,
    db: Session,
    user: UserRow,
    ticket: FaultTicketRow,
    *,
    error: str = "",
    form: ActionForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = web_state(request).clock()
    d = detail_of(db, ticket)
    tz = (d.branch.timezone if d.branch else None) or DEFAULT_TIMEZONE
    return render(
        request,
        "ticket_detail.html",
        {
            "ticket": ticket,
            "branch": d.branch,
            "subject_name": d.subject_name,
            "tz": tz,
            "events": d.events,
            "people": user_names(
                db,
                [
                    ticket.assignee_id,
                    ticket.acknowledged_by,
                    ticket.closed_by,
                    *(e.actor_id for e in d.events),
                    *(e.assignee_id for e in d.events),
                ],
            ),
            "overdue": is_overdue(ticket, now),
            "actions": {a.value: may(user, ticket, a) for a in Action},
            "candidates": d.candidates,
            "error": error,
            "form": form or ActionForm(),
            "done": query_flag(request, "done"),
        },
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, db: SessionDep, user: ViewUser, ticket_id: DbId) -> HTMLResponse:
    return _page(request, db, user, _load(db, user, ticket_id))


def _image_type(data: bytes) -> str | None:
    return next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), None)


def _due_at(text: str, tz: str) -> dt.datetime | None:
    """``datetime-local`` input: a wall-clock time in the branch's zone."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is not None or value.year not in DUE_YEARS:
        return None
    return value.replace(tzinfo=zone(tz))


@router.post("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_action(
    request: Request,
    db: SessionDep,
    user: HandleUser,
    ticket_id: DbId,
    action: Annotated[str, Form(max_length=16)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    note: FormText = "",
    assignee_id: Annotated[str, Form(max_length=12)] = "",
    due: Annotated[str, Form(max_length=32)] = "",
    evidence: Annotated[UploadFile | None, File()] = None,
) -> Response:
    ticket = _load(db, user, ticket_id)
    # not cut to length here: a note over review.tickets.MAX_NOTE is refused with the text
    # kept in the form, never shortened without a word
    form = ActionForm(action=action, note=note.strip(), assignee_id=assignee_id, due=due)

    def refused(code: str, status: int = 400) -> HTMLResponse:
        db.rollback()
        current = _load(db, user, ticket_id)
        return _page(
            request,
            db,
            user,
            current,
            error=f"tickets.error_{code}",
            form=form,
            status_code=status,
        )

    try:
        chosen = Action(action)
    except ValueError:
        return refused("action")
    expected = row_id(version)
    if expected is None:
        return refused("action")
    tz = ticket_zone(db, ticket)
    due_at = _due_at(due, tz) if chosen is Action.ASSIGN and due.strip() else None
    person = row_id(assignee_id)
    state = web_state(request)
    now = state.clock()
    evidence_sha: str | None = None
    data = evidence.file.read(MAX_UPLOAD_BYTES + 1) if evidence is not None else b""
    if data:
        media_type = _image_type(data)
        if chosen is not Action.EVIDENCE or media_type is None or len(data) > MAX_UPLOAD_BYTES:
            return refused("upload")
        evidence_sha = (
            evidence_store(state)
            .put(
                db,
                data,
                media_type,
                {"kind": "ticket", "ticket": ticket.id, "by": user.username},
                now,
            )
            .sha256
        )
    try:
        apply_change(
            db,
            ticket.id,
            user,
            TicketChange(
                action=chosen,
                expected_version=expected,
                note=form.note,
                evidence_sha256=evidence_sha,
                assignee_id=person,
                due_at=due_at,
            ),
            now,
        )
    except StaleTicket:
        log.info("stale change of ticket %s by %s refused", ticket_id, user.username)
        return refused("stale", 409)
    except TicketError as exc:
        return refused(exc.code, 403 if exc.code in ("role", "branch") else 400)
    db.commit()
    return RedirectResponse(f"/tickets/{ticket_id}?done={chosen.value}", status_code=303)


def ticket_zone(db: Session, ticket: FaultTicketRow) -> str:
    return branch_zones(db).get(ticket.branch_id, DEFAULT_TIMEZONE)
