"""Persist a run: observations, per-branch verdicts, and fault tickets (R7).

Observations are inserted in bulk (one executemany per table) because a county's fleet is
thousands of channels per run, every few minutes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import TICKET_NOTIFIED, TICKET_OWNER
from vidaudit.collector.identity import record_identities
from vidaudit.collector.model import ChannelReport, RunReport
from vidaudit.compliance.model import BusinessDay, Violation
from vidaudit.db.models import (
    BranchResultRow,
    ChannelObservationRow,
    CollectionRunRow,
    DeviceObservationRow,
    FaultTicketRow,
)
from vidaudit.inventory.schema import Policy

#: Art. 47: faults are reported to the branch head and the security department; the
#: surveillance administrator is the one who fixes them.
OWNER_ROLE = TICKET_OWNER
NOTIFY_ROLES = list(TICKET_NOTIFIED)


def violation_json(violation: Violation) -> dict[str, Any]:
    return {
        "rule": violation.rule,
        "severity": violation.severity.value,
        "detail": violation.detail,
        "evidence": violation.evidence,
    }


def start_run(session: Session, now: dt.datetime, policy: Policy) -> int:
    run = CollectionRunRow(
        started_at=now, finished_at=None, status="running", policy=policy.model_dump(mode="json")
    )
    session.add(run)
    session.flush()
    return run.id


def _missed_day_json(day: BusinessDay) -> dict[str, Any]:
    missing = sum(g.duration.total_seconds() for g in day.gaps) / 60
    return {"date": day.date.isoformat(), "covered": False, "missing_min": round(missing, 1)}


def _channel_row(run_id: int, at: dt.datetime, report: ChannelReport) -> dict[str, Any]:
    result, evidence = report.result, report.evidence
    return {
        "run_id": run_id,
        "channel_id": report.channel_id,
        "device_id": report.device_id,
        "branch_id": report.branch_id,
        "observed_at": at,
        "recording_state": evidence.recording_state.value,
        "earliest": evidence.earliest,
        "latest": evidence.latest,
        "retention_days": result.retention_days,
        "required_days": result.required_days,
        "verified": result.verified,
        "occupancy": result.occupancy,
        "gaps": (
            None
            if result.gaps is None
            else [[g.start.isoformat(), g.end.isoformat()] for g in result.gaps]
        ),
        # Only the days recording missed: covered days (nearly all of ~36 per channel) are
        # implied, and at one run every 5 minutes storing each would add ~1.5 KB per
        # channel per run for nothing a reader uses.
        "business_days": [_missed_day_json(d) for d in result.business_days if not d.covered],
        "business_hours_covered": result.business_hours_covered,
        "audio": result.audio,
        "compliant": result.compliant,
        "violations": [violation_json(v) for v in result.violations],
    }


@dataclass(frozen=True)
class TicketChanges:
    opened: int
    updated: int
    closed: int


def finish_run(session: Session, run_id: int, report: RunReport) -> TicketChanges:
    at = report.finished_at
    if report.devices:
        session.execute(
            insert(DeviceObservationRow),
            [
                {
                    "run_id": run_id,
                    "device_id": d.device_id,
                    "branch_id": d.branch_id,
                    "observed_at": at,
                    "online": d.status.online,
                    "error_kind": d.status.error_kind.value if d.status.error_kind else None,
                    "error_message": d.status.error_message,
                    "clock_drift_s": d.status.clock_drift_s,
                    "manufacturer": d.manufacturer,
                    "model": d.model,
                    "firmware": d.firmware,
                    "services": d.services,
                    "violations": [violation_json(v) for v in d.violations],
                    "serial": d.serial,
                    "storage": None
                    if d.storage is None
                    else [
                        {
                            "id": disk.id,
                            "status": disk.status,
                            "state": disk.state,
                            "capacity_bytes": disk.capacity_bytes,
                            "free_bytes": disk.free_bytes,
                        }
                        for disk in d.storage
                    ],
                }
                for d in report.devices
            ],
        )
    if report.channels:
        session.execute(
            insert(ChannelObservationRow),
            [_channel_row(run_id, at, c) for c in report.channels],
        )
    _branch_results(session, run_id, report)
    record_identities(
        session, ((d.device_id, d.identity) for d in report.devices if d.identity), at
    )
    changes = _update_tickets(session, run_id, report)
    run = session.get(CollectionRunRow, run_id)
    assert run is not None
    run.finished_at = at
    run.status = "completed"
    run.devices = len(report.devices)
    run.devices_down = report.devices_down
    run.channels = len(report.channels)
    run.channels_compliant = sum(c.result.compliant for c in report.channels)
    run.violations = report.violations
    return changes


def _branch_results(session: Session, run_id: int, report: RunReport) -> None:
    tally: dict[str, dict[str, int]] = defaultdict(
        lambda: {"devices_down": 0, "channels": 0, "channels_compliant": 0, "violations": 0}
    )
    for device in report.devices:
        t = tally[device.branch_id]
        t["devices_down"] += not device.status.online
        t["violations"] += len(device.violations)
    for channel in report.channels:
        t = tally[channel.branch_id]
        t["channels"] += 1
        t["channels_compliant"] += channel.result.compliant
        t["violations"] += len(channel.result.violations)
    if tally:
        session.execute(
            insert(BranchResultRow),
            [
                {
                    "run_id": run_id,
                    "branch_id": branch_id,
                    "observed_at": report.finished_at,
                    "compliant": t["violations"] == 0,
                    **t,
                }
                for branch_id, t in tally.items()
            ],
        )


TicketKey = tuple[str, str, str]  # (subject_kind, subject_id, rule)


def _update_tickets(session: Session, run_id: int, report: RunReport) -> TicketChanges:
    now = report.finished_at
    failing: dict[TicketKey, tuple[str, Violation]] = {}
    # A subject's rule is "checked" when this run could have seen it fail; only a checked
    # rule that passed closes a ticket (an offline device proves nothing about retention).
    checked_devices_all: set[str] = set()
    checked_devices_online: set[str] = set()
    checked_channels: set[str] = set()
    for device in report.devices:
        checked_devices_all.add(device.device_id)
        if device.status.online:
            checked_devices_online.add(device.device_id)
        for v in device.violations:
            failing[("device", device.device_id, v.rule)] = (device.branch_id, v)
    for channel in report.channels:
        if channel.device_id in checked_devices_online:
            checked_channels.add(channel.channel_id)
        for v in channel.result.violations:
            if v.rule == "R6.offline":
                continue  # the device's own ticket covers it
            failing[("channel", channel.channel_id, v.rule)] = (channel.branch_id, v)

    open_rows = session.scalars(select(FaultTicketRow).where(FaultTicketRow.closed_at.is_(None)))
    open_by_key = {(t.subject_kind, t.subject_id, t.rule): t for t in open_rows}
    opened = updated = closed = 0
    for key, (branch_id, violation) in failing.items():
        ticket = open_by_key.get(key)
        if ticket is None:
            session.add(
                FaultTicketRow(
                    branch_id=branch_id,
                    subject_kind=key[0],
                    subject_id=key[1],
                    rule=key[2],
                    severity=violation.severity.value,
                    detail=violation.detail,
                    evidence=dict(violation.evidence),
                    owner_role=OWNER_ROLE,
                    notify_roles=list(NOTIFY_ROLES),
                    opened_at=now,
                    last_seen_at=now,
                    closed_at=None,
                    opened_run_id=run_id,
                    closed_run_id=None,
                    occurrences=1,
                )
            )
            opened += 1
        else:
            ticket.last_seen_at = now
            ticket.occurrences += 1
            ticket.severity = violation.severity.value
            ticket.detail = violation.detail
            ticket.evidence = dict(violation.evidence)
            updated += 1
    for key, ticket in open_by_key.items():
        if key in failing:
            continue
        kind, subject, rule = key
        if kind == "device":
            was_checked = subject in (
                checked_devices_all if rule == "R6.offline" else checked_devices_online
            )
        elif rule.startswith("R4."):
            # a run without snapshots says nothing about the picture
            was_checked = subject in report.pictures_checked
        else:
            was_checked = subject in checked_channels
        if was_checked:
            ticket.closed_at = now
            ticket.closed_run_id = run_id
            closed += 1
    session.flush()
    return TicketChanges(opened=opened, updated=updated, closed=closed)


def ticket_changes_json(changes: TicketChanges) -> dict[str, int]:
    return asdict(changes)
