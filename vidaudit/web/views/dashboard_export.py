"""The dashboard as a table for CSV and XLSX (``web.export``): the same rows, filter and
order as the page, headers and words in the reader's language, times in each branch's
zone."""

from __future__ import annotations

from collections.abc import Sequence

from vidaudit.review.duties import WeekDuties
from vidaudit.web.export import Cell
from vidaudit.web.i18n import Translator, fmt_dt
from vidaudit.web.views.dashboard_data import BranchSummary
from vidaudit.web.violations import error_kind_text

COLUMNS = (
    "dashboard.col.branch_id",
    "dashboard.col.branch_name",
    "dashboard.col.run_at",
    "dashboard.col.channels_compliant",
    "dashboard.col.channels_total",
    "dashboard.col.worst_channel",
    "dashboard.col.worst_held",
    "dashboard.col.worst_required",
    "dashboard.col.worst_verified",
    "dashboard.col.retention_short",
    "dashboard.col.retention_unknown",
    "dashboard.col.max_drift",
    "dashboard.col.devices_down",
    "dashboard.col.down_kinds",
    "dashboard.col.hours_channels",
    "dashboard.col.hours_days",
    "dashboard.col.open_tickets",
    "dashboard.col.overdue",
    "dashboard.col.duty_d1",
    "dashboard.col.duty_d2",
    "dashboard.col.duty_d3",
    "dashboard.col.duty_status",
    "dashboard.col.last_compliant",
)


def duty_state(duties: WeekDuties | None) -> str:
    """missed | due | done | unknown: the key suffix of the duty status words."""
    if duties is None:
        return "unknown"
    if duties.missed:
        return "missed"
    if duties.due:
        return "due"
    return "done"


def d1_text(duties: WeekDuties) -> str:
    done = len(duties.check_days) - len(duties.missing_checks)
    return f"{done}/{len(duties.check_days)}"


def table(rows: Sequence[BranchSummary], t: Translator) -> tuple[list[str], list[list[Cell]]]:
    headers = [t(key) for key in COLUMNS]
    body: list[list[Cell]] = []
    for r in rows:
        d = r.duties
        kinds = "; ".join(f"{error_kind_text(k, t)} ×{n}" for k, n in sorted(r.down_kinds.items()))
        body.append(
            [
                r.branch_id,
                r.name,
                fmt_dt(r.run.observed_at, r.timezone) if r.run else "",
                r.channels_compliant if r.run else None,
                r.channels if r.run else None,
                r.worst_channel or "",
                r.worst_held,
                r.worst_required,
                (t("dashboard.yes") if r.worst_verified else t("dashboard.no"))
                if r.worst_held is not None
                else "",
                r.retention_short if r.run else None,
                r.retention_unknown if r.run else None,
                None if r.max_drift_s is None else round(r.max_drift_s, 1),
                r.devices_down if r.run else None,
                kinds,
                r.hours_channels if r.run else None,
                r.hours_days if r.run else None,
                r.open_tickets,
                r.overdue,
                d1_text(d) if d else "",
                f"{d.admin_reviews}/{d.admin_required}" if d else "",
                f"{d.head_reviews}/{d.head_required}" if d else "",
                t(f"dashboard.duty.{duty_state(d)}"),
                fmt_dt(r.last_compliant, r.timezone) if r.last_compliant else "",
            ]
        )
    return headers, body
