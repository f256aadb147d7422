"""Bring the database's inventory in line with cameras.yaml, keeping history.

Idempotent: a second sync of the same file changes nothing.  Removed branches, devices and
channels are retired (``retired_at`` set), never deleted, because findings, observations
and register entries keep pointing at them; one that comes back is restored.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vidaudit.db.models import BranchRow, ChannelRow, DeviceRow, InventorySyncRow
from vidaudit.inventory.load import inventory_digest
from vidaudit.inventory.schema import Api, Branch, Channel, Device, Inventory

InventoryRow = BranchRow | DeviceRow | ChannelRow


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.retired) + len(self.restored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "retired": self.retired,
            "restored": self.restored,
            "unchanged": self.unchanged,
        }

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.retired)} retired, {len(self.restored)} restored, "
            f"{self.unchanged} unchanged"
        )


def stored_hours(branch: Branch) -> dict[str, Any]:
    """The branch's hours as the ``branches`` table holds them: weekday hours,
    closed dates and special days, as text (``collector.round_hours`` reads them back
    and compares a worker's own with them in this form)."""
    week = {day: str(hours or "closed") for day, hours in branch.hours}
    return {
        "week": week,
        "closed_dates": [d.isoformat() for d in sorted(branch.closed_dates)],
        "special_days": {d.isoformat(): str(h) for d, h in sorted(branch.special_days.items())},
    }


def stored_timezone(inventory: Inventory, branch: Branch) -> str:
    """The branch's time zone as the ``branches`` table holds it: its own, else the
    inventory's."""
    return branch.timezone or inventory.timezone


def _branch_values(inventory: Inventory, branch: Branch) -> dict[str, Any]:
    return {
        "name": branch.name,
        "region": branch.region,
        "timezone": stored_timezone(inventory, branch),
        "hours": stored_hours(branch),
    }


def _device_values(branch: Branch, device: Device) -> dict[str, Any]:
    gb = device.api is Api.GB28181
    return {
        "branch_id": branch.id,
        "name": device.name,
        "kind": device.kind.value,
        "vendor": device.vendor.value,
        "api": device.api.value,
        "api_url": None if device.url is None else str(device.url),
        # the device's address: its ONVIF URL, or its GB/T 28181 ID behind the platform
        "onvif_url": f"gb28181:{device.gb_id}"
        if gb
        else (None if device.onvif is None else str(device.onvif)),
        "username": device.username or "",
        "password_ref": device.password_ref,
        "playback": "gb28181" if gb else device.playback.value,
    }


def stored_channel(inventory: Inventory, device: Device, channel: Channel) -> dict[str, Any]:
    """The channel as the ``channels`` table holds it: its device, name, how it is found
    on the device, role, the retention it must hold under ``inventory``'s policy, audio
    requirement and off-site mark (``collector.round_channels`` compares a worker's own
    with these)."""
    return {
        "device_id": device.id,
        "name": channel.name,
        "ref": channel.ref.model_dump(exclude_none=True),
        "role": channel.role.value,
        "required_days": inventory.required_days(channel),
        "audio": channel.audio.value,
        "offsite": channel.offsite,
    }


#: Rows compared per query: a provincial fleet's 50,000 channels are never all in memory
#: at once, as values or as ORM rows.
_CHUNK = 2_000


def _apply(
    session: Session,
    model: type[InventoryRow],
    kind: str,
    wanted: Iterable[tuple[str, dict[str, Any]]],
    now: dt.datetime,
    report: SyncReport,
) -> None:
    """Add, change, restore and retire ``model``'s rows to match ``wanted`` (produced
    lazily), a chunk at a time: each chunk's rows are read by id, compared and written
    before the next; written rows are no longer held (the session keeps clean rows
    weakly), so memory does not grow with the fleet."""
    seen: set[str] = set()
    items = iter(wanted)
    while chunk := list(itertools.islice(items, _CHUNK)):
        ids = [key for key, _values in chunk]
        seen.update(ids)
        rows: list[InventoryRow] = list(session.scalars(select(model).where(model.id.in_(ids))))
        existing = {row.id: row for row in rows}
        added: list[dict[str, Any]] = []
        for key, values in chunk:
            row = existing.get(key)
            label = f"{kind}:{key}"
            if row is None:
                added.append(
                    {"id": key, "first_seen_at": now, "updated_at": now, "retired_at": None}
                    | values
                )
                report.added.append(label)
                continue
            differs = [name for name, value in values.items() if getattr(row, name) != value]
            if row.retired_at is not None:
                row.retired_at = None
                row.updated_at = now
                report.restored.append(label)
            elif differs:
                report.changed.append(f"{label} ({', '.join(differs)})")
            else:
                report.unchanged += 1
            for name in differs:
                setattr(row, name, values[name])
            if differs:
                row.updated_at = now
        if added:
            # One executemany: a new fleet brings thousands of channels at once.
            session.execute(insert(model), added)
        session.flush()
    in_use = session.scalars(select(model.id).where(model.retired_at.is_(None)).order_by(model.id))
    gone = [key for key in in_use if key not in seen]
    for start in range(0, len(gone), _CHUNK):
        session.execute(
            update(model)
            .where(model.id.in_(gone[start : start + _CHUNK]))
            .values(retired_at=now, updated_at=now)
        )
    report.retired.extend(f"{kind}:{key}" for key in gone)


def sync_inventory(
    session: Session,
    inventory: Inventory,
    *,
    source: str,
    now: dt.datetime,
) -> SyncReport:
    """Apply ``inventory`` to the database in the caller's transaction and log the sync
    with the digest of the text it was read from (``load.inventory_digest``)."""
    report = SyncReport()
    branches = ((b.id, _branch_values(inventory, b)) for b in inventory.branches)
    devices = ((d.id, _device_values(b, d)) for b, d in inventory.devices())
    channels = ((c.id, stored_channel(inventory, d, c)) for _b, d, c in inventory.channels())
    # Parents first so foreign keys hold at every flush.
    _apply(session, BranchRow, "branch", branches, now, report)
    _apply(session, DeviceRow, "device", devices, now, report)
    _apply(session, ChannelRow, "channel", channels, now, report)
    session.add(
        InventorySyncRow(
            synced_at=now,
            source=source,
            sha256=inventory_digest(inventory),
            changes=report.as_dict(),
            summary=report.summary(),
        )
    )
    session.flush()
    return report
