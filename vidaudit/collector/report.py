"""The run as one JSON document other tools can rely on, and as a table for people.

JSON shape (stable; times ISO 8601 with offsets, in each branch's time zone):
  {"collected_at", "policy", "tickets": {"opened", "updated", "closed", "reopened"},
   "devices": [{"id", "branch", "online", "error": null | {"kind", "message"},
                "clock_drift_s", "manufacturer", "model", "firmware", "services",
                "violations"}],
   "channels": [{"id", "device", "branch", "role", "recording_state", "earliest", "latest",
                 "retention_days", "required_days", "occupancy", "gaps": [{"start", "end"}],
                 "business_hours_covered", "audio", "verified",
                 "violations": [{"rule", "severity", "detail", "evidence"}], "compliant"}]}
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

from vidaudit.collector.model import RunReport
from vidaudit.collector.store import TicketChanges, violation_json


def _iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def report_json(
    report: RunReport,
    zones: dict[str, ZoneInfo],
    tickets: TicketChanges | None = None,
) -> dict[str, Any]:
    """``zones`` maps branch id to its time zone; times are shown in the branch's zone."""
    default = next(iter(zones.values()), ZoneInfo("UTC"))
    document: dict[str, Any] = {
        "collected_at": report.finished_at.astimezone(default).isoformat(),
        "policy": report.policy.model_dump(mode="json"),
    }
    if tickets is not None:
        document["tickets"] = {
            "opened": tickets.opened,
            "updated": tickets.updated,
            "closed": tickets.closed,
            "reopened": tickets.reopened,
        }
    document["devices"] = [
        {
            "id": d.device_id,
            "branch": d.branch_id,
            "online": d.status.online,
            "error": (
                None
                if d.status.error_kind is None
                else {"kind": d.status.error_kind.value, "message": d.status.error_message}
            ),
            "clock_drift_s": d.status.clock_drift_s,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "firmware": d.firmware,
            "services": d.services,
            "serial": d.serial,
            "storage": (
                None
                if d.storage is None
                else [
                    {
                        "id": disk.id,
                        "status": disk.status,
                        "capacity_bytes": disk.capacity_bytes,
                        "free_bytes": disk.free_bytes,
                    }
                    for disk in d.storage
                ]
            ),
            # optional calls that failed: what they would have told is unknown
            "unknown": {fact: str(why) for fact, why in d.unknown.items()},
            "violations": [violation_json(v) for v in d.violations],
        }
        for d in report.devices
    ]
    channels = []
    for c in report.channels:
        tz = zones.get(c.branch_id, default)
        r, e = c.result, c.evidence
        channels.append(
            {
                "id": c.channel_id,
                "device": c.device_id,
                "branch": c.branch_id,
                "role": c.role,
                "recording_state": e.recording_state.value,
                "earliest": _iso(e.verified_earliest or e.earliest, tz),
                "latest": _iso(e.latest, tz),
                "retention_days": r.retention_days,
                "required_days": r.required_days,
                "occupancy": r.occupancy,
                "gaps": (
                    None
                    if r.gaps is None
                    else [{"start": _iso(g.start, tz), "end": _iso(g.end, tz)} for g in r.gaps]
                ),
                "business_hours_covered": r.business_hours_covered,
                "business_days_missed": [
                    day.date.isoformat() for day in r.business_days if not day.covered
                ],
                "audio": r.audio,
                "verified": r.verified,
                "unknown": {fact: str(why) for fact, why in e.unknown.items()},
                "violations": [violation_json(v) for v in r.violations],
                "compliant": r.compliant,
            }
        )
    document["channels"] = channels
    return document


def device_table(document: dict[str, Any]) -> Table:
    """The devices of a run's JSON document, for people."""
    table = Table(title="devices", title_justify="left")
    for column in ("device", "branch", "online", "drift s", "model", "problems"):
        table.add_column(column, overflow="fold")
    for d in sorted(document["devices"], key=lambda d: (d["branch"], d["id"])):
        error = d["error"]["kind"] if d["error"] else ""
        drift = d["clock_drift_s"]
        table.add_row(
            d["id"],
            d["branch"],
            "yes" if d["online"] else f"[red]no ({error})[/]",
            "" if drift is None else f"{drift:+.0f}",
            " ".join(x for x in (d["manufacturer"], d["model"]) if x),
            ", ".join(v["rule"] for v in d["violations"]),
        )
    return table


def channel_table(document: dict[str, Any], only_problems: bool = False) -> Table:
    """The channels of a run's JSON document, for people."""
    table = Table(title="channels", title_justify="left")
    for column in ("channel", "role", "held/required days", "occupancy", "hours", "problems"):
        table.add_column(column, overflow="fold")
    for c in sorted(document["channels"], key=lambda c: (c["branch"], c["id"])):
        if only_problems and c["compliant"]:
            continue
        held = "?" if c["retention_days"] is None else f"{c['retention_days']:.1f}"
        verified = " ✓" if c["verified"] else ""
        hours = {True: "ok", False: "[yellow]gaps[/]", None: "?"}[c["business_hours_covered"]]
        occupancy = c["occupancy"]
        table.add_row(
            c["id"],
            c["role"],
            f"{held}/{c['required_days']}{verified}",
            "?" if occupancy is None else f"{occupancy:.1%}",
            hours,
            "[green]ok[/]" if c["compliant"] else ", ".join(v["rule"] for v in c["violations"]),
        )
    return table
