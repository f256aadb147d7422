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
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
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
from vidaudit.web.export import Cell, dated_export
from vidaudit.web.i18n import DEFAULT_TIMEZONE, fmt_dt, zone
from vidaudit.web.state import web_state
from vidaudit.web.templating import render
from vidaudit.web.views.casework import (
    PhotoRefused,
    case_page,
    export_links,
    store_photo,
)
from vidaudit.web.views.review_common import (
    branch_zones,
    branches_in_scope,
    not_found,
    row_id,
    user_names,
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


def _filters(
    branch: str = "",
    rule: str = "",
    state: str = "active",
    age: str = "",
    assignee: str = "",
    overdue: str = "",
) -> Filters:
    return parse_filters(branch[:64], rule[:32], state[:16], age[:4], assignee[:12], overdue[:4])


#: the list's query string, the same for the page and both exports
TicketFilters = Annotated[Filters, Depends(_filters)]


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(
    request: Request, db: SessionDep, user: ViewUser, filters: TicketFilters
) -> HTMLResponse:
    now = web_state(request).clock()
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
            **export_links("/tickets", filters.query()),
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


def _export(
    kind: Literal["csv", "xlsx"], request: Request, db: Session, user: UserRow, filters: Filters
) -> Response:
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
    header = [t(key) for key in _COLUMNS]
    return dated_export(
        kind, "tickets", header, out, now, highlight=lambda row: bool(row[OVERDUE_COLUMN])
    )


@router.get("/tickets.csv")
def tickets_csv(
    request: Request, db: SessionDep, user: ReportUser, filters: TicketFilters
) -> Response:
    return _export("csv", request, db, user, filters)


@router.get("/tickets.xlsx")
def tickets_xlsx(
    request: Request, db: SessionDep, user: ReportUser, filters: TicketFilters
) -> Response:
    return _export("xlsx", request, db, user, filters)


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
    return render(
        request,
        "ticket_detail.html",
        {
            **case_page(request, d, error=error, form=form or ActionForm()),
            "ticket": ticket,
            "subject_name": d.subject_name,
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
        },
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, db: SessionDep, user: ViewUser, ticket_id: DbId) -> HTMLResponse:
    return _page(request, db, user, _load(db, user, ticket_id))


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
    try:
        evidence_sha = store_photo(
            state,
            db,
            evidence,
            allowed=chosen is Action.EVIDENCE,
            details={"kind": "ticket", "ticket": ticket.id, "by": user.username},
            now=now,
        )
    except PhotoRefused:
        return refused("upload")
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
