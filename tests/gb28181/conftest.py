"""Shared pieces of the GB/T 28181 tests: a platform on loopback and a sink that records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from vidaudit.gb28181.platform import Platform, PlatformIdentity, PlatformTimers, Registration

PLATFORM_ID = "34020000002000000001"
DOMAIN = "3402000000"
PASSWORD = "gb-Secret-12345"
DEVICE = "34020000001110000001"
CHANNEL = "34020000001320000001"
CHANNEL2 = "34020000001320000002"


class MemorySink:
    """A ``RegistrationSink`` that remembers what it was told."""

    def __init__(self) -> None:
        self.saved_registrations: list[Registration] = []
        self.removed_ids: list[tuple[str, str]] = []

    async def saved(self, registration: Registration) -> None:
        self.saved_registrations.append(registration)

    async def removed(self, gb_id: str, reason: str) -> None:
        self.removed_ids.append((gb_id, reason))


async def wait_for(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` is true, checking every 20 ms; fail after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polled state of another component
            await asyncio.sleep(0.02)


def identity() -> PlatformIdentity:
    return PlatformIdentity(PLATFORM_ID, DOMAIN, SecretStr(PASSWORD))


@pytest.fixture
async def platform() -> AsyncIterator[tuple[Platform, MemorySink]]:
    sink = MemorySink()
    instance = Platform(
        identity(), {DEVICE: "LAB-NVR1"}, sink=sink, timers=PlatformTimers(sweep_every_s=0.1)
    )
    await instance.start("127.0.0.1", 0)
    try:
        yield instance, sink
    finally:
        await instance.stop()
