"""The weekly branch report: one set of numbers that the HTML page and the PDF both print.

The week is Monday–Sunday in the branch's zone.  Everything is judged "as of" the end of
the week, or now for the current week: the compliance summary is the last collection run
inside the week, tickets are those open at that moment, findings overdue at that moment.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.db.models import (
    BranchResultRow,
    BranchRow,
    ChannelObservationRow,
    ChannelRow,
    DeviceObservationRow,
    DeviceRow,
    FaultTicketRow,
    FindingEventRow,
    FindingRow,
    ReviewRow,
    UserRow,
)
from vidaudit.inventory.schema import Inventory, Policy
from vidaudit.review.checkpoints import Coverage, coverage
from vidaudit.web.i18n import zone
from vidaudit.web.views.duties_data import DutyLine, duties_for_weeks, week_bounds

#: a finding's statuses (vidaudit.review.findings), each with a message
FINDING_STATUSES = ("open", "fixed", "closed", "reopened")
#: violations listed by name in the report (the summary counts them all)
MAX_LISTED = 40


@dataclass(frozen=True)
class ComplianceSummary:
    run_at: dt.datetime
    devices: int
    devices_down: int
    channels: int
    channels_compliant: int
    retention_short: int
    hours_gaps: int
    clock_drift: int
    pictures_abnormal: int
    violations: int
    #: (subject id, subject name, rule, detail), most severe first
    listed: list[tuple[str, str, str, str]]


@dataclass(frozen=True)
class ReviewLine:
    at: dt.datetime
    reviewer: str
    role: str
    channel: str
    summary: str


@dataclass(frozen=True)
class FindingLine:
    id: int
    channel: str
    item_code: str
    note: str
    deadline: dt.date
    status: str
    owner: str


@dataclass
class WeeklyReport:
    branch: BranchRow
    monday: dt.date
    as_of: dt.datetime
    duties: DutyLine
    compliance: ComplianceSummary | None = None
    reviews: list[ReviewLine] = field(default_factory=list)
    findings_opened: list[FindingLine] = field(default_factory=list)
    findings_closed: list[FindingLine] = field(default_factory=list)
    findings_overdue: list[FindingLine] = field(default_factory=list)
    tickets: list[FaultTicketRow] = field(default_factory=list)
    #: the newest register checkpoint and the entries after it: printed, so the paper
    #: copy shows how far the register reached whatever happens to the database later
    register: Coverage = field(default_factory=lambda: Coverage(None, 0))

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def tz(self) -> str:
        return self.branch.timezone


_SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2}


def _compliance(
    db: Session, branch_id: str, start: dt.datetime, end: dt.datetime, names: dict[str, str]
) -> ComplianceSummary | None:
    result = db.scalars(
        select(BranchResultRow)
        .where(
            BranchResultRow.branch_id == branch_id,
            BranchResultRow.observed_at >= start,
            BranchResultRow.observed_at < end,
        )
        .order_by(BranchResultRow.observed_at.desc())
        .limit(1)
    ).first()
    if result is None:
        return None
    devices = list(
        db.scalars(
            select(DeviceObservationRow).where(
                DeviceObservationRow.run_id == result.run_id,
                DeviceObservationRow.branch_id == branch_id,
            )
        )
    )
    channels = list(
        db.scalars(
            select(ChannelObservationRow).where(
                ChannelObservationRow.run_id == result.run_id,
                ChannelObservationRow.branch_id == branch_id,
            )
        )
    )
    channel_rules: Counter[str] = Counter()
    listed: list[tuple[int, str, str, str, str]] = []
    for channel in channels:
        for rule in {str(v.get("rule")) for v in channel.violations}:
            channel_rules[rule] += 1
        for v in channel.violations:
            if v.get("rule") == "R6.offline":
                continue  # the device's line says it once
            rank = _SEVERITY_ORDER.get(str(v.get("severity")), 3)
            cid = channel.channel_id
            listed.append((rank, cid, names.get(cid, ""), str(v["rule"]), str(v.get("detail"))))
    drift = 0
    for device in devices:
        for v in device.violations:
            drift += v.get("rule") == "R3.clock"
            rank = _SEVERITY_ORDER.get(str(v.get("severity")), 3)
            did = device.device_id
            listed.append((rank, did, names.get(did, ""), str(v["rule"]), str(v.get("detail"))))
    listed.sort(key=lambda item: (item[0], item[1], item[3]))
    return ComplianceSummary(
        run_at=result.observed_at,
        devices=len(devices),
        devices_down=result.devices_down,
        channels=result.channels,
        channels_compliant=result.channels_compliant,
        retention_short=channel_rules["R1.retention"],
        hours_gaps=channel_rules["R2.business_hours"],
        clock_drift=drift,
        pictures_abnormal=channel_rules["R4.picture"],
        violations=result.violations,
        listed=[item[1:] for item in listed[:MAX_LISTED]],
    )


def _finding_line(
    finding: FindingRow, status: str, names: dict[str, str], people: dict[int, str]
) -> FindingLine:
    return FindingLine(
        id=finding.id,
        channel=names.get(finding.channel_id, finding.channel_id),
        item_code=finding.item_code,
        note=finding.note,
        deadline=finding.deadline,
        status=status,
        owner=people.get(finding.owner_id, "") if finding.owner_id is not None else "",
    )


def weekly_report(
    db: Session,
    branch: BranchRow,
    monday: dt.date,
    policy: Policy,
    now: dt.datetime,
    inventory: Inventory | None,
) -> WeeklyReport:
    tz = zone(branch.timezone)
    start, end = week_bounds(monday, tz)
    as_of = min(now, end)
    [duties] = duties_for_weeks(db, branch, policy, [monday], now, inventory)
    report = WeeklyReport(branch, monday, as_of, DutyLine(branch, duties))
    names = dict(
        db.execute(
            select(ChannelRow.id, ChannelRow.name)
            .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
            .where(DeviceRow.branch_id == branch.id)
        ).all()
    )
    names.update(
        (d, n)
        for d, n in db.execute(
            select(DeviceRow.id, DeviceRow.name).where(DeviceRow.branch_id == branch.id)
        )
        if n  # an unnamed device is shown by its id alone
    )
    people = dict(db.execute(select(UserRow.id, UserRow.display_name)).all())
    report.compliance = _compliance(db, branch.id, start, as_of, names)
    report.register = coverage(db)

    for review in db.scalars(
        select(ReviewRow)
        .where(
            ReviewRow.branch_id == branch.id,
            ReviewRow.submitted_at >= start,
            ReviewRow.submitted_at < end,
        )
        .order_by(ReviewRow.submitted_at)
    ):
        report.reviews.append(
            ReviewLine(
                review.submitted_at,
                people.get(review.reviewer_id, ""),
                review.reviewer_role,
                names.get(review.channel_id, review.channel_id),
                review.summary,
            )
        )

    findings = {
        f.id: f
        for f in db.scalars(
            select(FindingRow)
            .where(FindingRow.branch_id == branch.id, FindingRow.created_at < end)
            .order_by(FindingRow.id)
        )
    }
    # Each finding's status as of the report's moment, from its kept history.
    status: dict[int, str] = {}
    closed_in_week: set[int] = set()
    if findings:
        for event in db.scalars(
            select(FindingEventRow)
            .where(FindingEventRow.finding_id.in_(list(findings)), FindingEventRow.at < as_of)
            .order_by(FindingEventRow.at, FindingEventRow.id)
        ):
            status[event.finding_id] = event.to_status
            if event.to_status == "closed" and event.at >= start:
                closed_in_week.add(event.finding_id)
    as_of_day = as_of.astimezone(tz).date()
    for finding in findings.values():
        now_status = status.get(finding.id, "open")
        line = _finding_line(finding, now_status, names, people)
        if finding.created_at >= start:
            report.findings_opened.append(line)
        if finding.id in closed_in_week and now_status == "closed":
            report.findings_closed.append(line)
        if now_status in ("open", "reopened") and finding.deadline < as_of_day:
            report.findings_overdue.append(line)

    report.tickets = list(
        db.scalars(
            select(FaultTicketRow)
            .where(
                FaultTicketRow.branch_id == branch.id,
                FaultTicketRow.opened_at < as_of,
                (FaultTicketRow.closed_at.is_(None)) | (FaultTicketRow.closed_at >= as_of),
            )
            .order_by(FaultTicketRow.severity, FaultTicketRow.opened_at)
        )
    )
    return report
