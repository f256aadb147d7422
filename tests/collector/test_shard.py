"""Polling in helper processes: the same run as in one process, and no device lost when a
helper fails (real helper processes against the simulated fleet)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.collector.test_collect_sim import CALL_TIMEOUT_S, DEADLINE_S
from vidaudit.collector import run, shard
from vidaudit.collector.run import CollectResult, collect
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.inventory import load_inventory
from vidaudit.inventory.schema import Inventory
from vidaudit.settings import Settings
from vidaudit.sim import GenerateSpec, Scenario, running_fleet

SCENARIO = Scenario(seed=23, generate=GenerateSpec(nvrs=7, channels=3, cameras=3, with_faults=True))

#: A helper that reports its first device (as a device fault it invented) and dies.
DYING_HELPER = """
import os, pickle, struct, sys
from vidaudit.collector.model import DeviceReport
from vidaudit.compliance.model import DeviceStatus, ErrorKind
job = pickle.load(sys.stdin.buffer)
first = sorted(job.devices)[0]
branch = next(b.id for b, d in job.inventory.devices() if d.id == first)
status = DeviceStatus(first, False, ErrorKind.DEVICE_FAULT, "invented by the dying helper")
data = pickle.dumps(("device", (DeviceReport(first, branch, status), [])))
sys.stdout.buffer.write(struct.pack(">Q", len(data)) + data)
sys.stdout.buffer.flush()
os._exit(3)
"""


async def _run(tmp: Path, inventory: Inventory, path: Path, processes: int) -> CollectResult:
    settings = Settings(
        data_dir=tmp,
        collector_call_timeout_s=CALL_TIMEOUT_S,
        collector_connect_timeout_s=1.0,
        collector_device_deadline_s=DEADLINE_S,
        collector_processes=processes,
    )
    engine = make_engine(settings)
    upgrade(engine)
    return await collect(settings, inventory, path, make_sessionmaker(engine))


def _verdicts(result: CollectResult) -> dict[str, Any]:
    """What a run concluded, without what moves between two runs (times, drift)."""
    return {
        "devices": [
            (
                d.device_id,
                d.status.online,
                d.status.error_kind,
                sorted(v.rule for v in d.violations),
            )
            for d in result.report.devices
        ],
        "channels": [
            (
                c.channel_id,
                c.result.compliant,
                sorted(v.rule for v in c.result.violations),
                c.evidence.recording_state,
                None if c.result.retention_days is None else round(c.result.retention_days),
                c.result.business_hours_covered,
            )
            for c in result.report.channels
        ],
    }


@pytest.mark.timeout(120)
async def test_helpers_conclude_what_one_process_concludes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[int] = []
    real = run.poll_in_helper

    async def counted(job: shard.ShardJob, judged: Any) -> None:
        await real(job, judged)
        delivered.append(len(job.devices))

    monkeypatch.setattr(run, "poll_in_helper", counted)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(SCENARIO, inventory_out=path):
        inventory = load_inventory(path)
        alone = await _run(tmp_path / "one", inventory, path, processes=1)
        assert delivered == []
        shared = await _run(tmp_path / "three", inventory, path, processes=3)
    assert len(delivered) == 2 and all(delivered)  # two helpers ran to the end
    assert _verdicts(shared) == _verdicts(alone)
    # every device once, in inventory order, and stored
    assert [d.device_id for d in shared.report.devices] == [d.id for _b, d in inventory.devices()]
    assert shared.tickets.opened == alone.tickets.opened
    faults = {d.status.error_kind for d in shared.report.devices if not d.status.online}
    assert len(faults) >= 3, "the scenario must put failing devices in the helpers' shares"


@pytest.mark.timeout(120)
async def test_a_helper_that_dies_loses_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "dying_helper.py"
    script.write_text(DYING_HELPER, encoding="utf-8")
    monkeypatch.setattr(shard, "HELPER_COMMAND", (sys.executable, str(script)))
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(SCENARIO, inventory_out=path) as fleet:
        inventory = load_inventory(path)
        result = await _run(tmp_path / "db", inventory, path, processes=2)
        truth = fleet.truth["devices"]
    helper_share = shard.plan_shares(inventory, None, 2)[1]
    first = sorted(helper_share)[0]
    seen = {d.device_id: d for d in result.report.devices}
    # every device exactly once; the one the helper delivered is its report, not re-polled
    assert [d.device_id for d in result.report.devices] == [d.id for _b, d in inventory.devices()]
    assert seen[first].status.error_message == "invented by the dying helper"
    # the rest of its share was polled here: the simulator's real answers
    rest = helper_share - {first}
    assert rest
    for device_id in rest:
        kind = seen[device_id].status.error_kind
        assert (kind.value if kind else None) == truth[device_id]["expected_error"], device_id
    assert result.report.finished_at - result.report.started_at < dt.timedelta(seconds=60)


def test_shares_balance_channels_and_leave_no_device_out() -> None:
    inventory = Inventory.model_validate(
        {
            "branches": [
                {
                    "id": f"B{b}",
                    "name": f"网点{b}",
                    "hours": {"mon": "08:30-17:00"},
                    "devices": [
                        {
                            "id": f"B{b}-D{d}",
                            "name": f"录像机{d}",
                            "kind": "nvr",
                            "onvif": f"http://10.0.{b}.{d + 1}/onvif/device_service",
                            "username": "audit",
                            "password": "${PW}",
                            "channels": [
                                {
                                    "id": f"B{b}-D{d}-C{c}",
                                    "name": f"{c}号柜台",
                                    "role": "counter",
                                    "ref": {"channel": c},
                                }
                                for c in range(1, 2 + (b + d) % 8)
                            ],
                        }
                        for d in range(3)
                    ],
                }
                for b in range(12)
            ]
        }
    )
    shares = shard.plan_shares(inventory, None, 3)
    every = [d.id for _b, d in inventory.devices()]
    assert sorted(x for share in shares for x in share) == sorted(every)
    size = {d.id: len(d.channels) for _b, d in inventory.devices()}
    loads = [sum(size[x] for x in share) for share in shares]
    weights = [shard.PARENT_WEIGHT, 1.0, 1.0]
    per_weight = [load / weight for load, weight in zip(loads, weights, strict=True)]
    assert max(per_weight) - min(per_weight) <= max(size.values())
    only = shard.plan_shares(inventory, {"B0"}, 3)
    assert set().union(*only) == {d.id for b, d in inventory.devices() if b.id == "B0"}
    assert shard.process_count(0, 10) == 1
    assert shard.process_count(2, 10) == 2

    # a helper is sent only its share: those devices, in their branches, nothing else
    for share in shares[1:]:
        part = shard.share_of(inventory, share)
        assert {d.id for _b, d in part.devices()} == share
        assert {b.id for b in part.branches} == {
            b.id for b, d in inventory.devices() if d.id in share
        }
        assert part.policy == inventory.policy and part.timezone == inventory.timezone
        original = {d.id: d for _b, d in inventory.devices()}
        assert all(d == original[d.id] for _b, d in part.devices())


@pytest.mark.timeout(120)
async def test_a_helper_that_cannot_start_loses_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shard, "HELPER_COMMAND", (str(tmp_path / "no-such-python"),))
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(SCENARIO, inventory_out=path) as fleet:
        inventory = load_inventory(path)
        result = await _run(tmp_path / "db", inventory, path, processes=2)
        truth = fleet.truth["devices"]
    assert [d.device_id for d in result.report.devices] == [d.id for _b, d in inventory.devices()]
    for device in result.report.devices:
        kind = device.status.error_kind
        assert (kind.value if kind else None) == truth[device.device_id]["expected_error"]
    assert "helper did not start" in caplog.text
