"""The platform's registrar and its bounds, driven by a raw SIP client written here: unknown
IDs refused before any digest work, keepalive expiry, unregistering, floods and garbage
from one address bounded and logged while the service keeps answering everyone else."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator

import pytest

from tests.gb28181.conftest import DEVICE, DOMAIN, PASSWORD, PLATFORM_ID, MemorySink, wait_for
from tests.gb28181.conftest import identity as platform_identity
from vidaudit.gb28181.platform import Platform, PlatformTimers
from vidaudit.gb28181.transport import EndpointLimits


class RawDevice(asyncio.DatagramProtocol):
    """A UDP SIP client that sends text and collects what comes back."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[str] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.put_nowait(data.decode("utf-8", "replace"))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, text: str | bytes, port: int) -> None:
        assert self.transport is not None
        data = text.encode() if isinstance(text, str) else text
        self.transport.sendto(data, ("127.0.0.1", port))

    async def answer(self, timeout_s: float = 5.0) -> str:
        async with asyncio.timeout(timeout_s):
            return await self.received.get()


def register(
    device: RawDevice,
    user: str,
    cseq: int,
    *,
    expires: int = 3600,
    authorization: str | None = None,
) -> str:
    lines = [
        f"REGISTER sip:{PLATFORM_ID}@{DOMAIN} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{device.port};rport;branch=z9hG4bK{secrets.token_hex(4)}",
        f"From: <sip:{user}@{DOMAIN}>;tag=raw",
        f"To: <sip:{user}@{DOMAIN}>",
        f"Call-ID: raw-{user}@127.0.0.1",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:{device.port}>",
        f"Expires: {expires}",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


def digest(challenge: str, password: str, user: str = DEVICE) -> str:
    realm = re.search(r'realm="([^"]+)"', challenge)
    nonce = re.search(r'nonce="([^"]+)"', challenge)
    assert realm and nonce
    uri = f"sip:{PLATFORM_ID}@{DOMAIN}"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    response = md5(f"{md5(f'{user}:{realm[1]}:{password}')}:{nonce[1]}:{md5(f'REGISTER:{uri}')}")
    return (
        f'Digest username="{user}", realm="{realm[1]}", nonce="{nonce[1]}", uri="{uri}", '
        f'response="{response}"'
    )


async def registered_device(server: Platform, **kwargs: int) -> RawDevice:
    device = await raw_device()
    device.send(register(device, DEVICE, 1, **kwargs), server.port)
    challenge = await device.answer()
    assert challenge.startswith("SIP/2.0 401")
    header = next(line for line in challenge.split("\r\n") if line.startswith("WWW-Authenticate"))
    auth = digest(header, PASSWORD)
    device.send(register(device, DEVICE, 2, authorization=auth, **kwargs), server.port)
    ok = await device.answer()
    assert ok.startswith("SIP/2.0 200"), ok
    return device


async def raw_device(host: str = "127.0.0.1") -> RawDevice:
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_datagram_endpoint(RawDevice, local_addr=(host, 0))
    return protocol


@pytest.fixture
async def quick() -> AsyncIterator[tuple[Platform, MemorySink]]:
    """A platform with short timers and a tight rate limit."""
    sink = MemorySink()
    server = Platform(
        platform_identity(),
        {DEVICE: "LAB-NVR1"},
        sink=sink,
        timers=PlatformTimers(expires_min_s=1, keepalive_timeout_s=10, sweep_every_s=0.05),
        limits=EndpointLimits(rate_per_s=20, burst=40),
    )
    await server.start("127.0.0.1", 0)
    try:
        yield server, sink
    finally:
        await server.stop()


async def test_register_answers_expires_and_date(quick: tuple[Platform, MemorySink]) -> None:
    server, sink = quick
    device = await raw_device()
    device.send(register(device, DEVICE, 1), server.port)
    challenge = await device.answer()
    header = next(line for line in challenge.split("\r\n") if line.startswith("WWW-Authenticate"))
    device.send(register(device, DEVICE, 2, authorization=digest(header, PASSWORD)), server.port)
    ok = await device.answer()
    assert re.search(r"^Expires: 3600\r$", ok, re.M)
    assert re.search(r"^Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\r$", ok, re.M)
    assert server.registration(DEVICE) is not None
    await wait_for(lambda: sink.saved_registrations)


async def test_unknown_ids_are_refused_without_a_challenge(
    quick: tuple[Platform, MemorySink],
) -> None:
    server, sink = quick
    device = await raw_device()
    device.send(register(device, "34020000001110009999", 1), server.port)
    assert (await device.answer()).startswith("SIP/2.0 403")
    assert server.registrations == {} and sink.saved_registrations == []


async def test_silent_devices_expire_and_expires_zero_unregisters(
    quick: tuple[Platform, MemorySink],
) -> None:
    server, sink = quick
    await registered_device(server, expires=1)
    assert server.registration(DEVICE) is not None
    # registered for the minimum (1 s here) and never refreshed or kept alive: it ends
    await wait_for(lambda: sink.removed_ids, timeout_s=5)
    assert sink.removed_ids == [(DEVICE, "expired")]
    assert server.registration(DEVICE) is None

    device = await registered_device(server)
    # unregistering needs the password too (else anyone could take a recorder offline)
    device.send(register(device, DEVICE, 3, expires=0), server.port)
    challenge = await device.answer()
    assert challenge.startswith("SIP/2.0 401") and server.registration(DEVICE) is not None
    header = next(line for line in challenge.split("\r\n") if line.startswith("WWW-Auth"))
    auth = digest(header, PASSWORD)
    device.send(register(device, DEVICE, 4, expires=0, authorization=auth), server.port)
    assert (await device.answer()).startswith("SIP/2.0 200")
    assert server.registration(DEVICE) is None
    await wait_for(lambda: (DEVICE, "unregistered") in sink.removed_ids)


async def test_keepalive_keeps_a_registration_and_silence_ends_it() -> None:
    sink = MemorySink()
    server = Platform(
        platform_identity(),
        {DEVICE: "LAB-NVR1"},
        sink=sink,
        timers=PlatformTimers(keepalive_timeout_s=0.6, sweep_every_s=0.05),
    )
    await server.start("127.0.0.1", 0)
    try:
        device = await registered_device(server)
        for sn in range(4):  # keepalives every 0.3 s hold it past the 0.6 s timeout
            body = (
                '<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType>'
                f"<SN>{sn}</SN><DeviceID>{DEVICE}</DeviceID><Status>OK</Status></Notify>"
            )
            device.send(message(device, body), server.port)
            assert (await device.answer()).startswith("SIP/2.0 200")
            await asyncio.sleep(0.3)
        assert server.registration(DEVICE) is not None and sink.removed_ids == []
        await wait_for(lambda: sink.removed_ids, timeout_s=5)
        assert sink.removed_ids == [(DEVICE, "keepalive timeout")]
    finally:
        await server.stop()


def message(device: RawDevice, body: str | bytes) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    head = "\r\n".join(
        [
            f"MESSAGE sip:{PLATFORM_ID}@{DOMAIN} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{device.port};rport;branch=z9hG4bK{secrets.token_hex(4)}",
            f"From: <sip:{DEVICE}@{DOMAIN}>;tag=raw",
            f"To: <sip:{PLATFORM_ID}@{DOMAIN}>",
            f"Call-ID: {secrets.token_hex(6)}@127.0.0.1",
            "CSeq: 20 MESSAGE",
            "Content-Type: Application/MANSCDP+xml",
            f"Content-Length: {len(data)}",
            "",
            "",
        ]
    )
    return head.encode() + data


async def test_a_flood_from_one_address_is_bounded_logged_and_others_still_served(
    quick: tuple[Platform, MemorySink], caplog: pytest.LogCaptureFixture
) -> None:
    server, _sink = quick
    flooder = await raw_device()
    caplog.set_level(logging.WARNING)
    counters = server.endpoint.counters
    loop = asyncio.get_running_loop()
    started = loop.time()
    for batch in range(40):  # bounded: 2,000 REGISTERs in 40 quick bursts
        for cseq in range(50):
            flooder.send(register(flooder, DEVICE, batch * 50 + cseq + 1), server.port)
        # each burst taken in by the service before the next, so that the kernel's socket
        # buffer, not the test's subject, never decides what got through
        sent = 50 * (batch + 1)
        await wait_for(lambda sent=sent: counters.received + counters.dropped_rate >= sent)
    elapsed = loop.time() - started
    await asyncio.sleep(0.1)
    answered = 0
    while not flooder.received.empty():
        flooder.received.get_nowait()
        answered += 1
    # the token bucket (burst 40, 20/s) let through what it allows, not 2,000 challenges
    assert answered <= 40 + 20 * (elapsed + 0.2) + 5
    assert counters.dropped_rate >= 2000 - answered - 10
    warnings = [r for r in caplog.records if "over the rate limit" in r.getMessage()]
    assert 1 <= len(warnings) <= 2  # logged, not once per message
    # once its bucket refills (20/s) the address is served again: nothing stayed broken
    await asyncio.sleep(0.2)
    flooder.send(register(flooder, DEVICE, 5000), server.port)
    assert (await flooder.answer()).startswith("SIP/2.0 401")


async def test_garbage_and_hostile_xml_never_crash_the_service(
    quick: tuple[Platform, MemorySink], caplog: pytest.LogCaptureFixture
) -> None:
    server, _sink = quick
    caplog.set_level(logging.WARNING)
    device = await registered_device(server)
    junk = [
        b"\x00\x01\x02",
        b"GET / HTTP/1.1\r\n\r\n",
        b"REGISTER sip:x SIP/2.0\r\n" + b"A: b\r\n" * 500 + b"\r\n",
        secrets.token_bytes(1400),
    ]
    for data in junk:
        device.send(data, server.port)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Notify>&b;</Notify>'
    )
    device.send(message(device, bomb), server.port)
    assert (await device.answer()).startswith("SIP/2.0 400")
    device.send(message(device, b"\xff\xfe not xml at all"), server.port)
    assert (await device.answer()).startswith("SIP/2.0 400")
    assert server.endpoint.counters.malformed >= 3
    # a TCP peer sending garbage is cut off; the service still answers
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"NOT SIP AT ALL\r\nContent-Length: 99999999\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the service
    writer.close()
    body = (
        f"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>{DEVICE}</DeviceID>"
        "<Status>OK</Status></Notify>"
    )
    device.send(message(device, body), server.port)
    assert (await device.answer()).startswith("SIP/2.0 200")
    assert any("malformed SIP" in r.getMessage() for r in caplog.records)


