"""ONVIF over real TLS: the certificate a device presents is what gets pinned.

A recorder's identity is pinned by its serial number and, over https, by the sha256 of
its certificate (``collector/identity.py``): a different box at the same address is
noticed even if it claims the same serial.  These tests serve the fake device through
a real TLS handshake (aiohttp's server with a certificate from ``tests/tls_kit.py``)
and read what the transport noted.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from tests.onvif_testkit import PASSWORD, FakeDevice, soap, start
from tests.tls_kit import self_signed
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import DeviceError, OnvifSettings, open_device

DEVICE_INFO = soap(
    "<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer>"
    "<tds:Model>NVR-16</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
    "<tds:SerialNumber>SN-1</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
    "</tds:GetDeviceInformationResponse>"
)


ServeTls = Callable[[str], AbstractAsyncContextManager[tuple[FakeDevice, bytes]]]


@pytest.fixture
def serve_tls(tmp_path: Path) -> ServeTls:
    @asynccontextmanager
    async def serve(name: str) -> AsyncIterator[tuple[FakeDevice, bytes]]:
        context, der = self_signed(tmp_path, name)
        device = FakeDevice(password=PASSWORD)
        device.replies["GetDeviceInformation"] = DEVICE_INFO
        runner = await start(device, tls=context)
        try:
            yield device, der
        finally:
            await runner.cleanup()

    return serve


async def test_the_certificate_presented_over_https_is_noted(
    serve_tls: ServeTls, creds: Credentials, fast: OnvifSettings
) -> None:
    fingerprints = []
    for name in ("nvr-a", "nvr-b"):  # the same kind of box, another certificate
        async with serve_tls(name) as (device, der):
            assert device.url.startswith("https://")
            async with open_device(device.url, creds, fast) as dev:
                info = await dev.info()  # WS-Security digest, over the TLS session
                noted = dev.peer_certificate
            assert info.serial == "SN-1"
            assert "GetDeviceInformation" in device.calls
            assert noted == hashlib.sha256(der).hexdigest()
            fingerprints.append(noted)
    assert fingerprints[0] != fingerprints[1], "another certificate is another identity"


async def test_verify_tls_refuses_a_self_signed_certificate(
    serve_tls: ServeTls, creds: Credentials
) -> None:
    settings = OnvifSettings(verify_tls=True, call_timeout_s=2.0, connect_timeout_s=2.0)
    async with (
        serve_tls("nvr-c") as (device, _der),
        open_device(device.url, creds, settings) as dev,
    ):
        with pytest.raises(DeviceError) as caught:
            await dev.info()
    assert caught.value.kind == "unreachable"
    assert "certificate" in str(caught.value).lower()
    assert PASSWORD not in str(caught.value)
    assert device.calls == [], "nothing was sent before the handshake failed"


async def test_no_certificate_is_noted_over_http(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetDeviceInformation"] = DEVICE_INFO
    async with open_device(fake.url, creds, fast) as dev:
        await dev.info()
        assert dev.peer_certificate is None
