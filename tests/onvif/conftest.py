"""Fixtures for the ONVIF device-layer tests: loopback devices, hostile servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.onvif_testkit import EX_ONVIF, PASSWORD, Behaviour, FakeDevice, RawServer, in_ci, start
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import OnvifSettings


@pytest.fixture
def ex_onvif() -> Path:
    """The captured device responses; skipped only outside CI when ../shared is absent."""
    if not EX_ONVIF.is_dir():
        message = f"captured ONVIF responses not found at {EX_ONVIF} (expected repo_root/../shared)"
        if in_ci():
            pytest.fail(message + "; CI must provide them")
        pytest.skip(message)
    return EX_ONVIF


@pytest.fixture
def creds() -> Credentials:
    return Credentials(username="admin", password=SecretStr(PASSWORD))


@pytest.fixture
def fast() -> OnvifSettings:
    """Short budgets so hostile-server tests finish in about a second each."""
    return OnvifSettings(call_timeout_s=1.0, connect_timeout_s=1.0, device_deadline_s=10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDevice]:
    device = FakeDevice(password=PASSWORD)
    runner = await start(device)
    try:
        yield device
    finally:
        await runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Behaviour], Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def make(behaviour: Behaviour) -> RawServer:
        server = RawServer(behaviour)
        server.server = await asyncio.start_server(server._handle, "127.0.0.1", 0)
        servers.append(server)
        return server

    yield make
    for server in servers:
        assert server.server is not None
        server.server.close()
        for task in list(server._handlers):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*server._handlers, return_exceptions=True)
        await server.server.wait_closed()
