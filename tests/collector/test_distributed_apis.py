"""A round's workers read every recorder as ``vidaudit collect`` does: ONVIF, Hikvision
ISAPI, the Dahua HTTP API and GB/T 28181 through the SIP service (``gb serve``), with
the footage vendor reads settled carried to the next round.  A worker on a host without
the GB/T 28181 service stores each GB/T 28181 recorder it is given as unreachable, with
a message that names the worker and where those recorders are read.

Real ``vidaudit worker`` processes on PostgreSQL; the simulated recorders and the GB/T
28181 service (what ``gb serve`` runs, its registrations in its own SQLite) in a thread
of this process, the service's control file in ``gbhost/``: a worker started with that
data directory stands on the service's host, one started with another does not.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collector.distributed_kit import Cluster
from tests.gb28181.conftest import wait_for
from tests.sim.vendor_lab import VENDOR_LAB
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.gbservice.service import running_service
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

WEEKDAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
GB_BRANCH: dict[str, Any] = {
    "id": "GBX",
    "name": "国标网点",
    "hours": WEEKDAYS,
    "devices": [
        {
            "id": "GBX-NVR1",
            "vendor": "hikvision",
            "api": "gb28181",
            "clock_drift_s": 30,
            "channels": [
                {"id": "GBX-C1", "role": "counter"},
                {"id": "GBX-C2", "role": "vault", "retention_days": 40},
            ],
        },
        # never registers: unreachable, "not registered"
        {"id": "GBX-NVR2", "vendor": "dahua", "api": "gb28181", "offline": True, "channels": 1},
    ],
}
GB_DEVICES = ("GBX-NVR1", "GBX-NVR2")


def scenario() -> Any:
    lab = dict(VENDOR_LAB)
    branch = dict(lab["branches"][0])
    branch["devices"] = [
        *branch["devices"],
        {"id": "ONV", "vendor": "uniview", "channels": [{"id": "ONV-C1", "role": "counter"}]},
        {"id": "DAHPW", "vendor": "dahua", "api": "dahua", "wrong_password": True, "channels": 1},
    ]
    lab["branches"] = [branch, GB_BRANCH]
    lab["gb28181"] = {"keepalive_s": 5}
    return parse_scenario(lab)


@dataclass
class Lab:
    inventory: Path
    truth: dict[str, Any]
    #: the data directory of the GB/T 28181 service's host (its control file is there)
    gbhost: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("apis")
    inventory, truth = tmp / "cameras.sim.yaml", tmp / "truth.json"
    gbhost = tmp / "gbhost"
    ready, failed = threading.Event(), []
    stop: dict[str, Any] = {}

    async def serve() -> None:
        try:
            settings = Settings(data_dir=gbhost)
            engine = make_engine(settings)
            upgrade(engine)
            async with running_fleet(scenario(), inventory_out=inventory, truth_out=truth) as fleet:
                loaded = load_inventory(inventory)
                sessions = make_sessionmaker(engine)
                async with running_service(
                    settings, loaded, inventory, sessions, sip_sockets=fleet.gb_sip_sockets
                ) as service:
                    expected = {
                        t["gb_id"]
                        for t in fleet.truth["devices"].values()
                        if t["api"] == "gb28181" and t["expected_error"] != "unreachable"
                    }
                    await wait_for(
                        lambda: all(service.platform.registration(g) for g in expected), 30
                    )
                    stop["event"] = asyncio.Event()
                    stop["loop"] = asyncio.get_running_loop()
                    ready.set()
                    await stop["event"].wait()
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(90), "the fleet and the GB/T 28181 service to start"
    assert not failed, failed
    try:
        yield Lab(inventory, json.loads(truth.read_text(encoding="utf-8")), gbhost)
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(30)


def round_document(cluster: Cluster) -> dict[str, Any]:
    done = cluster.cli("schedule", "--once", "--wait", "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    assert "late" not in document
    return document


def device_states(document: dict[str, Any]) -> dict[str, str | None]:
    return {d["id"]: d["error"] and d["error"]["kind"] for d in document["devices"]}


def test_a_round_reads_every_api_as_collect_does(pg_url: str, tmp_path: Path, lab: Lab) -> None:
    cluster = Cluster(pg_url, tmp_path, lab.inventory, VIDAUDIT_DATA_DIR=str(lab.gbhost))
    try:
        cluster.worker("--concurrency", "8")  # every queue, gb28181's included
        cluster.wait_for_workers(1)
        first = round_document(cluster)
        expected = {d: t["expected_error"] for d, t in lab.truth["devices"].items()}
        assert device_states(first) == expected
        vendor = {d for d, t in lab.truth["devices"].items() if t["api"] in ("isapi", "dahua")}
        devices = {d["id"]: d for d in first["devices"]}
        # read through the vendor API: disks (R6.storage) and serial, as collect gives them
        assert devices["HIKOLD"]["storage"] is not None
        assert [v["rule"] for v in devices["HIKOLD"]["violations"]] == ["R6.storage"]
        # (Hikvision's serial number starts with the model)
        assert devices["HIK"]["serial"].endswith(lab.truth["devices"]["HIK"]["serial"])
        # GB/T 28181, through the service: identity, clock and footage read
        assert devices["GBX-NVR1"]["manufacturer"]
        assert abs(devices["GBX-NVR1"]["clock_drift_s"] - 30) <= 1.5
        assert devices["GBX-NVR2"]["error"]["message"] == "not registered"
        gb_channels = [c for c in first["channels"] if c["device"] == "GBX-NVR1"]
        assert gb_channels and all(c["retention_days"] is not None for c in gb_channels)

        # what the vendor reads settled was stored by the worker, with the observations
        settled = dict(cluster.rows("SELECT channel_id, read_in_full_at FROM settled_footage"))
        readable = {
            c
            for c, t in lab.truth["channels"].items()
            if t["device"] in vendor and expected[t["device"]] is None
        }
        assert settled.keys() == readable

        # the next round builds on it (not read in full again) and reaches the same answers
        second = round_document(cluster)
        assert device_states(second) == expected
        again = dict(cluster.rows("SELECT channel_id, read_in_full_at FROM settled_footage"))
        assert again == settled

        # `collect` on the same host, through its own path: the same document and verdicts
        collected = cluster.cli("collect", "--format", "json")
        assert collected.returncode == 0, collected.stderr
        other = json.loads(collected.stdout)

        def verdicts(doc: dict[str, Any]) -> Any:
            return (
                [
                    (d["id"], d["online"], d["error"], d["serial"], d["storage"])
                    for d in doc["devices"]
                ],
                [
                    (c["id"], c["compliant"], sorted(v["rule"] for v in c["violations"]))
                    for c in doc["channels"]
                ],
            )

        assert [d.keys() for d in other["devices"]] == [d.keys() for d in second["devices"]]
        assert verdicts(other) == verdicts(second)
    finally:
        cluster.close()


def test_a_worker_away_from_the_gb_service_says_so_per_recorder(
    pg_url: str, tmp_path: Path, lab: Lab
) -> None:
    # its own data directory: no GB/T 28181 service on this "host"
    cluster = Cluster(pg_url, tmp_path, lab.inventory)
    try:
        cluster.worker("--concurrency", "8")
        cluster.wait_for_workers(1)
        document = round_document(cluster)
    finally:
        cluster.close()
    devices = {d["id"]: d for d in document["devices"]}
    for device_id in GB_DEVICES:
        error = devices[device_id]["error"]
        assert error["kind"] == "unreachable", device_id
        message = error["message"]
        assert "vidaudit gb serve" in message and "'gb28181'" in message, message
        assert "seen from worker" in message, message
        rules = {
            tuple(v["rule"] for v in c["violations"])
            for c in document["channels"]
            if c["device"] == device_id
        }
        assert rules == {("R6.offline",)}, device_id
    # every other recorder is read as usual
    expected = {d: t["expected_error"] for d, t in lab.truth["devices"].items()}
    assert {d: k for d, k in device_states(document).items() if d not in GB_DEVICES} == {
        d: k for d, k in expected.items() if d not in GB_DEVICES
    }
    # and the worker's log says it, per recorder and per try, as one JSON object a line
    lines = [json.loads(line) for line in cluster.log(0).splitlines()]
    absent = {line["device_id"] for line in lines if line.get("action") == "gb_service_absent"}
    assert absent == set(GB_DEVICES)
