"""Each injected fault, and what a client (onvif-zeep-async or plain aiohttp) sees."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import zeep.exceptions
from lxml import etree

from tests.sim.conftest import ALL_DAYS, camera, soap, username_token
from vidaudit.sim import parse_scenario, running_fleet
from vidaudit.sim.faults import XML_BOMB
from vidaudit.sim.fleet import Fleet

pytestmark = pytest.mark.timeout(60)
KINDS = ["hang", "slow", "http500", "malformed", "truncated", "xml_bomb", "huge", "reset"]


def fault_scenario() -> Any:
    devices: list[dict[str, Any]] = [
        {"id": f"F-{kind}", "channels": 1, "fault": {"kind": kind, "delay_s": 1.5}}
        for kind in KINDS
    ]
    devices.append(
        {
            "id": "F-scoped",
            "channels": 1,
            "fault": {"kind": "http500", "operations": ["FindEvents"]},
        }
    )
    devices.append({"id": "F-offline", "channels": 1, "offline": True})
    return parse_scenario(
        {"branches": [{"id": "LAB", "name": "故障网点", "hours": ALL_DAYS, "devices": devices}]}
    )


async def info(fleet: Fleet, device_id: str) -> Any:
    dev = fleet.device(device_id)
    async with camera(dev) as cam:
        dm = await cam.create_devicemgmt_service()
        return await dm.GetDeviceInformation()


async def test_expected_errors_in_truth() -> None:
    async with running_fleet(fault_scenario()) as fleet:
        expected = {d: t["expected_error"] for d, t in fleet.truth["devices"].items()}
        assert expected == {
            "F-hang": "timeout",
            "F-slow": None,
            "F-http500": "device_fault",
            "F-malformed": "malformed",
            "F-truncated": "malformed",
            "F-xml_bomb": "malformed",
            "F-huge": "malformed",
            "F-reset": "unreachable",
            "F-scoped": None,  # FindEvents only enriches: online, gaps unknown
            "F-offline": "unreachable",
        }
        assert fleet.truth["devices"]["F-offline"]["online"] is False


async def test_hang_accepts_then_says_nothing() -> None:
    async with running_fleet(fault_scenario()) as fleet:
        dev = fleet.device("F-hang")
        reader, writer = await asyncio.open_connection(dev.host, dev.port)
        writer.write(b"POST /onvif/device_service HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await reader.read(1)
        writer.close()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await info(fleet, "F-hang")
    # Shutdown released the hung connection promptly (the fleet context exited).


async def test_slow_answers_late() -> None:
    async with running_fleet(fault_scenario()) as fleet:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await info(fleet, "F-slow")
        started = time.monotonic()
        async with asyncio.timeout(10):
            answer = await info(fleet, "F-slow")
        assert answer.Manufacturer == "vidaudit-sim"
        assert time.monotonic() - started >= 1.4


async def test_http500_and_malformed() -> None:
    async with running_fleet(fault_scenario()) as fleet, asyncio.timeout(20):
        # An embedded web server's HTML error page: zeep finds no SOAP fault in it.
        with pytest.raises(zeep.exceptions.Fault) as fault:
            await info(fleet, "F-http500")
        assert fault.value.message == "Unknown fault occured"
        assert b"500 Internal Server Error" in fault.value.detail
        # onvif-zeep-async runs zeep with strict=False, so lxml *recovers* broken XML:
        # the call "succeeds" with a silently damaged answer.  A strict parser refuses it.
        damaged = await info(fleet, "F-malformed")
        assert damaged.HardwareId != "V1.0"
        dev = fleet.device("F-malformed")
        body = soap(
            "<tds:GetDeviceInformation/>",
            username_token(dev.plan.username, dev.plan.password, dev.now()),
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(dev.device_url, data=body, timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            raw = await resp.read()
        assert resp.status == 200
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(raw)


async def test_truncated_body_is_a_payload_error() -> None:
    async with running_fleet(fault_scenario()) as fleet, asyncio.timeout(20):
        with pytest.raises(aiohttp.ClientPayloadError):
            await info(fleet, "F-truncated")


async def test_xml_bomb_is_never_expanded() -> None:
    async with running_fleet(fault_scenario()) as fleet, asyncio.timeout(20):
        started = time.monotonic()
        with pytest.raises((zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden)):
            await info(fleet, "F-xml_bomb")
        assert time.monotonic() - started < 5
        assert len(XML_BOMB) < 2000  # small on the wire, a billion 'lol's if expanded


async def test_huge_response_is_streamed() -> None:
    async with running_fleet(fault_scenario()) as fleet:
        dev = fleet.device("F-huge")
        body = soap(
            "<tds:GetDeviceInformation/>",
            username_token(dev.plan.username, dev.plan.password, dev.now()),
        )
        received = 0
        async with (
            aiohttp.ClientSession() as http,
            http.post(dev.device_url, data=body, timeout=aiohttp.ClientTimeout(total=30)) as resp,
        ):
            assert resp.status == 200
            assert int(resp.headers["Content-Length"]) >= 50 * 1024 * 1024
            async for chunk in resp.content.iter_chunked(1 << 20):
                received += len(chunk)
                tail = chunk
        assert received >= 50 * 1024 * 1024
        assert tail.rstrip().endswith(b"</env:Envelope>")  # well-formed, only too big


async def test_reset_and_offline_are_connection_errors() -> None:
    async with running_fleet(fault_scenario()) as fleet, asyncio.timeout(20):
        with pytest.raises(aiohttp.ClientError):
            await info(fleet, "F-reset")
        dev = fleet.device("F-offline")
        with pytest.raises(OSError):
            await asyncio.open_connection(dev.host, dev.port)


async def test_fault_limited_to_some_operations() -> None:
    async with running_fleet(fault_scenario()) as fleet, asyncio.timeout(20):
        assert (await info(fleet, "F-scoped")).Manufacturer == "vidaudit-sim"
        dev = fleet.device("F-scoped")
        body = soap(
            "<tse:FindEvents><tse:StartPoint>2026-01-01T00:00:00Z</tse:StartPoint><tse:Scope/>"
            "<tse:IncludeStartState>false</tse:IncludeStartState>"
            "<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindEvents>",
            username_token(dev.plan.username, dev.plan.password, dev.now()),
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                dev.xaddr("search"), data=body, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp,
        ):
            assert resp.status == 500 and resp.content_type == "text/html"


async def test_hostile_requests_are_refused_not_expanded() -> None:
    async with running_fleet(fault_scenario()) as fleet:
        dev = fleet.device("F-slow")  # any answering device; the check runs before faults
        async with aiohttp.ClientSession() as http:
            async with http.post(
                dev.device_url, data=XML_BOMB, timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                assert resp.status == 400 and "env:Sender" in await resp.text()
            async with http.post(
                dev.device_url, data=b"<not xml", timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                assert resp.status == 400
            async with http.post(
                dev.device_url,
                data=b"x" * (2 * 1024 * 1024),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                assert resp.status == 413
