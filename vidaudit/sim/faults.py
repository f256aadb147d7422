"""Misbehaving devices: what a broken or hostile NVR does to a collector.

Each fault is performed on the raw connection.  ``hang`` keeps the connection open and
silent (released at fleet shutdown); ``reset`` closes with SO_LINGER 0 so the kernel
sends a TCP RST; ``truncated`` promises more bytes in Content-Length than it sends;
``huge`` streams its padding in fixed chunks with back-pressure, so a 50 MB answer
costs 64 KB of memory however many devices send one.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from vidaudit.sim.http import SOAP_CONTENT_TYPE, response_bytes, response_head
from vidaudit.sim.plan import Fault, FaultKind

#: A hung connection is let go after this long even if the fleet keeps running.
HANG_LIMIT_S = 3600.0
HUGE_CHUNK = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
HUGE_TIMEOUT_S = 300.0

#: "Billion laughs": 10 levels of 10 references, about 10^9 'lol's if anyone expands it.
XML_BOMB = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + ']>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
    "<lolz>&lol9;</lolz></env:Body></env:Envelope>"
).encode()

HTTP500_BODY = (
    b"<html><head><title>500 Internal Server Error</title></head><body>"
    b"<h1>500 Internal Server Error</h1></body></html>"
)


async def hang(stop: asyncio.Event) -> None:
    try:
        async with asyncio.timeout(HANG_LIMIT_S):
            await stop.wait()
    except TimeoutError:
        pass


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def perform(
    fault: Fault, writer: asyncio.StreamWriter, good_body: bytes, stop: asyncio.Event
) -> bool:
    """Misbehave instead of sending ``good_body``; return whether to keep the connection."""
    kind = fault.kind
    if kind is FaultKind.HANG:
        await hang(stop)
        return False
    if kind is FaultKind.RESET:
        reset(writer)
        return False
    if kind is FaultKind.HTTP500:
        writer.write(response_bytes(500, HTTP500_BODY, "text/html", keep_alive=False))
        return False
    if kind is FaultKind.MALFORMED:
        # The real answer with its last element cut in half, an unquoted attribute, a bare
        # '&' and mismatched end tags - firmware that builds XML by string concatenation.
        cut = max(len(good_body) - 80, len(good_body) // 2)
        broken = good_body[:cut] + b"<tt:Broken attr=1 & </env:Body></env:Envelope>"
        writer.write(response_bytes(200, broken, keep_alive=False))
        return False
    if kind is FaultKind.TRUNCATED:
        writer.write(response_head(200, len(good_body) + 4096, keep_alive=False))
        writer.write(good_body[: len(good_body) // 2])
        async with asyncio.timeout(10):
            await writer.drain()
        return False
    if kind is FaultKind.XML_BOMB:
        writer.write(response_bytes(200, XML_BOMB, keep_alive=False))
        return False
    if kind is FaultKind.HUGE:
        await _stream_huge(writer, good_body, int(fault.size_mb * 1024 * 1024))
        return False
    raise AssertionError(f"fault {kind} is not performed here")


async def _stream_huge(writer: asyncio.StreamWriter, good_body: bytes, size: int) -> None:
    # A well-formed answer padded with comments right after the XML declaration, so only
    # the size is wrong: a client that does not bound it will read (and parse) it all.
    decl, _, rest = good_body.partition(b"?>")
    prefix = decl + b"?>\n"
    chunks = max(0, -(-(size - len(good_body)) // len(HUGE_CHUNK)))  # round up: at least size
    length = len(prefix) + chunks * len(HUGE_CHUNK) + len(rest.lstrip())
    writer.write(response_head(200, length, SOAP_CONTENT_TYPE, keep_alive=False))
    writer.write(prefix)
    async with asyncio.timeout(HUGE_TIMEOUT_S):
        for _ in range(chunks):
            writer.write(HUGE_CHUNK)
            await writer.drain()
        writer.write(rest.lstrip())
        await writer.drain()
