"""Test kit for the ONVIF device layer: a loopback ONVIF device and a raw TCP server.

Shared by the device-layer tests (tests/onvif) and the collector tests (tests/collector).

A loopback ONVIF device for tests: real HTTP, real SOAP, real WS-Security checks.

``FakeDevice`` dispatches on the first element of the SOAP Body (the operation) and
answers from ``replies`` (bytes, or a callable for stateful answers).  It verifies the
WS-UsernameToken digest against its own password and its own (optionally drifted)
clock, the way a strict camera does, and records every operation it was asked.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
EX_ONVIF = SHARED / "fixtures" / "onvif" / "ex_onvif"

PASSWORD = "S3cret-pw!"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

NAMESPACES = {
    "devicemgmt": "http://www.onvif.org/ver10/device/wsdl",
    "media": "http://www.onvif.org/ver10/media/wsdl",
    "recording": "http://www.onvif.org/ver10/recording/wsdl",
    "search": "http://www.onvif.org/ver10/search/wsdl",
    "replay": "http://www.onvif.org/ver10/replay/wsdl",
}

_PREFIXES = (
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" '
    'xmlns:tse="http://www.onvif.org/ver10/search/wsdl" '
    'xmlns:trp="http://www.onvif.org/ver10/replay/wsdl" '
    'xmlns:ter="http://www.onvif.org/ver10/error" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics"'
)


def soap(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_PREFIXES}>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault(subcode: str, reason: str, *, code: str = "env:Sender") -> bytes:
    return soap(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value><env:Subcode>"
        f"<env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>'
    )


def clock_reply(now: dt.datetime, tz: str = "GMT0") -> bytes:
    u = now.astimezone(dt.UTC)
    return soap(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{tz}</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
        f"<tt:Time><tt:Hour>{u.hour}</tt:Hour><tt:Minute>{u.minute}</tt:Minute>"
        f"<tt:Second>{u.second}</tt:Second></tt:Time><tt:Date><tt:Year>{u.year}</tt:Year>"
        f"<tt:Month>{u.month}</tt:Month><tt:Day>{u.day}</tt:Day></tt:Date></tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def services_reply(base: str, services: tuple[str, ...]) -> bytes:
    entries = "".join(
        f"<tds:Service><tds:Namespace>{NAMESPACES[name]}</tds:Namespace>"
        f"<tds:XAddr>{base}/onvif/{name}_service</tds:XAddr>"
        "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
        for name in services
    )
    return soap(f"<tds:GetServicesResponse>{entries}</tds:GetServicesResponse>")


def digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    ).decode()


Reply = (
    bytes | tuple[int, bytes] | Callable[["FakeDevice", etree._Element], bytes | tuple[int, bytes]]
)


@dataclass
class FakeDevice:
    username: str = "admin"
    password: str = "S3cret-pw!"
    #: The device clock is the real clock plus this.
    clock_offset: dt.timedelta = dt.timedelta(0)
    #: A UsernameToken whose Created is further than this from the device clock fails.
    max_skew: dt.timedelta = dt.timedelta(minutes=5)
    services: tuple[str, ...] = ("devicemgmt", "media", "recording", "search", "replay")
    replies: dict[str, Reply] = field(default_factory=dict)
    #: Operations answered without a token (ONVIF: GetSystemDateAndTime).
    auth_exempt: frozenset[str] = frozenset({"GetSystemDateAndTime"})
    calls: list[str] = field(default_factory=list)
    #: Client (host, port) pairs seen: one entry per TCP connection used.
    peers: set[tuple[str, int]] = field(default_factory=set)
    base_url: str = ""
    #: Seconds to hold each reply after it was made (its clock already read): a slow
    #: device or network.  Called per request.
    reply_delay_s: Callable[[], float] | None = None

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    @property
    def url(self) -> str:
        return f"{self.base_url}/onvif/device_service"

    def _authorised(self, envelope: etree._Element) -> bool:
        token = envelope.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE}}}Username")
        password = token.findtext(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if not (user and password and nonce and created):
            return False
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        if abs(when - self.now()) > self.max_skew:
            return False
        return user == self.username and password == digest(
            base64.b64decode(nonce), created, self.password
        )

    async def handle(self, request: web.Request) -> web.Response:
        envelope = etree.fromstring(await request.read())
        body = envelope.find(f"{{{ENV}}}Body")
        operation = etree.QName(body[0]).localname
        self.calls.append(operation)
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        if operation not in self.auth_exempt and not self._authorised(envelope):
            answer: bytes | tuple[int, bytes] = (
                400,
                fault("ter:NotAuthorized", "Sender not Authorized"),
            )
        elif operation in self.replies:
            reply = self.replies[operation]
            answer = reply(self, envelope) if callable(reply) else reply
        elif operation == "GetSystemDateAndTime":
            answer = clock_reply(self.now())
        elif operation == "GetServices":
            answer = services_reply(self.base_url, self.services)
        elif operation == "EndSearch":
            answer = soap(
                "<tse:EndSearchResponse><tse:Endpoint>2025-01-01T00:00:00Z</tse:Endpoint>"
                "</tse:EndSearchResponse>"
            )
        else:
            answer = (
                400,
                fault("ter:ActionNotSupported", f"{operation} not supported", code="env:Receiver"),
            )
        status, payload = answer if isinstance(answer, tuple) else (200, answer)
        if self.reply_delay_s is not None:
            await asyncio.sleep(self.reply_delay_s())
        return web.Response(status=status, body=payload, content_type="application/soap+xml")


async def start(device: FakeDevice, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    """Serve ``device`` on a loopback port; over https with ``tls`` (a server context)."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", device.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    device.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    return runner


Behaviour = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]


class RawServer:
    """A TCP server speaking whatever ``behaviour`` writes, for protocol abuse."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.bytes_written = 0
        self.server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/onvif/device_service"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            await self.behaviour(writer, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.bytes_written += len(data)
