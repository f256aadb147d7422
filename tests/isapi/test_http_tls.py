"""The vendor APIs' HTTP client (ISAPI, Dahua) over real TLS: the certificate a recorder
presents is noted for its identity pin, as over ONVIF (``tests/onvif/test_onvif_tls.py``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.tls_kit import self_signed
from vidaudit.devicehttp.client import HttpPool, HttpSettings
from vidaudit.errors import DeviceError
from vidaudit.inventory.schema import Credentials

CREDS = Credentials(username="admin", password=SecretStr("S3cret-pw!"))
DEVICE_INFO = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<DeviceInfo xmlns="http://www.hikvision.com/ver20/XMLSchema">'
    b"<serialNumber>DS-1</serialNumber></DeviceInfo>"
)


async def serve(tmp_path: Path, name: str) -> tuple[web.AppRunner, str, bytes]:
    context, der = self_signed(tmp_path, name)

    async def device_info(_request: web.Request) -> web.Response:
        return web.Response(body=DEVICE_INFO, content_type="application/xml")

    app = web.Application()
    app.router.add_get("/ISAPI/System/deviceInfo", device_info)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, f"https://127.0.0.1:{runner.addresses[0][1]}", der


async def test_the_certificate_a_recorder_presents_is_noted(tmp_path: Path) -> None:
    fingerprints = []
    async with HttpPool(HttpSettings(call_timeout_s=5)) as pool:
        for name in ("nvr-a", "nvr-b"):
            runner, url, der = await serve(tmp_path, name)
            try:
                async with pool.open(url, CREDS) as http:
                    assert http.peer_certificate is None, "nothing asked yet"
                    reply = await http.request(
                        "GET", "/ISAPI/System/deviceInfo", operation="deviceInfo"
                    )
                    assert b"DS-1" in reply.body
                    fingerprints.append(http.peer_certificate)
                assert fingerprints[-1] == hashlib.sha256(der).hexdigest()
            finally:
                await runner.cleanup()
    assert fingerprints[0] != fingerprints[1], "another certificate is another identity"


async def test_verify_tls_refuses_a_self_signed_recorder(tmp_path: Path) -> None:
    runner, url, _der = await serve(tmp_path, "nvr-c")
    try:
        settings = HttpSettings(verify_tls=True, call_timeout_s=5)
        async with HttpPool(settings) as pool, pool.open(url, CREDS) as http:
            with pytest.raises(DeviceError) as caught:
                await http.request("GET", "/ISAPI/System/deviceInfo", operation="deviceInfo")
            assert http.peer_certificate is None
    finally:
        await runner.cleanup()
    assert caught.value.kind == "unreachable"
