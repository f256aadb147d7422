"""Write the cameras.yaml (and its env file) that describes a running simulated fleet,
and prove it valid with the product's own loader."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vidaudit.inventory import InventoryError, Problem, check_secrets, load_inventory
from vidaudit.inventory.schema import WEEKDAYS
from vidaudit.sim.plan import Api, FleetPlan
from vidaudit.sim.scenario import env_name
from vidaudit.sim.vendors import flavour

if TYPE_CHECKING:
    from vidaudit.sim.device import SimChannel, SimDevice


#: libyaml's emitter when PyYAML was built with it (a 500-NVR inventory is ~1 MB of YAML).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def env_path_for(inventory: Path) -> Path:
    """``cameras.sim.yaml`` -> ``cameras.sim.env`` (beside it)."""
    return inventory.with_suffix(".env")


#: The env variable the GB/T 28181 platform password is referenced by.
GB_PASSWORD_ENV = "VIDAUDIT_GB_PASSWORD"  # noqa: S105 - a variable name, not a secret
GbIds = dict[str, tuple[str, dict[int, str]]]


def _ref(dev: SimDevice, ch: SimChannel) -> dict[str, Any]:
    # Vendors are matched differently on purpose, as the collector must handle each:
    # channel numbers (Hikvision, Dahua), profile tokens (Uniview, generic), video source
    # (Axis), recording token (Milesight).
    vendor = dev.plan.vendor
    if vendor in ("hikvision", "dahua"):
        return {"channel": ch.plan.number}
    if vendor == "axis":
        return {"source": ch.tokens.source}
    if vendor == "milesight":
        return {"recording": ch.tokens.recording}
    return {"profile": ch.tokens.profile}


def _channel_entry(ch: SimChannel, ref: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = {
        "id": ch.plan.id,
        "name": ch.plan.name,
        "role": ch.plan.role.value,
        "ref": ref,
    }
    if ch.plan.required_retention_days is not None:
        c["retention_days"] = ch.plan.required_retention_days
    c["audio"] = "required" if ch.plan.audio_required else "optional"
    if ch.plan.offsite:
        c["offsite"] = True
    return c


def _gb_device(d: Any, dev: SimDevice, ids: tuple[str, dict[int, str]]) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "kind": d.kind.value,
        "vendor": d.vendor,
        "api": "gb28181",
        "gb_id": ids[0],
        "channels": [_channel_entry(ch, {"gb_id": ids[1][ch.plan.number]}) for ch in dev.channels],
    }


def inventory_document(
    plan: FleetPlan,
    devices: dict[str, SimDevice],
    env_file: str,
    gb_ids: GbIds | None = None,
    gb_platform: tuple[str, int] | None = None,
) -> dict[str, Any]:
    branches = []
    for b in plan.branches:
        hours = {}
        for day in WEEKDAYS:
            opening = getattr(b.hours, day)
            hours[day] = str(opening) if opening is not None else "closed"
        entry: dict[str, Any] = {"id": b.id, "name": b.name}
        if b.region is not None:
            entry["region"] = b.region
        if b.timezone != plan.timezone:
            entry["timezone"] = b.timezone
        entry["hours"] = hours
        if b.closed_dates:
            entry["closed_dates"] = [d.isoformat() for d in b.closed_dates]
        if b.special_days:
            entry["special_days"] = {d.isoformat(): str(h) for d, h in b.special_days.items()}
        entry["devices"] = []
        for d in b.devices:
            dev = devices[d.id]
            if gb_ids and d.id in gb_ids:
                entry["devices"].append(_gb_device(d, dev, gb_ids[d.id]))
                continue
            channels = [_channel_entry(ch, _ref(dev, ch)) for ch in dev.channels]
            device: dict[str, Any] = {
                "id": d.id,
                "name": d.name,
                "kind": d.kind.value,
                "vendor": d.vendor,
            }
            if d.api is not Api.ONVIF:
                # Read through the vendor's own API: no ONVIF address unless the scenario
                # says onvif: true, so a run proves the collector and frame pulls need none.
                device["api"] = d.api.value
                device["url"] = f"http://{dev.host}:{dev.port}"
            if d.onvif_configured:
                device["onvif"] = dev.device_url
            device |= {
                "username": d.username,
                "password": "${" + env_name(d.id) + "}",
                "playback": flavour(d.vendor).playback,
                "rtsp_port": dev.rtsp_port,
                "channels": channels,
            }
            entry["devices"].append(device)
        branches.append(entry)
    document: dict[str, Any] = {
        "timezone": plan.timezone,
        "env_file": env_file,
        "policy": plan.policy.model_dump(mode="json"),
    }
    if gb_platform is not None and plan.gb28181 is not None:
        document["gb28181"] = {
            "id": plan.gb28181.id,
            "domain": plan.gb28181.domain,
            "listen": f"{gb_platform[0]}:{gb_platform[1]}",
            "password": "${" + GB_PASSWORD_ENV + "}",
        }
    document["branches"] = branches
    return document


def write_inventory(
    plan: FleetPlan,
    devices: dict[str, SimDevice],
    path: Path,
    gb_ids: GbIds | None = None,
    gb_platform: tuple[str, int] | None = None,
) -> Path:
    """Write ``path`` and its env file; raise ``InventoryError`` if the result is invalid."""
    env_path = env_path_for(path)
    doc = inventory_document(plan, devices, env_path.name, gb_ids, gb_platform)
    header = (
        "# Written by `vidaudit sim`: the simulated fleet now listening on loopback.\n"
        f"# Passwords are in {env_path.name} (mode 0600), referenced as ${{VIDAUDIT_PW_...}}.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        header + yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=120),
        encoding="utf-8",
    )
    lines = [
        f"{env_name(d.plan.id)}={d.plan.configured_password}"
        for d in devices.values()
        if not (gb_ids and d.plan.id in gb_ids)
    ]
    if "gb28181" in doc and plan.gb28181 is not None:
        lines.append(f"{GB_PASSWORD_ENV}={plan.gb28181.password}")
    fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# vidaudit sim: device passwords (what the bank's records say)\n")
        handle.write("\n".join(lines) + "\n")
    inventory = load_inventory(path)
    problems: list[Problem] = check_secrets(inventory, path, environ={})
    if problems:
        raise InventoryError(path, problems)
    return env_path
