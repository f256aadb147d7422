"""The GB/T 28181 service: registrations kept in the database across its restart (SQLite
and PostgreSQL), its control channel refusing a wrong token, and the collector's verdict
when the service is not running at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gb28181.conftest import wait_for
from vidaudit.collector.run import collect
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.gb28181.control import ControlClient
from vidaudit.gb28181.errors import GbError
from vidaudit.gbservice.service import running_service
from vidaudit.gbservice.store import load_registrations
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

pytestmark = pytest.mark.timeout(120)

SCENARIO: dict[str, Any] = {
    "seed": 23,
    # keepalives far apart: a re-registration during the test would hide a lost one
    "gb28181": {"keepalive_s": 300},
    "branches": [
        {
            "id": "S1",
            "name": "石门分理处",
            "hours": {"mon": "08:30-17:00", "tue": "08:30-17:00"},
            "devices": [{"id": "S1-NVR1", "vendor": "hikvision", "api": "gb28181", "channels": 2}],
        }
    ],
}


async def test_registrations_survive_the_services_restart(db_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        recorder = fleet.gb_recorders["S1-NVR1"]
        gb_id = recorder.ident.device_id
        async with running_service(
            settings, inventory, path, sessions, sip_sockets=fleet.gb_sip_sockets
        ) as service:
            await wait_for(lambda: service.platform.registration(gb_id) is not None)
            await wait_for(lambda: len(load_registrations(sessions())) == 1)
        assert not settings.gb_control_file.exists(), "the control file goes with the service"
        async with running_service(
            settings, inventory, path, sessions, sip_sockets=fleet.gb_sip_sockets
        ) as service:
            # known at once, from the database: the recorder did not register again
            assert service.platform.registration(gb_id) is not None
            assert recorder.counters.registers == 1
            async with ControlClient.open(settings.gb_control_file) as client:
                assert gb_id in await client.registrations()
                catalog = await client.catalog(gb_id, timeout_s=5)
            assert sorted(c.device_id for c in catalog) == sorted(
                recorder.ident.channel_ids.values()
            )
    engine.dispose()


async def test_the_fleets_platform_port_is_held_until_the_service_listens_on_it(
    tmp_path: Path,
) -> None:
    """The port the fleet's recorders register to is written into the inventory before
    the service starts: it stays bound meanwhile (nothing else can take it), and the
    service listens on exactly it, as its control file says."""
    import socket

    from vidaudit.gb28181.control import ControlFile

    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        assert inventory.gb28181 is not None
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as other, pytest.raises(OSError):
                other.bind(("127.0.0.1", inventory.gb28181.port))
        async with running_service(
            settings, inventory, path, make_sessionmaker(engine), sip_sockets=fleet.gb_sip_sockets
        ) as service:
            assert service.port == inventory.gb28181.port
            assert ControlFile.read(settings.gb_control_file).sip == inventory.gb28181.listen
    engine.dispose()


async def test_the_control_channel_refuses_a_wrong_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        async with running_service(
            settings, inventory, path, make_sessionmaker(engine), sip_sockets=fleet.gb_sip_sockets
        ):
            control = json.loads(settings.gb_control_file.read_text(encoding="utf-8"))
            assert settings.gb_control_file.stat().st_mode & 0o077 == 0  # only its user
            async with aiohttp.ClientSession() as http:
                async with http.get(
                    control["url"] + "/registrations", headers={"Authorization": "Bearer no"}
                ) as response:
                    assert response.status == 401
                async with http.post(
                    control["url"] + "/query",
                    data=b"{not json",
                    headers={"Authorization": f"Bearer {control['token']}"},
                ) as response:
                    assert response.status == 400
                    assert (await response.json())["error"]["kind"] == "malformed"


async def test_without_the_service_gb_recorders_are_unreachable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        inventory = load_inventory(path)
        with pytest.raises(GbError, match="not running"):
            async with ControlClient.open(settings.gb_control_file):
                pass
        result = await collect(settings, inventory, path, make_sessionmaker(engine))
    (device,) = result.report.devices
    assert device.status.error_kind is not None
    assert device.status.error_kind.value == "unreachable"
    assert "gb serve" in (device.status.error_message or "")


async def test_vidaudit_serve_runs_the_sip_service_beside_the_web_view(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal
    import socket
    import sys

    import yaml

    from vidaudit.gb28181.control import ControlFile

    # Port 0 for both: each server binds a free port itself and says which (the SIP
    # service in its control file); a port found free here could be taken before then.
    inventory = {
        "env_file": "gb.env",
        "gb28181": {
            "id": "34020000002000000001",
            "domain": "3402000000",
            "listen": "127.0.0.1:0",
            "password": "${VIDAUDIT_GB_PASSWORD}",
        },
        "branches": [
            {
                "id": "S1",
                "name": "石门分理处",
                "hours": {"mon": "08:30-17:00"},
                "devices": [
                    {
                        "id": "S1-NVR1",
                        "kind": "nvr",
                        "api": "gb28181",
                        "gb_id": "34020000001110000001",
                        "channels": [
                            {"id": "S1-C1", "name": "1号柜台", "role": "counter",
                             "ref": {"gb_id": "34020000001320000001"}}
                        ],
                    }
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True), encoding="utf-8")
    (tmp_path / "gb.env").write_text("VIDAUDIT_GB_PASSWORD=pw-1234567\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(make_engine(settings))
    env = {
        **os.environ,
        "VIDAUDIT_DATA_DIR": str(settings.data_dir),
        "VIDAUDIT_INVENTORY": str(path),
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "vidaudit"), "serve", "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_for(lambda: settings.gb_control_file.exists() or process.returncode, 30)
        assert process.returncode is None
        sip_port = int(ControlFile.read(settings.gb_control_file).sip.rpartition(":")[2])
        async with ControlClient.open(settings.gb_control_file) as client:
            assert await client.registrations() == {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip:
            sip.settimeout(5)  # the SIP port answers: an unknown ID is refused
            sip.sendto(
                b"OPTIONS sip:34020000002000000001@3402000000 SIP/2.0\r\n"
                b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
                b"To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                ("127.0.0.1", sip_port),
            )
            assert sip.recv(4096).startswith(b"SIP/2.0 200")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            await process.communicate()
    assert not settings.gb_control_file.exists()
