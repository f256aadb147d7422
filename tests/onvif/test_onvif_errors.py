"""Every error kind, from a hostile loopback server.  Budgets are short (1 s per call)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.onvif_testkit import PASSWORD, Behaviour, FakeDevice, RawServer, clock_reply, fault, soap
from vidaudit.inventory.schema import Credentials
from vidaudit.onvif import DeviceError, OnvifPool, OnvifSettings, open_device

MakeServer = Callable[[Behaviour], Awaitable[RawServer]]

DEVICE_INFO = soap(
    "<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer>"
    "<tds:Model>NVR-16</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
    "<tds:SerialNumber>1</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
    "</tds:GetDeviceInformationResponse>"
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n'
        % (i, b"".join(b"&lol%s;" % (b"" if i == 1 else b"%d" % (i - 1)) for _ in range(10)))
        for i in range(1, 10)
    )
    + b']>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body>'
    b"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>&lol9;</tds:SystemDateAndTime>"
    b"</tds:GetSystemDateAndTimeResponse></env:Body></env:Envelope>"
)


def http(status: str, body: bytes, *extra: str) -> bytes:
    head = [
        f"HTTP/1.1 {status}",
        "Content-Type: application/soap+xml",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + body


async def kind_of(url: str, creds: Credentials, settings: OnvifSettings) -> DeviceError:
    async with open_device(url, creds, settings) as device:
        with pytest.raises(DeviceError) as caught:
            await device.clock()
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    return caught.value


# -- timeout -------------------------------------------------------------------------


async def test_hanging_device_times_out(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def hang(writer: asyncio.StreamWriter, body: bytes) -> None:
        await asyncio.sleep(60)

    server = await raw_server(hang)
    started = time.monotonic()
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.5


async def test_trickling_device_does_not_hold_the_call(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def trickle(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(
            writer,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
            b"Content-Length: 100000\r\n\r\n<",
        )
        while True:  # one byte every 100 ms: sock_read never fires, the call budget does
            await asyncio.sleep(0.1)
            server.write(writer, b" ")
            await writer.drain()

    server = await raw_server(trickle)
    started = time.monotonic()
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.5


async def test_device_deadline_bounds_the_whole_probe(
    raw_server: MakeServer, creds: Credentials
) -> None:
    async def hang(writer: asyncio.StreamWriter, body: bytes) -> None:
        await asyncio.sleep(60)

    server = await raw_server(hang)
    settings = OnvifSettings(call_timeout_s=30, device_deadline_s=0.8)
    started = time.monotonic()
    async with open_device(server.url, creds, settings) as device:
        with pytest.raises(DeviceError) as first:
            await device.clock()
        with pytest.raises(DeviceError) as second:
            await device.info()
    assert first.value.kind == "timeout"
    assert second.value.kind == "timeout" and "deadline" in second.value.message
    assert time.monotonic() - started < 2.0


async def test_caller_deadline_cancels_cleanly(raw_server: MakeServer, creds: Credentials) -> None:
    async def hang(writer: asyncio.StreamWriter, body: bytes) -> None:
        await asyncio.sleep(60)

    server = await raw_server(hang)
    pool = OnvifPool(OnvifSettings(call_timeout_s=30, device_deadline_s=None))
    async with pool:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5), pool.open(server.url, creds) as device:
                await device.clock()
    assert pool.closed


# -- unreachable -----------------------------------------------------------------------


async def test_refused_port_is_unreachable(creds: Credentials, fast: OnvifSettings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await kind_of(f"http://127.0.0.1:{port}/onvif/device_service", creds, fast)
    assert error.kind == "unreachable"


async def test_unknown_host_is_unreachable(creds: Credentials, fast: OnvifSettings) -> None:
    error = await kind_of("http://nvr.nonexistent.invalid/onvif/device_service", creds, fast)
    assert error.kind == "unreachable"


async def test_connection_reset_is_unreachable(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def reset(writer: asyncio.StreamWriter, body: bytes) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST, not FIN

    server = await raw_server(reset)
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "unreachable"


# -- device_fault / auth over plain HTTP --------------------------------------------------


async def test_http_500_is_device_fault(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def oops(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(writer, http("500 Internal Server Error", b"<html><body>oops</body></html>"))

    server = await raw_server(oops)
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "device_fault" and "HTTP 500" in error.message


async def test_http_401_without_soap_is_auth(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def deny(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(
            writer, http("401 Unauthorized", b"Unauthorized", 'WWW-Authenticate: Basic realm="x"')
        )

    server = await raw_server(deny)
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "auth"


# -- malformed ---------------------------------------------------------------------------


async def test_garbage_body_is_malformed(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def garbage(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(writer, http("200 OK", os.urandom(3000)))

    server = await raw_server(garbage)
    assert (await kind_of(server.url, creds, fast)).kind == "malformed"


async def test_not_http_at_all_is_malformed(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def babble(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(writer, b"SSH-2.0-OpenSSH_8.9\r\n\r\n" + os.urandom(200))

    server = await raw_server(babble)
    assert (await kind_of(server.url, creds, fast)).kind == "malformed"


async def test_truncated_body_is_malformed(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    whole = clock_reply(dt.datetime.now(dt.UTC))

    async def cut(writer: asyncio.StreamWriter, body: bytes) -> None:
        reply = http("200 OK", whole)
        server.write(writer, reply[: len(reply) - 200])  # Content-Length promises more

    server = await raw_server(cut)
    assert (await kind_of(server.url, creds, fast)).kind == "malformed"


async def test_truncated_close_delimited_body_is_malformed(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    # No Content-Length: the body ends at close, so only the XML parser can tell.  zeep
    # alone (lxml recover=True) would "repair" this into a partial, valid-looking reply.
    whole = clock_reply(dt.datetime.now(dt.UTC))

    async def cut(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(
            writer,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
            b"Connection: close\r\n\r\n" + whole[: len(whole) // 2],
        )

    server = await raw_server(cut)
    assert (await kind_of(server.url, creds, fast)).kind == "malformed"


async def test_billion_laughs_is_refused(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def bomb(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(writer, http("200 OK", BILLION_LAUGHS))

    server = await raw_server(bomb)
    started = time.process_time()
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "malformed" and "DTD" in error.message
    assert time.process_time() - started < 1.0  # refused, not expanded


async def test_oversized_declared_body_is_refused_unread(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    async def huge(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(
            writer,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
            b"Content-Length: 62914560\r\n\r\n",
        )
        chunk = b"<a>" + b"x" * 65530 + b"</a>"
        for _ in range(960):  # 60 MB
            server.write(writer, chunk)
            await writer.drain()

    server = await raw_server(huge)
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "malformed" and "limit" in error.message
    assert server.bytes_written < 30 * 1024 * 1024


async def test_oversized_streamed_body_is_refused_while_reading(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    # Chunked, no Content-Length: the limit must be enforced as bytes arrive.
    async def huge(writer: asyncio.StreamWriter, body: bytes) -> None:
        server.write(
            writer,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
        )
        chunk = b"x" * 65536
        for _ in range(960):  # 60 MB
            server.write(writer, b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        server.write(writer, b"0\r\n\r\n")

    server = await raw_server(huge)
    started = time.monotonic()
    error = await kind_of(server.url, creds, fast)
    assert error.kind == "malformed" and "4194304-byte limit" in error.message
    # We stopped reading at 4 MB: the server could not push the 60 MB through.
    assert server.bytes_written < 30 * 1024 * 1024
    assert time.monotonic() - started < 2.0


async def test_wrong_namespace_reply_is_malformed(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    # Same element name, wrong namespace: zeep alone returns an empty object.
    fake.replies["GetDeviceInformation"] = DEVICE_INFO.replace(
        b"http://www.onvif.org/ver10/device/wsdl", b"http://example.com/not-onvif"
    )
    async with open_device(fake.url, creds, fast) as device:
        with pytest.raises(DeviceError) as caught:
            await device.info()
    assert caught.value.kind == "malformed"


async def test_missing_required_field_is_malformed(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetDeviceInformation"] = soap("<tds:GetDeviceInformationResponse/>")
    async with open_device(fake.url, creds, fast) as device:
        with pytest.raises(DeviceError) as caught:
            await device.info()
    assert caught.value.kind == "malformed"


# -- auth ----------------------------------------------------------------------------------


async def test_wrong_password_is_auth_and_never_echoed(
    fake: FakeDevice, fast: OnvifSettings
) -> None:
    wrong = Credentials(username="admin", password=SecretStr("hunter2-wrong"))
    async with open_device(fake.url, wrong, fast) as device:
        await device.clock()  # unauthenticated: fine
        with pytest.raises(DeviceError) as caught:
            await device.info()
    assert caught.value.kind == "auth"
    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert "hunter2-wrong" not in text and PASSWORD not in text


async def test_drifted_device_still_authenticates(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.clock_offset = dt.timedelta(hours=3, minutes=7)  # way outside the ±5 min window
    fake.replies["GetDeviceInformation"] = DEVICE_INFO
    async with open_device(fake.url, creds, fast) as device:
        clock = await device.clock()
        info = await device.info()
    assert info.manufacturer == "Acme"
    assert clock.drift is not None
    assert abs(clock.drift - dt.timedelta(hours=3, minutes=7)) < dt.timedelta(seconds=2)


async def test_drifted_device_refuses_our_clock_without_adjust_time(
    fake: FakeDevice, creds: Credentials
) -> None:
    fake.clock_offset = dt.timedelta(hours=3)
    fake.replies["GetDeviceInformation"] = DEVICE_INFO
    settings = OnvifSettings(adjust_time=False, call_timeout_s=1.0)
    async with open_device(fake.url, creds, settings) as device:
        with pytest.raises(DeviceError) as caught:
            await device.info()
    assert caught.value.kind == "auth"


async def test_clock_needing_auth_is_retried_with_token(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.auth_exempt = frozenset()  # Axis: every request authenticated
    async with open_device(fake.url, creds, fast) as device:
        clock = await device.clock()
    assert clock.utc is not None
    assert fake.calls == ["GetSystemDateAndTime", "GetSystemDateAndTime"]


async def test_http_digest_challenge_is_answered(creds: Credentials, fast: OnvifSettings) -> None:
    realm, nonce = "NVR", "abc123nonce"
    seen: list[str] = []

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    async def handle(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return web.Response(
                status=401,
                headers={
                    "WWW-Authenticate": f'Digest realm="{realm}", nonce="{nonce}", qop="auth"'
                },
            )
        fields = dict(part.strip().split("=", 1) for part in header[7:].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        ha1 = md5(f"admin:{realm}:{PASSWORD}")
        ha2 = md5(f"POST:{fields['uri']}")
        expected = md5(f"{ha1}:{nonce}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        if fields["response"] != expected:
            return web.Response(status=401)
        seen.append(fields["username"])
        return web.Response(
            body=clock_reply(dt.datetime.now(dt.UTC)), content_type="application/soap+xml"
        )

    app = web.Application()
    app.router.add_post("/onvif/device_service", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/onvif/device_service"
        async with open_device(url, creds, fast) as device:
            clock = await device.clock()
    finally:
        await runner.cleanup()
    assert clock.utc is not None and seen == ["admin"]


# -- unsupported ----------------------------------------------------------------------------


async def test_action_not_supported_is_unsupported(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    async with open_device(fake.url, creds, fast) as device:
        with pytest.raises(DeviceError) as caught:
            await device.video_sources()  # FakeDevice answers ter:ActionNotSupported
    assert caught.value.kind == "unsupported"


async def test_missing_service_is_unsupported_without_asking(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.services = ("devicemgmt", "media")
    async with open_device(fake.url, creds, fast) as device:
        for call in (device.recordings, device.recording_summary, device.recording_jobs):
            with pytest.raises(DeviceError) as caught:
                await call()
            assert caught.value.kind == "unsupported"
    assert set(fake.calls) == {"GetSystemDateAndTime", "GetServices"}


# -- a recording job's live state ---------------------------------------------------------

TWO_JOBS = soap(
    "<trc:GetRecordingJobsResponse>"
    + "".join(
        f"<trc:JobItem><tt:JobToken>{job}</tt:JobToken><tt:JobConfiguration>"
        f"<tt:RecordingToken>REC{n}</tt:RecordingToken><tt:Mode>Active</tt:Mode>"
        "<tt:Priority>1</tt:Priority></tt:JobConfiguration></trc:JobItem>"
        for n, job in enumerate(("J1", "J2"), start=1)
    )
    + "</trc:GetRecordingJobsResponse>"
)


Answer = bytes | tuple[int, bytes]


def job_state_reply(broken: dict[str, Answer]) -> Callable[[FakeDevice, Any], Answer]:
    """GetRecordingJobState: ``broken[token]`` for the jobs named there, Active otherwise."""

    def reply(_device: FakeDevice, envelope: Any) -> Answer:
        token = envelope.findtext(".//{http://www.onvif.org/ver10/recording/wsdl}JobToken")
        if token in broken:
            return broken[token]
        return soap(
            "<trc:GetRecordingJobStateResponse><trc:State>"
            f"<tt:RecordingToken>REC{token[-1]}</tt:RecordingToken><tt:State>Active</tt:State>"
            "</trc:State></trc:GetRecordingJobStateResponse>"
        )

    return reply


async def test_a_bad_job_state_reply_leaves_that_job_unknown_and_asks_the_next(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetRecordingJobs"] = TWO_JOBS
    fake.replies["GetRecordingJobState"] = job_state_reply(
        {"J1": soap("<trc:GetRecordingJobStateResponse/>")}  # no State: off the schema
    )
    async with open_device(fake.url, creds, fast) as device:
        first, second = await device.recording_jobs()
    assert first.token == "J1" and first.state is None and first.mode == "Active"
    assert first.state_error is not None and first.state_error.kind == "malformed"
    assert "lacks State" in first.state_error.message
    assert (second.state, second.state_error) == ("Active", None)
    assert fake.calls.count("GetRecordingJobState") == 2


async def test_a_device_that_stops_answering_job_states_is_not_asked_again(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetRecordingJobs"] = TWO_JOBS
    refused = (400, fault("ter:NotAuthorized", "operator may not ask"))
    fake.replies["GetRecordingJobState"] = job_state_reply({"J1": refused})
    async with open_device(fake.url, creds, fast) as device:
        jobs = await device.recording_jobs()
    # the jobs themselves stand; both states are unknown for the one reason
    assert [j.token for j in jobs] == ["J1", "J2"]
    assert [j.state for j in jobs] == [None, None]
    assert [j.state_error.kind if j.state_error else None for j in jobs] == ["auth", "auth"]
    assert fake.calls.count("GetRecordingJobState") == 1


async def test_job_states_not_supported_are_no_failure(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetRecordingJobs"] = TWO_JOBS  # FakeDevice: GetRecordingJobState unsupported
    async with open_device(fake.url, creds, fast) as device:
        jobs = await device.recording_jobs()
    assert [(j.state, j.state_error) for j in jobs] == [(None, None), (None, None)]
    assert fake.calls.count("GetRecordingJobState") == 1


# -- sharing and closing -----------------------------------------------------------------------


async def test_pool_shares_one_session_and_reuses_connections(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.replies["GetDeviceInformation"] = DEVICE_INFO
    async with OnvifPool(fast) as pool:
        for _ in range(3):
            async with pool.open(fake.url, creds) as device:
                await device.clock()
                await device.info()
                await device.services()
        assert not pool.closed
    assert pool.closed
    assert len(fake.calls) == 3 * 3  # clock, info, services; no hidden extra calls
    assert len(fake.peers) == 1  # every call of every device over one kept-alive socket


async def test_document_cache_is_shared(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    documents = []
    for _ in range(2):
        async with open_device(fake.url, creds, fast) as device:
            await device.clock()
            documents.append(device._proxies[("devicemgmt", False, False)]._client.wsdl)
    assert documents[0] is documents[1]


async def test_private_pool_closed_on_error(
    raw_server: MakeServer, creds: Credentials, fast: OnvifSettings
) -> None:
    opened: list[OnvifPool] = []
    original = OnvifPool.__aenter__

    async def spy(self: OnvifPool) -> OnvifPool:
        opened.append(self)
        return await original(self)

    async def oops(writer: asyncio.StreamWriter, body: bytes) -> None:
        writer.write(http("500 Internal Server Error", b""))

    server = await raw_server(oops)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OnvifPool, "__aenter__", spy)
        await kind_of(server.url, creds, fast)
    assert opened and all(pool.closed for pool in opened)


async def test_concurrent_calls_share_one_clock_read_and_discovery(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    fake.clock_offset = dt.timedelta(hours=-2)  # every call needs the adjusted token
    fake.replies["GetDeviceInformation"] = DEVICE_INFO
    async with open_device(fake.url, creds, fast) as device:
        results = await asyncio.gather(device.info(), device.services(), device.info())
    assert results[0].manufacturer == "Acme"
    assert fake.calls.count("GetSystemDateAndTime") == 1
    assert fake.calls.count("GetServices") == 1


async def test_capabilities_fallback_reads_extension_xaddrs(
    fake: FakeDevice, creds: Credentials, fast: OnvifSettings
) -> None:
    # Old firmware: no GetServices; Profile G XAddrs only in Capabilities/Extension,
    # which zeep leaves as raw elements.
    base = fake.base_url
    fake.replies["GetServices"] = (400, fault("ter:ActionNotSupported", "no", code="env:Receiver"))
    fake.replies["GetCapabilities"] = soap(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
        f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr></tt:Media>"
        "<tt:Extension>"
        f"<tt:Recording><tt:XAddr>{base}/onvif/recording_service</tt:XAddr></tt:Recording>"
        f"<tt:Search><tt:XAddr>{base}/onvif/search_service</tt:XAddr></tt:Search>"
        f"<tt:Replay><tt:XAddr>{base}/onvif/replay_service</tt:XAddr></tt:Replay>"
        "</tt:Extension></tds:Capabilities></tds:GetCapabilitiesResponse>"
    )
    async with open_device(fake.url, creds, fast) as device:
        services = await device.services()
    assert {s.name for s in services} == {"devicemgmt", "media", "recording", "search", "replay"}
    search = next(s for s in services if s.name == "search")
    assert search.xaddr == f"{base}/onvif/search_service"
