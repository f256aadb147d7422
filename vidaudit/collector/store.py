"""Persist a run: observations, per-branch verdicts, and fault tickets (R7).

Observations are inserted in bulk (one executemany per table per batch) as devices are
judged, because a fleet is thousands to hundreds of thousands of channels per run, every
few minutes, and nothing should hold a whole run in memory.  Finishing a run then works
from what was stored (``finish_run``), once: the one-process collector and a round of
distributed workers end the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import case, func, insert, select, text
from sqlalchemy.orm import Session

from vidaudit.accounts.roles import TICKET_NOTIFIED, TICKET_OWNER
from vidaudit.collector.identity import record_identities
from vidaudit.collector.model import ChannelReport, DeviceReport, RunReport
from vidaudit.collector.settled import store_settled
from vidaudit.compliance.model import BusinessDay, FailedCall, Violation
from vidaudit.db.models import (
    BranchResultRow,
    ChannelObservationRow,
    CollectionRunRow,
    DeviceObservationRow,
    FaultTicketRow,
)
from vidaudit.inventory.schema import Policy
from vidaudit.readings import Disk
from vidaudit.review.tickets import close_by_check, recently_closed, reopen_by_check

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


def start_run(session: Session, now: dt.datetime, policy: Policy, kind: str = "collect") -> int:
    run = CollectionRunRow(
        started_at=now,
        finished_at=None,
        status="running",
        kind=kind,
        policy=policy.model_dump(mode="json"),
    )
    session.add(run)
    session.flush()
    return run.id


def unknown_json(unknown: Mapping[str, FailedCall]) -> dict[str, list[str]] | None:
    """Facts a failed optional call left unknown, as stored (None when there are none:
    nearly every observation)."""
    return {fact: list(why) for fact, why in unknown.items()} or None


def _missed_day_json(day: BusinessDay) -> dict[str, Any]:
    missing = sum(g.duration.total_seconds() for g in day.gaps) / 60
    return {"date": day.date.isoformat(), "covered": False, "missing_min": round(missing, 1)}


def channel_row(run_id: int, at: dt.datetime, report: ChannelReport) -> dict[str, Any]:
    result, evidence = report.result, report.evidence
    return {
        "run_id": run_id,
        "channel_id": report.channel_id,
        "device_id": report.device_id,
        "branch_id": report.branch_id,
        "observed_at": at,
        "recording_state": evidence.recording_state.value,
        "earliest": evidence.earliest,
        "verified_earliest": evidence.verified_earliest,
        "unknown": unknown_json(evidence.unknown),
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


def device_row(run_id: int, at: dt.datetime, d: DeviceReport) -> dict[str, Any]:
    return {
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
        "unknown": unknown_json(d.unknown),
        "serial": d.serial,
        "storage": None if d.storage is None else [disk_json(disk) for disk in d.storage],
    }


def disk_json(disk: Disk) -> dict[str, Any]:
    """One disk a recorder listed, as stored (``device_observations.storage``)."""
    return {
        "id": disk.id,
        "status": disk.status,
        "state": disk.state,
        "capacity_bytes": disk.capacity_bytes,
        "free_bytes": disk.free_bytes,
    }


@dataclass(frozen=True)
class TicketChanges:
    opened: int
    updated: int
    closed: int
    #: closed tickets whose check failed again soon after (``review.tickets``)
    reopened: int = 0


#: One judged device, ready to store: its reports and the instant it was read.
Judged = tuple[DeviceReport, list[ChannelReport], dt.datetime]


def store_observations(session: Session, run_id: int, batch: Sequence[Judged]) -> None:
    """Insert a batch of judged devices' observations (one executemany per table).

    The unique (run, device) and (run, channel) indexes make a second copy of any of them
    fail the whole transaction: a device is stored once per run, whoever polls it."""
    if not batch:
        return
    session.execute(
        insert(DeviceObservationRow), [device_row(run_id, at, d) for d, _c, at in batch]
    )
    channels = [channel_row(run_id, at, c) for _d, chans, at in batch for c in chans]
    if channels:
        session.execute(insert(ChannelObservationRow), channels)
    _pin_identities(session, [(d, at) for d, _c, at in batch])
    # What vendor-API reads settled goes with the observations that settled it, so the
    # next run (or round) builds on it whoever stored it; a device stored twice never is.
    settled_at = max(at for _d, _c, at in batch)
    store_settled(session, (c for _d, chans, _at in batch for c in chans), settled_at)


def _pin_identities(session: Session, devices: Sequence[tuple[DeviceReport, dt.datetime]]) -> None:
    """Pin first contacts and note strangers (collector/identity.py) in the transaction
    that stores the devices' observations: whoever stores a device (``collect``, its
    helpers, or a round's worker) records its identity, once per stored observation."""
    seen = [(d.device_id, d.identity) for d, _at in devices if d.identity is not None]
    if seen:
        record_identities(session, seen, max(at for _d, at in devices))


