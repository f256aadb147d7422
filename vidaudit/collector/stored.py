"""A stored run read back as the run's JSON document (``collector.report``'s shape).

Both ways of collecting end here: ``vidaudit collect`` stores each device as it finishes
and holds none of them, and a round's devices were stored by workers on other machines;
either way the document is what storage holds, so the two print the same thing.  Rows are
read in slices, in inventory order (the order ``report_json`` keeps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.compliance.model import FailedCall
from vidaudit.db.models import (
    ChannelObservationRow,
    ChannelRow,
    CollectionRunRow,
    DeviceObservationRow,
    RoundDeviceRow,
)
from vidaudit.inventory.schema import Inventory

#: Rows fetched per round trip while reading a run back.
_SLICE = 2_000


def _iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def _iso_text(value: str, tz: ZoneInfo) -> str:
    return dt.datetime.fromisoformat(value).astimezone(tz).isoformat()


def _unknown_json(stored: dict[str, list[str]] | None) -> dict[str, str]:
    return {fact: str(FailedCall(*why)) for fact, why in (stored or {}).items()}


def _device_json(row: DeviceObservationRow) -> dict[str, Any]:
    return {
        "id": row.device_id,
        "branch": row.branch_id,
        "online": row.online,
        "error": (
            None
            if row.error_kind is None
            else {"kind": row.error_kind, "message": row.error_message}
        ),
        "clock_drift_s": row.clock_drift_s,
        "manufacturer": row.manufacturer,
        "model": row.model,
        "firmware": row.firmware,
        "services": row.services,
        "serial": row.serial,
        "storage": (
            None
            if row.storage is None
            else [
                {key: disk[key] for key in ("id", "status", "capacity_bytes", "free_bytes")}
                for disk in row.storage
            ]
        ),
        "unknown": _unknown_json(row.unknown),
        "violations": row.violations,
    }


def _channel_json(row: ChannelObservationRow, role: str, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.channel_id,
        "device": row.device_id,
        "branch": row.branch_id,
        "role": role,
        "recording_state": row.recording_state,
        "earliest": _iso(row.verified_earliest or row.earliest, tz),
        "latest": _iso(row.latest, tz),
        "retention_days": row.retention_days,
        "required_days": row.required_days,
        "occupancy": row.occupancy,
        "gaps": (
            None
            if row.gaps is None
            else [{"start": _iso_text(s, tz), "end": _iso_text(e, tz)} for s, e in row.gaps]
        ),
        "business_hours_covered": row.business_hours_covered,
        # stored rows from before 2026-11-22 list covered days too
        "business_days_missed": [d["date"] for d in row.business_days if not d["covered"]],
        "audio": row.audio,
        "verified": row.verified,
        "unknown": _unknown_json(row.unknown),
        "violations": row.violations,
        "compliant": row.compliant,
    }


def _rows(session: Session, query: Any) -> Iterator[Any]:
    yield from session.scalars(query.execution_options(yield_per=_SLICE))


def stored_report_json(session: Session, run_id: int, inventory: Inventory) -> dict[str, Any]:
    """The finished run ``run_id`` as ``report_json`` gives it: the same keys, values and
    order.  A round with late devices also lists them under ``"late"`` (ids, inventory
    order): they were not observed, so they are in neither list."""
    run = session.get(CollectionRunRow, run_id)
    if run is None or run.finished_at is None:
        raise ValueError(f"run {run_id} has not finished")
    zones = {b.id: inventory.branch_timezone(b) for b in inventory.branches}
    default = next(iter(zones.values()), ZoneInfo("UTC"))
    order = {device.id: i for i, (_b, device) in enumerate(inventory.devices())}
    channel_order = {c.id: i for i, (_b, _d, c) in enumerate(inventory.channels())}
    last = len(order)
    document: dict[str, Any] = {
        "collected_at": run.finished_at.astimezone(default).isoformat(),
        "policy": run.policy,
        "tickets": {
            "opened": run.tickets_opened or 0,
            "updated": run.tickets_updated or 0,
            "closed": run.tickets_closed or 0,
            "reopened": run.tickets_reopened or 0,
        },
    }
    devices = [
        _device_json(row)
        for row in _rows(
            session, select(DeviceObservationRow).where(DeviceObservationRow.run_id == run_id)
        )
    ]
    devices.sort(key=lambda d: (order.get(d["id"], last), d["id"]))
    document["devices"] = devices
    roles = {cid: role for cid, role in session.execute(select(ChannelRow.id, ChannelRow.role))}
    channels = [
        _channel_json(row, roles.get(row.channel_id, ""), zones.get(row.branch_id, default))
        for row in _rows(
            session,
            select(ChannelObservationRow).where(ChannelObservationRow.run_id == run_id),
        )
    ]
    channels.sort(
        key=lambda c: (order.get(c["device"], last), channel_order.get(c["id"], 0), c["id"])
    )
    document["channels"] = channels
    late = session.scalars(
        select(RoundDeviceRow.device_id).where(
            RoundDeviceRow.run_id == run_id, RoundDeviceRow.state == "late"
        )
    ).all()
    if late:
        document["late"] = sorted(late, key=lambda d: (order.get(d, last), d))
    return document