async def test_tcp_connections_from_one_address_are_capped() -> None:
    server = Platform(
        platform_identity(),
        {DEVICE: "LAB-NVR1"},
        limits=EndpointLimits(max_connections_per_host=4),
    )
    await server.start("127.0.0.1", 0)
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(8):  # bounded: eight connections, four over the cap
            opened.append(await asyncio.open_connection("127.0.0.1", server.port))
        await wait_for(lambda: server.endpoint.counters.refused_connections == 4)
        # the refused ones are closed by the service; the first four stay usable
        async with asyncio.timeout(5):
            assert await opened[-1][0].read() == b""
        reader, writer = opened[0]
        device = await raw_device()  # for a well-formed REGISTER text naming a Via port
        writer.write(register(device, DEVICE, 1).encode())
        await writer.drain()
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"SIP/2.0 401")
    finally:
        for _reader, writer in opened:
            writer.close()
        await server.stop()


async def test_messages_naming_a_device_from_elsewhere_are_refused(
    quick: tuple[Platform, MemorySink],
) -> None:
    server, sink = quick
    await registered_device(server)
    before = len(sink.saved_registrations)
    impostor = await raw_device("127.0.0.2")  # another address on the loopback network
    body = (
        f"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>{DEVICE}</DeviceID>"
        "<Status>OK</Status></Notify>"
    )
    impostor.send(message(impostor, body), server.port)
    assert (await impostor.answer()).startswith("SIP/2.0 403")
    assert len(sink.saved_registrations) == before  # no keepalive credited