def add_picture_violations(
    session: Session, run_id: int, violations: Mapping[str, Sequence[Violation]]
) -> None:
    """R4: the live-picture violations of channels already stored in this run (snapshots
    are judged after the poll), so they count and open tickets like any other rule."""
    for channel_id, extra in violations.items():
        if not extra:
            continue
        row = session.scalars(
            select(ChannelObservationRow).where(
                ChannelObservationRow.run_id == run_id,
                ChannelObservationRow.channel_id == channel_id,
            )
        ).one_or_none()
        if row is None:
            continue
        row.violations = [*row.violations, *(violation_json(v) for v in extra)]
        row.compliant = False
    session.flush()


def store_run(session: Session, run_id: int, report: RunReport) -> TicketChanges:
    """A whole run held in memory: its observations (read at ``finished_at``), then
    ``finish_run``."""
    at = report.finished_at
    if report.devices:
        session.execute(
            insert(DeviceObservationRow), [device_row(run_id, at, d) for d in report.devices]
        )
    if report.channels:
        session.execute(
            insert(ChannelObservationRow),
            [channel_row(run_id, at, c) for c in report.channels],
        )
    _pin_identities(session, [(d, at) for d in report.devices])
    store_settled(session, report.channels, at)
    return finish_run(session, run_id, finished_at=at, pictures_checked=report.pictures_checked)


