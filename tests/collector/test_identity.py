"""R6.identity: two simulated recorders swap ports (as a mis-patched switch or a swapped
NVR would); each answers for the other, and neither's footage is judged as compliant
until a person accepts the new identity (pen test: nothing noticed)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from vidaudit.collector.identity import IdentityError, accept_identity
from vidaudit.collector.run import CollectResult, collect
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import DeviceIdentityRow, FaultTicketRow, RegisterEntryRow
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import GenerateSpec, Scenario, running_fleet

pytestmark = pytest.mark.timeout(120)

_ACCESS = ("onvif", "username", "password", "password_file")


def swapped(source: Path, target: Path, first: str, second: str) -> None:
    """The inventory with two devices' addresses (and the credentials that go with them)
    exchanged: each configured device now reaches the other's hardware."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    devices = {d["id"]: d for b in data["branches"] for d in b["devices"]}
    a, b = devices[first], devices[second]
    for key in _ACCESS:
        a_value, b_value = a.pop(key, None), b.pop(key, None)
        if b_value is not None:
            a[key] = b_value
        if a_value is not None:
            b[key] = a_value
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def rules(result: CollectResult, device_id: str) -> tuple[set[str], list[bool], set[str]]:
    device = next(d for d in result.report.devices if d.device_id == device_id)
    channels = [c for c in result.report.channels if c.device_id == device_id]
    channel_rules = {v.rule for c in channels for v in c.result.violations}
    return (
        {v.rule for v in device.violations},
        [c.result.compliant for c in channels],
        channel_rules,
    )


def test_swapped_recorders_are_reported_and_not_judged_until_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        collector_call_timeout_s=1.5,
        collector_connect_timeout_s=1.0,
        collector_device_deadline_s=8.0,
    )
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    scenario = Scenario(seed=5, generate=GenerateSpec(nvrs=6, channels=2, cameras=0))
    plain = tmp_path / "cameras.sim.yaml"

    async def run(path: Path) -> CollectResult:
        return await collect(settings, load_inventory(path), path, sessions)

    async def scenario_run() -> dict[str, Any]:
        async with running_fleet(scenario, inventory_out=plain) as fleet:
            out: dict[str, Any] = {"serials": fleet.truth["devices"]}
            out["before"] = await run(plain)
            # three recorders the first run could read (the scenario keeps some down)
            ids = sorted(d.device_id for d in out["before"].report.devices if d.status.online)
            assert len(ids) >= 3
            first, second, third = out["ids"] = ids[:3]
            with sessions() as db:
                out["pins"] = {r.device_id: r.serial for r in db.scalars(select(DeviceIdentityRow))}
            crossed = tmp_path / "cameras.swapped.yaml"
            swapped(plain, crossed, first, second)
            out["swapped"] = await run(crossed)
            with sessions.begin() as db:
                out["accepted"] = accept_identity(
                    db,
                    first,
                    actor="保卫部王科长",
                    reason="NVR 更换, 工单 2026-118",
                    now=dt.datetime.now(dt.UTC),
                )
                with pytest.raises(IdentityError, match="answers as pinned"):
                    accept_identity(db, third, actor="x", reason="y", now=dt.datetime.now(dt.UTC))
            out["after_accept"] = await run(crossed)
            out["swapped_back"] = await run(plain)
            return out

    out = asyncio.run(scenario_run())
    first, second, third = out["ids"][:3]
    before: CollectResult = out["before"]
    for device_id in (first, second):
        device_rules, _compliant, channel_rules = rules(before, device_id)
        assert "R6.identity" not in device_rules | channel_rules
    pins = out["pins"]
    assert pins[first] == out["serials"][first]["serial"] != pins[second]
    assert pins[second] == out["serials"][second]["serial"]

    swapped_run: CollectResult = out["swapped"]
    for device_id in (first, second):
        device_rules, compliant, channel_rules = rules(swapped_run, device_id)
        assert device_rules == {"R6.identity"}, device_id
        assert channel_rules == {"R6.identity"} and compliant and not any(compliant)
    # the third device was not touched
    assert "R6.identity" not in rules(swapped_run, third)[0]
    with sessions() as db:
        tickets = {
            t.subject_id
            for t in db.scalars(select(FaultTicketRow).where(FaultTicketRow.rule == "R6.identity"))
        }
        entry = db.scalars(
            select(RegisterEntryRow).where(RegisterEntryRow.action == "identity_accept")
        ).one()
    assert {first, second} <= tickets
    assert (
        entry.actor == "保卫部王科长"
        and entry.details["new_serial"] == out["serials"][second]["serial"]
    )
    old, new = out["accepted"]
    assert (old, new) == (
        DeviceIdentity(out["serials"][first]["serial"]),
        DeviceIdentity(out["serials"][second]["serial"]),
    )

    # Accepted: the first device's (new) hardware is judged again; the second is not.
    after: CollectResult = out["after_accept"]
    assert "R6.identity" not in rules(after, first)[0] | rules(after, first)[2]
    assert rules(after, second)[0] == {"R6.identity"}
    # Swapped back, the second device is its pinned self again; the first now differs.
    back: CollectResult = out["swapped_back"]
    assert "R6.identity" not in rules(back, second)[0]
    assert rules(back, first)[0] == {"R6.identity"}
