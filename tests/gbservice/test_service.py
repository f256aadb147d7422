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
        async with running_service(settings, inventory, path, sessions) as service:
            await wait_for(lambda: service.platform.registration(gb_id) is not None)
            await wait_for(lambda: len(load_registrations(sessions())) == 1)
        assert not settings.gb_control_file.exists(), "the control file goes with the service"
        async with running_service(settings, inventory, path, sessions) as service:
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


async def test_the_control_channel_refuses_a_wrong_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        inventory = load_inventory(path)
        async with running_service(settings, inventory, path, make_sessionmaker(engine)):
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
