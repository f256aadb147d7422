"""Every real ISAPI capture in ../shared/fixtures/isapi, read by our parsers.

These replies were written by Hikvision devices, not by us: the parsers must read the
fields the collector needs from them, in both XML namespaces that occur.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.isapi.captures import DUMPS, capture, dump_reply, isapi_dir
from vidaudit.devicehttp.client import HttpPool, HttpSettings
from vidaudit.devicehttp.xmlstrict import text_of
from vidaudit.errors import DeviceError
from vidaudit.inventory.schema import Credentials
from vidaudit.isapi import parse

GB = 1024 * 1024


def test_every_capture_is_covered_by_a_test() -> None:
    # A new capture dropped into the folder must get a test here (or in the list below).
    covered = {
        "ContentMgmt.Storage.hdd1.ok.xml",
        "ContentMgmt.Storage.hdd1_nas1.ok.xml",
        "ResponseStatus.badXmlContent.picture.xml",
        "ResponseStatus.deviceError.picture.xml",
        "System.deviceInfo.camera.DS-2CD2155FWD-I.V5.4.5.xml",
        "System.deviceInfo.camera.DS-2CD2155FWD-I.V5.5.0.xml",
        "System.deviceInfo.camera.DS-2CD2386G2-IU.xml",
        "System.deviceInfo.nvr.DS-7608NXI-I2.xml",
        "System.status.DS-2CD2155FWD-I.V5.4.5.xml",
        "System.status.DS-2CD2155FWD-I.V5.5.0.xml",
        "http401.digest-challenge.DS-2CD2155FWD-I.V5.5.0.headers.json",
        "http401.digest-challenge.DS-2CD2155FWD-I.V5.5.0.body.html",
        *DUMPS,
    }
    present = {p.name for p in isapi_dir().iterdir() if p.suffix in (".xml", ".json", ".html")}
    assert present <= covered, f"captures without a test: {sorted(present - covered)}"


def test_nvr_device_info_isapi_org_namespace() -> None:
    info = parse.device_info(capture("System.deviceInfo.nvr.DS-7608NXI-I2.xml"))
    assert info.manufacturer == "Hikvision"
    assert info.model == "DS-7608NXI-I2/8P/S"
    assert info.firmware == "V4.62.210 build 230612"
    assert info.serial.startswith("DS-7608NXI-I0/0P/S")  # identity pinning needs it
    assert info.hardware_id == "0100000092010000"


@pytest.mark.parametrize(
    ("name", "model", "firmware"),
    [
        ("System.deviceInfo.camera.DS-2CD2155FWD-I.V5.4.5.xml", "DS-2CD2155FWD-I", "V5.4.5"),
        ("System.deviceInfo.camera.DS-2CD2155FWD-I.V5.5.0.xml", "DS-2CD2155FWD-I", "V5.5.0"),
        ("System.deviceInfo.camera.DS-2CD2386G2-IU.xml", "DS-2CD2386G2-IU", "V5.7.18"),
    ],
)
def test_camera_device_info_hikvision_namespace(name: str, model: str, firmware: str) -> None:
    info = parse.device_info(capture(name))
    assert (info.model, info.firmware.split()[0]) == (model, firmware)
    assert info.serial


def test_storage_full_disk_in_quota_mode() -> None:
    (disk,) = parse.storage(capture("ContentMgmt.Storage.hdd1.ok.xml"))
    assert (disk.id, disk.status, disk.state, disk.kind) == ("hdd1", "ok", "ok", "hdd")
    assert disk.capacity_bytes == 1907729 * GB
    assert disk.free_bytes == 0  # full is normal for a recorder that overwrites


def test_storage_hdd_in_ver10_namespace_and_nas() -> None:
    # The hddList switches to http://www.hikvision.com/ver10/XMLSchema mid-document.
    hdd, nas = parse.storage(capture("ContentMgmt.Storage.hdd1_nas1.ok.xml"))
    assert (hdd.id, hdd.state, hdd.capacity_bytes, hdd.free_bytes) == (
        "hdde",
        "ok",
        30436 * GB,
        27392 * GB,
    )
    assert (nas.kind, nas.state, nas.capacity_bytes) == ("nas", "ok", 122346 * GB)


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("ResponseStatus.badXmlContent.picture.xml", "device_fault", "Invalid XML Content"),
        ("ResponseStatus.deviceError.picture.xml", "device_fault", "Device Error"),
    ],
)
def test_response_status_where_a_result_was_expected(name: str, kind: str, words: str) -> None:
    with pytest.raises(DeviceError) as caught:
        parse.device_info(capture(name))
    assert caught.value.kind == kind
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("name", "utc"),
    [
        ("System.status.DS-2CD2155FWD-I.V5.5.0.xml", "1970-02-22T00:21:26+00:00"),
        ("System.status.DS-2CD2155FWD-I.V5.4.5.xml", "1970-04-14T04:14:55+00:00"),
    ],
)
def test_device_time_with_offset_as_cameras_write_it(name: str, utc: str) -> None:
    status = parse.root(capture(name), "DeviceStatus", "status")
    text = text_of(status, "currentDeviceTime")
    assert text is not None
    read = parse.parse_time(text, None)
    assert read is not None
    assert read == (dt.datetime.fromisoformat(utc), "local+offset")


@pytest.mark.parametrize("dump", DUMPS)
def test_nvr_dumps_identity_storage_channels_and_rtsp_port(dump: str) -> None:
    info = parse.device_info(dump_reply(dump, "System/deviceInfo"))
    assert info.model and info.serial
    disks = parse.storage(dump_reply(dump, "ContentMgmt/Storage"))
    assert [d.state for d in disks] == ["ok"]
    assert disks[0].capacity_bytes and disks[0].capacity_bytes > 0
    port = parse.rtsp_port(dump_reply(dump, "Security/adminAccesses"))
    channels = parse.channel_ids(dump_reply(dump, "ContentMgmt/InputProxy/channels"))
    expected = {
        # this NVR serves RTSP on 10554: the port must be read, not assumed
        "devices.DS-7608NXI-I2.nvr-dump.json": (10554, 4),
        # its list says size="14" and lists 18 channels: what is listed counts
        "devices.DS-7732NI-M4.nvr-dump.json": (554, 18),
        # a hybrid DVR: analog inputs, no IP channels behind InputProxy
        "devices.iDS-7208HQHI-M1.nvr-dump.json": (554, 0),
    }[dump]
    assert (port, len(channels)) == expected


def _challenge() -> tuple[int, dict[str, str], bytes]:
    headers = json.loads(
        capture("http401.digest-challenge.DS-2CD2155FWD-I.V5.5.0.headers.json").decode()
    )
    flat = {name: values[0] for name, values in headers["headers"].items()}
    body = capture("http401.digest-challenge.DS-2CD2155FWD-I.V5.5.0.body.html")
    return headers["status"]["code"], flat, body


def _params(header: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r'(\w+)="?([^",]*)"?', header)}


async def test_captured_digest_challenge_is_answered() -> None:
    """A server replaying the captured 401 (qop="auth", no algorithm, stale="FALSE")
    must get a correct MD5 digest answer from our client."""
    status, headers, body = _challenge()
    assert status == 401
    realm = _params(headers["WWW-Authenticate"])["realm"]
    nonce = _params(headers["WWW-Authenticate"])["nonce"]
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        if not auth:
            return web.Response(status=401, body=body, headers=headers)
        fields = dict(
            (m.group(1), m.group(2) or m.group(3))
            for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', auth[len("Digest ") :])
        )
        ha1 = hashlib.md5(f"admin:{realm}:secret".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{fields['uri']}".encode()).hexdigest()
        expected = hashlib.md5(
            f"{ha1}:{nonce}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}".encode()
        ).hexdigest()
        seen.append(fields)
        if fields["response"] != expected:
            return web.Response(status=401, body=body, headers=headers)
        return web.Response(body=capture("System.deviceInfo.camera.DS-2CD2155FWD-I.V5.5.0.xml"))

    app = web.Application()
    app.router.add_get("/ISAPI/System/deviceInfo", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        creds = Credentials(username="admin", password=SecretStr("secret"))
        async with (
            HttpPool(HttpSettings(call_timeout_s=5)) as pool,
            pool.open(f"http://127.0.0.1:{port}", creds) as device,
        ):
            reply = await device.request("GET", "/ISAPI/System/deviceInfo", operation="info")
            assert parse.device_info(reply.body).model == "DS-2CD2155FWD-I"
            # the challenge is reused: the second request is answered without a 401
            await device.request("GET", "/ISAPI/System/deviceInfo", operation="info")
        bad = Credentials(username="admin", password=SecretStr("wrong"))
        async with (
            HttpPool(HttpSettings(call_timeout_s=5)) as pool,
            pool.open(f"http://127.0.0.1:{port}", bad) as device,
        ):
            with pytest.raises(DeviceError) as caught:
                await device.request("GET", "/ISAPI/System/deviceInfo", operation="info")
            assert caught.value.kind == "auth"
            assert "wrong" not in caught.value.message
    finally:
        await runner.cleanup()
    assert seen[0]["qop"] == "auth" and seen[0]["uri"] == "/ISAPI/System/deviceInfo"
    assert [f["nc"] for f in seen[:2]] == ["00000001", "00000002"]