def _serialise_finishes(session: Session) -> None:
    """Tickets are one shared state: two runs finishing at once (a round and a ``collect``
    on another machine) take turns.  SQLite serialises writers by itself."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FINISH_LOCK})


def finish_run(
    session: Session,
    run_id: int,
    *,
    finished_at: dt.datetime,
    pictures_checked: frozenset[str] = frozenset(),
) -> TicketChanges:
    """Per-branch results, fault tickets and the run's totals, computed once from the
    observations stored for the run.  Idempotent: a run already finished changes nothing
    and answers the ticket changes it made then."""
    _serialise_finishes(session)
    run = session.execute(
        select(CollectionRunRow).where(CollectionRunRow.id == run_id).with_for_update()
    ).scalar_one()
    if run.status == "completed":
        return TicketChanges(
            opened=run.tickets_opened or 0,
            updated=run.tickets_updated or 0,
            closed=run.tickets_closed or 0,
            reopened=run.tickets_reopened or 0,
        )
    facts = _facts(session, run_id)
    tally = _branch_results(session, run_id, finished_at)
    changes = _update_tickets(session, run_id, finished_at, facts, pictures_checked)
    run.finished_at = finished_at
    run.status = "completed"
    run.devices = sum(t["devices"] for t in tally.values())
    run.devices_down = sum(t["devices_down"] for t in tally.values())
    run.channels = sum(t["channels"] for t in tally.values())
    run.channels_compliant = sum(t["channels_compliant"] for t in tally.values())
    run.violations = sum(t["violations"] for t in tally.values())
    run.tickets_opened, run.tickets_updated = changes.opened, changes.updated
    run.tickets_closed, run.tickets_reopened = changes.closed, changes.reopened
    session.flush()
    return changes


#: Any constant both kinds of run agree on (``pg_advisory_xact_lock`` takes a bigint).
_FINISH_LOCK = 0x76696461  # "vida"


def _branch_results(session: Session, run_id: int, at: dt.datetime) -> dict[str, dict[str, int]]:
    tally: dict[str, dict[str, int]] = defaultdict(
        lambda: {
            "devices": 0,
            "devices_down": 0,
            "channels": 0,
            "channels_compliant": 0,
            "violations": 0,
        }
    )
    dev = DeviceObservationRow
    for branch_id, devices, down, violations in session.execute(
        select(
            dev.branch_id,
            func.count(),
            func.sum(case((dev.online, 0), else_=1)),
            func.sum(func.json_array_length(dev.violations)),
        )
        .where(dev.run_id == run_id)
        .group_by(dev.branch_id)
    ):
        t = tally[branch_id]
        t["devices"] += devices
        t["devices_down"] += int(down or 0)
        t["violations"] += int(violations or 0)
    ch = ChannelObservationRow
    for branch_id, channels, compliant, violations in session.execute(
        select(
            ch.branch_id,
            func.count(),
            func.sum(case((ch.compliant, 1), else_=0)),
            func.sum(func.json_array_length(ch.violations)),
        )
        .where(ch.run_id == run_id)
        .group_by(ch.branch_id)
    ):
        t = tally[branch_id]
        t["channels"] += channels
        t["channels_compliant"] += int(compliant or 0)
        t["violations"] += int(violations or 0)
    if tally:
        session.execute(
            insert(BranchResultRow),
            [
                {
                    "run_id": run_id,
                    "branch_id": branch_id,
                    "observed_at": at,
                    "compliant": t["violations"] == 0,
                    "devices_down": t["devices_down"],
                    "channels": t["channels"],
                    "channels_compliant": t["channels_compliant"],
                    "violations": t["violations"],
                }
                for branch_id, t in tally.items()
            ],
        )
    return tally


TicketKey = tuple[str, str, str]  # (subject_kind, subject_id, rule)


@dataclass
class _RunFacts:
    """What a run found, as tickets need it: each failing (subject, rule) with its branch
    and stored violation, and which subjects the run could have seen fail."""

    failing: dict[TicketKey, tuple[str, dict[str, Any]]]
    devices_all: set[str]
    devices_online: set[str]


def _facts(session: Session, run_id: int) -> _RunFacts:
    facts = _RunFacts({}, set(), set())
    dev, ch = DeviceObservationRow, ChannelObservationRow
    for device_id, branch_id, online, violations in session.execute(
        select(dev.device_id, dev.branch_id, dev.online, dev.violations)
        .where(dev.run_id == run_id)
        .order_by(dev.id)
    ):
        facts.devices_all.add(device_id)
        if online:
            facts.devices_online.add(device_id)
        for v in violations:
            facts.failing[("device", device_id, v["rule"])] = (branch_id, v)
    # Only channels that broke a rule are read: nearly all of a large fleet's do not.
    for channel_id, branch_id, violations in session.execute(
        select(ch.channel_id, ch.branch_id, ch.violations)
        .where(ch.run_id == run_id, func.json_array_length(ch.violations) > 0)
        .order_by(ch.id)
    ):
        for v in violations:
            if v["rule"] == "R6.offline":
                continue  # the device's own ticket covers it
            facts.failing[("channel", channel_id, v["rule"])] = (branch_id, v)
    return facts


def _channels_checked(session: Session, run_id: int, candidates: set[str]) -> set[str]:
    """Of ``candidates``, the channels this run read on a device that was online."""
    ch, dev = ChannelObservationRow, DeviceObservationRow
    found: set[str] = set()
    ordered = sorted(candidates)
    for start in range(0, len(ordered), 1000):
        found.update(
            session.scalars(
                select(ch.channel_id)
                .join(dev, (dev.run_id == ch.run_id) & (dev.device_id == ch.device_id))
                .where(
                    ch.run_id == run_id,
                    dev.online.is_(True),
                    ch.channel_id.in_(ordered[start : start + 1000]),
                )
            )
        )
    return found


def _update_tickets(
    session: Session,
    run_id: int,
    now: dt.datetime,
    facts: _RunFacts,
    pictures_checked: frozenset[str],
) -> TicketChanges:
    # A subject's rule is "checked" when this run could have seen it fail; only a checked
    # rule that passed closes a ticket (an offline device proves nothing about retention).
    failing = facts.failing
    open_rows = session.scalars(select(FaultTicketRow).where(FaultTicketRow.closed_at.is_(None)))
    open_by_key = {(t.subject_kind, t.subject_id, t.rule): t for t in open_rows}
    # A failure soon after its ticket was closed (by the check or by a person) reopens
    # that ticket rather than opening another: the earlier close was premature.
    closed_by_key = recently_closed(session, set(failing) - set(open_by_key), now)
    opened = updated = closed = reopened = 0
    for key, (branch_id, violation) in failing.items():
        ticket = open_by_key.get(key)
        previous = closed_by_key.get(key)
        if (
            ticket is None
            and previous is not None
            and reopen_by_check(
                session,
                previous,
                now,
                severity=violation["severity"],
                detail=violation["detail"],
                evidence=dict(violation["evidence"]),
            )
        ):
            reopened += 1
            continue
        if ticket is None:
            session.add(
                FaultTicketRow(
                    branch_id=branch_id,
                    subject_kind=key[0],
                    subject_id=key[1],
                    rule=key[2],
                    severity=violation["severity"],
                    detail=violation["detail"],
                    evidence=dict(violation["evidence"]),
                    owner_role=OWNER_ROLE,
                    notify_roles=list(NOTIFY_ROLES),
                    opened_at=now,
                    last_seen_at=now,
                    closed_at=None,
                    opened_run_id=run_id,
                    closed_run_id=None,
                    occurrences=1,
                    state="open",
                    version=1,
                    reopened=0,
                )
            )
            opened += 1
        else:
            # seen again: not a change of state, so a person's open form stays valid
            ticket.last_seen_at = now
            ticket.occurrences += 1
            ticket.severity = violation["severity"]
            ticket.detail = violation["detail"]
            ticket.evidence = dict(violation["evidence"])
            updated += 1
    channel_subjects = {
        subject
        for (kind, subject, rule) in open_by_key
        if kind == "channel" and not rule.startswith("R4.") and (kind, subject, rule) not in failing
    }
    checked_channels = _channels_checked(session, run_id, channel_subjects)
    for key, ticket in open_by_key.items():
        if key in failing:
            continue
        kind, subject, rule = key
        if kind == "device":
            was_checked = subject in (
                facts.devices_all if rule == "R6.offline" else facts.devices_online
            )
        elif rule.startswith("R4."):
            # a run without snapshots says nothing about the picture
            was_checked = subject in pictures_checked
        else:
            was_checked = subject in checked_channels
        if was_checked and close_by_check(session, ticket, run_id, now):
            closed += 1
    session.flush()
    return TicketChanges(opened=opened, updated=updated, closed=closed, reopened=reopened)


def ticket_changes_json(changes: TicketChanges) -> dict[str, int]:
    return asdict(changes)
