"""SIPp -- a SIP implementation nobody here wrote -- plays a GB/T 28181 recorder against
``vidaudit gb serve`` (the real command, in its own process): REGISTER answering the digest
challenge, Keepalive, and answers to a Catalog query (two MESSAGEs, GB2312) and a
RecordInfo query (UTF-8, unsorted), over UDP and TCP.  The queries are asked the way the
collector asks them: through the service's control channel."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI
from tests.gb28181.conftest import (
    CHANNEL,
    CHANNEL2,
    DEVICE,
    DOMAIN,
    PASSWORD,
    PLATFORM_ID,
    wait_for,
)
from tests.gb28181.sipp_support import free_port
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.gb28181.control import ControlClient, ControlFile
from vidaudit.gbservice.store import load_registrations
from vidaudit.settings import Settings

SCENARIOS = Path(__file__).parent / "sipp"


def sipp() -> str:
    found = shutil.which("sipp")
    if found is None:
        if IN_CI:
            pytest.fail("sipp is missing: Debian's sip-tester is in scripts/debian-packages.txt")
        pytest.skip("sipp (Debian package sip-tester) is not installed")
    return found


def scenario_copy(name: str, tmp_path: Path) -> Path:
    data = (SCENARIOS / name).read_bytes()
    data = data.replace(b"@GBNAME1@", "1号柜台".encode("gb2312"))
    data = data.replace(b"@GBNAME2@", "金库门".encode("gb2312"))
    data = data.replace(b"@UTF8NAME@", "1号柜台".encode())
    out = tmp_path / name
    out.write_bytes(data)
    return out


async def start_sipp(
    scenario: Path,
    transport: str,
    platform_port: int,
    password: str,
    tmp_path: Path,
    out_of_call: Path | None = None,
) -> asyncio.subprocess.Process:
    extra = ["-oocsf", str(out_of_call)] if out_of_call is not None else []
    # SIPp refuses -set for a variable the scenario does not declare
    values = {"platform": PLATFORM_ID, "domain": DOMAIN}
    if out_of_call is not None:
        values |= {"channel": CHANNEL, "channel2": CHANNEL2}
    variables = [part for name, value in values.items() for part in ("-set", name, value)]
    return await asyncio.create_subprocess_exec(
        sipp(),
        "-sf", str(scenario),
        *extra,
        "-t", "u1" if transport == "udp" else "t1",
        "-i", "127.0.0.1",
        "-p", str(free_port()),
        "-m", "1",
        "-s", DEVICE,
        "-au", DEVICE,
        "-ap", password,
        *variables,
        "-timeout", "30s",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-error_file", str(tmp_path / "sipp_errors.log"),
        f"127.0.0.1:{platform_port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip


async def finish(process: asyncio.subprocess.Process, tmp_path: Path) -> int:
    async with asyncio.timeout(20):
        _out, err = await process.communicate()
    errors = tmp_path / "sipp_errors.log"
    detail = errors.read_text(errors="replace") if errors.exists() else ""
    assert process.returncode is not None
    if process.returncode != 0:
        print(err.decode(errors="replace"), detail)
    return process.returncode


@dataclass
class GbServe:
    port: int
    settings: Settings
    process: asyncio.subprocess.Process


@pytest.fixture
async def gb_serve(tmp_path: Path) -> AsyncIterator[GbServe]:
    """``vidaudit gb serve`` on a loopback port it picks itself (listen port 0: a port
    found free here and bound there later could be taken in between), named in its
    control file; SIPp's IDs in its inventory."""
    inventory = {
        "env_file": "gb.env",
        "gb28181": {
            "id": PLATFORM_ID,
            "domain": DOMAIN,
            "listen": "127.0.0.1:0",
            "password": "${VIDAUDIT_GB_PASSWORD}",
        },
        "branches": [
            {
                "id": "LAB",
                "name": "实验网点",
                "hours": {"mon": "08:30-17:00"},
                "devices": [
                    {
                        "id": "LAB-NVR1",
                        "kind": "nvr",
                        "vendor": "hikvision",
                        "api": "gb28181",
                        "gb_id": DEVICE,
                        "channels": [
                            {"id": "LAB-C1", "name": "1号柜台", "role": "counter",
                             "ref": {"gb_id": CHANNEL}},
                            {"id": "LAB-C2", "name": "金库门", "role": "vault",
                             "ref": {"gb_id": CHANNEL2}},
                        ],
                    }
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(inventory, allow_unicode=True), encoding="utf-8")
    (tmp_path / "gb.env").write_text(f"VIDAUDIT_GB_PASSWORD={PASSWORD}\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(make_engine(settings))
    env = {**os.environ, "VIDAUDIT_DATA_DIR": str(settings.data_dir)}
    env.pop("VIDAUDIT_DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "vidaudit"), "gb", "serve", "-c", str(path),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_for(lambda: settings.gb_control_file.exists() or process.returncode, 30)
        assert process.returncode is None, "vidaudit gb serve exited early"
        sip = ControlFile.read(settings.gb_control_file).sip
        host, _, port = sip.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0, sip
        yield GbServe(int(port), settings, process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            output, _ = await process.communicate()
        print(output.decode(errors="replace"))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_recorder_registers_keeps_alive_and_answers_queries(
    gb_serve: GbServe, transport: str, tmp_path: Path
) -> None:
    process = await start_sipp(
        scenario_copy("recorder.xml", tmp_path),
        transport,
        gb_serve.port,
        PASSWORD,
        tmp_path,
        out_of_call=scenario_copy("queries.xml", tmp_path),
    )
    try:
        async with ControlClient.open(gb_serve.settings.gb_control_file) as client:
            registrations: dict[str, Any] = {}

            async def poll() -> None:
                registrations.update(await client.registrations())

            async with asyncio.timeout(15):
                while DEVICE not in registrations:
                    await poll()
                    await asyncio.sleep(0.05)
            assert registrations[DEVICE]["transport"] == transport
            catalog = await client.catalog(DEVICE, timeout_s=10)
            assert {(c.device_id, c.name, c.status) for c in catalog} == {
                (CHANNEL, "1号柜台", "ON"),
                (CHANNEL2, "金库门", "OFF"),
            }
            records = await client.record_info(
                DEVICE,
                CHANNEL,
                dt.datetime(2026, 11, 20, 0, 0),
                dt.datetime(2026, 11, 21, 0, 0),
                timeout_s=10,
            )
        assert sorted((r.start, r.end) for r in records) == [
            (dt.datetime(2026, 11, 20, 8, 30), dt.datetime(2026, 11, 20, 9, 45)),
            (dt.datetime(2026, 11, 20, 10, 0), dt.datetime(2026, 11, 20, 11, 0)),
        ]
        assert {r.name for r in records} == {"1号柜台"}
    finally:
        code = await finish(process, tmp_path)
    assert code == 0, "SIPp's scenario failed (see the output above)"
    # the Keepalive reached the service: its database row was written after the REGISTER
    with make_sessionmaker(make_engine(gb_serve.settings))() as session:
        (row,) = load_registrations(session)
    assert row.last_seen_at > row.registered_at


async def test_sipp_recorder_with_the_wrong_password_is_refused(
    gb_serve: GbServe, tmp_path: Path
) -> None:
    process = await start_sipp(
        scenario_copy("register_refused.xml", tmp_path), "udp", gb_serve.port, "wrong", tmp_path
    )
    code = await finish(process, tmp_path)
    assert code == 0, "SIPp expected 401 then 403"
    async with ControlClient.open(gb_serve.settings.gb_control_file) as client:
        assert await client.registrations() == {}
