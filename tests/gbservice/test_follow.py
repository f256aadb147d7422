"""A running GB/T 28181 service takes up an edited cameras.yaml: a recorder added to the
file registers without a restart, one removed loses its registration (in memory and in
the database), a broken edit changes nothing, and a new platform password is used for
REGISTERs from then on.  Real SIP between the service and the simulated recorders."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.gb28181.conftest import wait_for
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.gb28181.platform import Platform, PlatformIdentity
from vidaudit.gbservice.follow import apply_inventory
from vidaudit.gbservice.service import running_service
from vidaudit.gbservice.store import load_registrations
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

pytestmark = pytest.mark.timeout(120)

SCENARIO: dict[str, Any] = {
    "seed": 29,
    # keepalives far apart: what the test sees comes from REGISTERs and the edit
    "gb28181": {"keepalive_s": 300},
    "branches": [
        {
            "id": "S1",
            "name": "石门分理处",
            "hours": {"mon": "08:30-17:00"},
            "devices": [
                {"id": "S1-NVR1", "vendor": "hikvision", "api": "gb28181", "channels": 1},
                {"id": "S1-NVR2", "vendor": "dahua", "api": "gb28181", "channels": 1},
            ],
        }
    ],
}


def write_edit(path: Path, document: dict[str, Any]) -> None:
    """As an editor saves: a new file renamed over the old one."""
    scratch = path.with_suffix(".saving")
    scratch.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    os.replace(scratch, path)


def with_devices(document: dict[str, Any], *ids: str) -> dict[str, Any]:
    edited = yaml.safe_load(yaml.safe_dump(document))
    branch = edited["branches"][0]
    branch["devices"] = [d for d in branch["devices"] if d["id"] in ids]
    return edited


async def test_an_edited_inventory_changes_who_may_register(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, inventory_check_s=1)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        full = yaml.safe_load(path.read_text(encoding="utf-8"))
        first, second = fleet.gb_recorders["S1-NVR1"], fleet.gb_recorders["S1-NVR2"]
        first_id, second_id = first.ident.device_id, second.ident.device_id
        write_edit(path, with_devices(full, "S1-NVR1"))  # the second is not in the file yet
        async with running_service(
            settings, load_inventory(path), path, sessions, sip_sockets=fleet.gb_sip_sockets
        ) as service:
            platform = service.platform
            await wait_for(lambda: platform.registration(first_id) is not None)
            await wait_for(lambda: second.counters.refused >= 1)  # 403: not in the inventory
            assert platform.registration(second_id) is None

            # the second added, the first removed, in one save
            write_edit(path, with_devices(full, "S1-NVR2"))
            await wait_for(lambda: platform.registration(second_id) is not None, timeout_s=30)
            assert platform.registration(first_id) is None

            def stored() -> list[str]:
                with sessions() as session:
                    return [r.gb_id for r in load_registrations(session)]

            await wait_for(lambda: stored() == [second_id])
            assert any(
                getattr(r, "action", None) == "gb28181_inventory_applied" for r in caplog.records
            )

            # a broken edit is refused by the loader and changes nothing
            path.write_text("branches: [\n", encoding="utf-8")
            await wait_for(
                lambda: any(
                    getattr(r, "action", None) == "inventory_rejected" for r in caplog.records
                ),
                timeout_s=30,
            )
            assert set(platform.devices) == {second_id}
            assert platform.registration(second_id) is not None
    engine.dispose()


async def test_beside_the_web_view_it_takes_the_inventory_the_view_keeps(
    tmp_path: Path,
) -> None:
    """In ``vidaudit serve`` the web view watches cameras.yaml and the service follows
    the view's inventory (``current``) rather than parsing the file a second time: what
    it allows is what ``current()`` says, whatever the file says meanwhile."""
    settings = Settings(data_dir=tmp_path / "data", inventory_check_s=1)
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        full = yaml.safe_load(path.read_text(encoding="utf-8"))
        first, second = fleet.gb_recorders["S1-NVR1"], fleet.gb_recorders["S1-NVR2"]
        both = tmp_path / "both.yaml"
        write_edit(both, full)
        write_edit(path, with_devices(full, "S1-NVR1"))
        in_use = [load_inventory(path)]
        async with running_service(
            settings,
            in_use[0],
            path,
            make_sessionmaker(engine),
            sip_sockets=fleet.gb_sip_sockets,
            current=lambda: in_use[0],
        ) as service:
            platform = service.platform
            await wait_for(lambda: platform.registration(first.ident.device_id) is not None)
            await wait_for(lambda: second.counters.refused >= 1)
            # the file now says only the second; the view's inventory says both
            write_edit(path, with_devices(full, "S1-NVR2"))
            in_use[0] = load_inventory(both)
            await wait_for(
                lambda: platform.registration(second.ident.device_id) is not None, timeout_s=30
            )
            assert set(platform.devices) == {first.ident.device_id, second.ident.device_id}
            assert platform.registration(first.ident.device_id) is not None
    engine.dispose()


def platform_for(path: Path) -> Platform:
    inventory = load_inventory(path)
    assert inventory.gb28181 is not None
    return Platform(
        PlatformIdentity(inventory.gb28181.id, inventory.gb28181.domain, SecretStr("before")),
        {},
    )


async def test_a_new_platform_password_is_used_and_an_unresolvable_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "cameras.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    inventory = load_inventory(path)
    started = inventory.gb28181
    assert started is not None
    platform = platform_for(path)
    env = (tmp_path / "cameras.env").read_text(encoding="utf-8")
    password = next(
        line.partition("=")[2] for line in env.splitlines() if line.startswith("VIDAUDIT_GB_")
    )

    apply_inventory(platform, started, inventory, path)
    assert platform.identity.password.get_secret_value() == password
    assert set(platform.devices) == {d["gb_id"] for d in document["branches"][0]["devices"]}
    assert not [r for r in caplog.records if getattr(r, "action", None) == "gb28181_restart_needed"]

    # a reference that no longer resolves: the password in use stays
    document["gb28181"]["password"] = "${VIDAUDIT_NOT_SET_ANYWHERE}"
    write_edit(path, document)
    apply_inventory(platform, started, load_inventory(path), path)
    assert platform.identity.password.get_secret_value() == password
    kept = [r for r in caplog.records if getattr(r, "action", None) == "gb28181_password_kept"]
    assert kept and "VIDAUDIT_NOT_SET_ANYWHERE" in kept[0].getMessage()
    assert password not in caplog.text

    # the listen address is what recorders reach: a change needs a restart, and says so
    document["gb28181"]["password"] = "${VIDAUDIT_GB_PASSWORD}"
    document["gb28181"]["listen"] = "127.0.0.1:5999"
    write_edit(path, document)
    apply_inventory(platform, started, load_inventory(path), path)
    assert [r for r in caplog.records if getattr(r, "action", None) == "gb28181_restart_needed"]


async def test_a_rotated_password_file_is_used_without_an_inventory_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rotating the platform password rewrites its password_file alone: cameras.yaml
    does not change, and the running service still takes the new one up."""
    caplog.set_level(logging.INFO)
    settings = Settings(data_dir=tmp_path / "data", inventory_check_s=1)
    engine = make_engine(settings)
    upgrade(engine)
    path = tmp_path / "cameras.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    secret = tmp_path / "gb.pw"
    secret.write_text("first-Secret-1\n", encoding="utf-8")
    del document["gb28181"]["password"]
    document["gb28181"]["password_file"] = "gb.pw"
    document["gb28181"]["listen"] = "127.0.0.1:0"
    write_edit(path, document)
    async with running_service(
        settings, load_inventory(path), path, make_sessionmaker(engine)
    ) as service:
        identity = lambda: service.platform.identity  # noqa: E731
        assert identity().password.get_secret_value() == "first-Secret-1"
        secret.write_text("second-Secret-2\n", encoding="utf-8")
        await wait_for(
            lambda: identity().password.get_secret_value() == "second-Secret-2", timeout_s=30
        )
        secret.unlink()  # gone: the password in use stays, and the log says why
        await wait_for(
            lambda: any(
                getattr(r, "action", None) == "gb28181_password_kept" for r in caplog.records
            ),
            timeout_s=30,
        )
        assert identity().password.get_secret_value() == "second-Secret-2"
    assert "Secret-" not in caplog.text
    engine.dispose()
