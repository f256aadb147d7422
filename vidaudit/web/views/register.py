"""What the register page reads: the entries in the reader's scope, filtered and paged
(queries only; the register itself is ``vidaudit.review.register``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vidaudit.dates import parse_date
from vidaudit.db.models import RegisterEntryRow, ReviewRow, UserRow
from vidaudit.review.items import Verdict
from vidaudit.web.deps import branch_scope
from vidaudit.web.i18n import DEFAULT_TIMEZONE, Translator, zone
from vidaudit.web.views.review_common import branch_zones

VERDICTS = frozenset(v.value for v in Verdict)
PAGE_SIZE = 50
#: entries in one export (a year of a county's reviews is well under this)
EXPORT_LIMIT = 20_000
#: actions with their own label; others (written by later modules) show as they are
KNOWN_ACTIONS = (
    "frame_pull",
    "footage_view",
    "playback",
    "review",
    "review_reopen",
    "approval_request",
    "approval",
    "finding",
    "ticket_acknowledge",
    "ticket_assign",
    "ticket_comment",
    "ticket_evidence",
    "ticket_close",
    "clip_pull",
    "patrol_round",
)


@dataclass(frozen=True)
class Filters:
    branch: str = ""
    channel: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    #: who made the entry (a user name)
    actor: str = ""

    def query(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "channel": self.channel,
            "action": self.action,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "actor": self.actor,
        }


def entries_query(db: Session, user: UserRow, filters: Filters) -> Select[RegisterEntryRow]:
    query = select(RegisterEntryRow)
    scope = branch_scope(user)
    if scope is not None:
        # A branch's people see their branch's entries, not who looked at other branches.
        query = query.where(RegisterEntryRow.branch_id.in_(scope))
    if filters.branch:
        query = query.where(RegisterEntryRow.branch_id == filters.branch)
    if filters.channel:
        query = query.where(RegisterEntryRow.channel_id == filters.channel)
    if filters.action:
        query = query.where(RegisterEntryRow.action == filters.action)
    if filters.actor:
        query = query.where(RegisterEntryRow.actor == filters.actor)
    # Dates are calendar days where the reader is: the chosen branch's zone, else Beijing.
    zones = branch_zones(db)
    tz = zone(zones.get(filters.branch, DEFAULT_TIMEZONE))
    first, last = parse_date(filters.date_from), parse_date(filters.date_to)
    if first is not None:
        query = query.where(RegisterEntryRow.at >= dt.datetime.combine(first, dt.time(), tz))
    if last is not None:
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
        query = query.where(RegisterEntryRow.at < end)
    return query


def parse_filters(
    branch: str, channel: str, action: str, date_from: str, date_to: str, actor: str = ""
) -> Filters:
    return Filters(
        branch=branch.strip()[:64],
        channel=channel.strip()[:64],
        action=action.strip()[:32],
        date_from=date_from.strip()[:10],
        date_to=date_to.strip()[:10],
        actor=actor.strip()[:64],
    )


@dataclass(frozen=True)
class RegisterPage:
    entries: list[RegisterEntryRow]
    page: int
    pages: int
    total: int
    #: every action in the reader's scope, and the known ones
    actions: list[str]
    #: each entry said in the reader's words, by seq
    said: dict[int, Said]
    #: everyone with an entry in the reader's scope (for the person filter)
    actors: list[str]


def register_page_data(
    db: Session, user: UserRow, filters: Filters, page: int, t: Translator
) -> RegisterPage:
    query = entries_query(db, user, filters)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(1, min(page, pages or 1))
    entries = list(
        db.scalars(
            query.order_by(RegisterEntryRow.seq.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    scope_query = select(RegisterEntryRow.action).distinct()
    scope = branch_scope(user)
    if scope is not None:
        scope_query = scope_query.where(RegisterEntryRow.branch_id.in_(scope))
    actions = sorted(set(db.scalars(scope_query)) | set(KNOWN_ACTIONS))
    actor_query = select(RegisterEntryRow.actor).distinct()
    if scope is not None:
        actor_query = actor_query.where(RegisterEntryRow.branch_id.in_(scope))
    actors = sorted(db.scalars(actor_query))
    said = say_entries(db, entries, t)
    return RegisterPage(entries, page, pages, total, actions, said, actors)


def export_entries(db: Session, user: UserRow, filters: Filters) -> list[RegisterEntryRow]:
    """The filtered entries, oldest first (the order of the register itself)."""
    query = entries_query(db, user, filters).order_by(RegisterEntryRow.seq).limit(EXPORT_LIMIT)
    return list(db.scalars(query))


# --- each entry in the reader's words ---------------------------------------------------


@dataclass(frozen=True)
class Said:
    #: why the entry was made, from its code and values (``details``)
    why: str
    #: the page of the record it belongs to (task, review, finding, approvals), if any
    link: str | None


def say_entries(db: Session, entries: list[RegisterEntryRow], t: Translator) -> dict[int, Said]:
    found = db.execute(
        select(ReviewRow.register_seq, ReviewRow.id).where(
            ReviewRow.register_seq.in_([e.seq for e in entries])
        )
    )
    reviews = {seq: review_id for seq, review_id in found}
    return {e.seq: say_entry(e, reviews.get(e.seq), t) for e in entries}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def say_entry(entry: RegisterEntryRow, review_id: int | None, t: Translator) -> Said:
    """What an entry is about, in the reader's language.  Entries carry their purpose as
    a code with values (``{"purpose": "task", "task_kind": "random", "approval_id": 3}``);
    the person's own words stay in ``reason``.  Entries written before purposes were
    codes have none: their reason says it all then."""
    details = entry.details or {}
    task = _int(details.get("task_id"))
    task_link = f"/spot-checks/{task}" if task is not None else None
    purpose = details.get("purpose")
    parts: list[str] = []
    link = task_link
    if entry.action == "frame_pull" and purpose == "task" and task is not None:
        kind = details.get("task_kind")
        parts.append(
            t(
                "register.why.task_targeted" if kind == "targeted" else "register.why.task_random",
                task=task,
            )
        )
        if (approval := _int(details.get("approval_id"))) is not None:
            parts.append(t("register.why.approved", id=approval))
        if details.get("outside_window"):
            parts.append(t("register.why.outside_window"))
    elif entry.action == "frame_pull" and purpose == "retention":
        parts.append(t("register.why.retention", days=details.get("required_days", "?")))
    elif entry.action == "footage_view":
        if (seen_review := _int(details.get("review_id"))) is not None:
            link = f"/reviews/{seen_review}"
        parts.append(
            t("register.why.view_task", task=task, frames=details.get("frames", "?"))
            if task is not None
            else t("register.why.view")
        )
    elif entry.action == "review" and purpose == "review":
        counts = details.get("verdicts") or {}
        verdicts = t("dashboard.list_sep").join(
            f"{t(f'review.verdict_{v}')} {n}" for v, n in sorted(counts.items()) if v in VERDICTS
        )
        parts.append(t("register.why.review", verdicts=verdicts))
        if task is not None:
            parts.append(t("register.why.of_task", task=task))
        link = f"/reviews/{review_id}" if review_id is not None else task_link
    elif entry.action == "review_reopen" and task is not None:
        parts.append(t("register.why.reopen", task=task))
    elif entry.action == "finding" and (finding := _int(details.get("finding_id"))) is not None:
        change, to = str(details.get("change", "")), str(details.get("to", ""))
        parts.append(
            t(
                "register.why.finding",
                id=finding,
                change=t(f"findings.action_{change}")
                if t.has(f"findings.action_{change}")
                else change,
                status=t(f"findings.status_{to}") if t.has(f"findings.status_{to}") else to,
            )
        )
        link = f"/findings/{finding}"
    elif (
        entry.action in ("approval_request", "approval")
        and (approval := _int(details.get("approval_id"))) is not None
    ):
        decision = str(details.get("decision", ""))
        parts.append(
            t("register.why.approval_request", id=approval)
            if entry.action == "approval_request"
            else t(
                "register.why.approval",
                id=approval,
                decision=t(f"approval.status_{decision}")
                if t.has(f"approval.status_{decision}")
                else decision,
            )
        )
        link = "/approvals"
    return Said(t("dashboard.list_sep").join(parts), link)


def person_role(role: str, t: Translator) -> str:
    """A person's role (or ``system`` for the collector's own pulls) in words."""
    return t(f"role.{role}") if t.has(f"role.{role}") else role
