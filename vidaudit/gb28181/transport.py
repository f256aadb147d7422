"""SIP over UDP and TCP on one port, bounded against floods and garbage.

A message handler gets every well-formed message with the ``Peer`` it came from and
answers through ``SipEndpoint.send``.  Bounds, all counted and logged (at most once per
``LOG_EVERY_S`` per address, so a flood cannot flood the log either), never raised:

* per source address, a token bucket of messages (``rate_per_s``, ``burst``): messages
  beyond it are dropped before they are parsed;
* malformed messages are dropped (a TCP connection that sent one is closed: its framing
  can no longer be trusted);
* TCP connections: at most ``max_connections`` in all and ``max_connections_per_host``
  from one address; a connection idle for ``idle_timeout_s`` is closed, and a message
  must arrive whole within ``read_timeout_s`` once it has started;
* message size: ``sip.MAX_MESSAGE_BYTES``.

TCP framing (RFC 3261 §18.3): headers up to the blank line, then ``Content-Length``
bytes.  Keep-alive CRLFs between messages (RFC 5626 §3.5.1) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from vidaudit.gb28181.sip import (
    MAX_HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    parse,
)

logger = logging.getLogger(__name__)

Transport = Literal["udp", "tcp"]
LOG_EVERY_S = 10.0
#: Source addresses whose buckets and counters are remembered (oldest forgotten first).
_MAX_TRACKED = 10_000
#: Listening on every address: our address is then the one that routes to the peer.
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


@dataclass(frozen=True)
class Peer:
    transport: Transport
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


@dataclass(frozen=True)
class EndpointLimits:
    rate_per_s: float = 50.0
    burst: float = 200.0
    max_connections: int = 1024
    max_connections_per_host: int = 16
    idle_timeout_s: float = 600.0
    read_timeout_s: float = 10.0
    write_timeout_s: float = 10.0


@dataclass
class _Source:
    tokens: float
    at: float
    dropped: int = 0
    malformed: int = 0
    logged_at: float = 0.0


@dataclass
class EndpointCounters:
    received: int = 0
    dropped_rate: int = 0
    malformed: int = 0
    refused_connections: int = 0


Handler = Callable[[SipRequest | SipResponse, Peer], None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipEndpoint) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.owner.received(data, Peer("udp", str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable after sending to a device that went away: not ours to raise.
        logger.debug("SIP UDP error: %s", exc)


#: A UDP and a TCP socket bound to one port: what a SIP endpoint listens on.
SipSockets = tuple[socket.socket, socket.socket]


def _bind_sip_port(host: str, port: int) -> SipSockets:
    """UDP and TCP sockets bound to ``host:port`` (port 0: a free one, the same for both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _attempt in range(20):
        udp_sock = socket.socket(family, socket.SOCK_DGRAM)
        tcp_sock = socket.socket(family, socket.SOCK_STREAM)
        tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp_sock.bind((host, port))
            tcp_sock.bind((host, udp_sock.getsockname()[1]))
        except OSError:
            udp_sock.close()
            tcp_sock.close()
            if port:
                raise
            continue  # the free UDP port is taken for TCP: another pair
        return udp_sock, tcp_sock
    raise OSError(f"no port free for both UDP and TCP on {host}")


@dataclass
class SipEndpoint:
    handler: Handler
    limits: EndpointLimits = field(default_factory=EndpointLimits)
    counters: EndpointCounters = field(default_factory=EndpointCounters)
    _udp: asyncio.DatagramTransport | None = None
    _server: asyncio.Server | None = None
    _connections: dict[Peer, asyncio.StreamWriter] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _sources: OrderedDict[str, _Source] = field(default_factory=OrderedDict)
    host: str = ""
    port: int = 0

    async def start(self, host: str, port: int, sockets: SipSockets | None = None) -> None:
        """Bind UDP and TCP on ``host:port`` (port 0: a free one, the same for both), or
        listen on ``sockets``, bound already by whoever had to know the port before the
        endpoint started (a simulated fleet writing the inventory its recorders register
        to): a port merely found free and bound later may be taken by then."""
        loop = asyncio.get_running_loop()
        if sockets is None:
            udp_sock, tcp_sock = _bind_sip_port(host, port)
        else:
            # Duplicates: the caller keeps its own, so the port stays held while no
            # endpoint runs (what arrives meanwhile waits in the kernel, as for a
            # socket-activated service) and a later endpoint can be handed it again.
            bound = sockets[0].getsockname()[1]
            if port and bound != port:
                raise ValueError(f"the sockets handed over are bound to {bound}, not {port}")
            udp_sock, tcp_sock = sockets[0].dup(), sockets[1].dup()
        self._udp, _protocol = await loop.create_datagram_endpoint(
            lambda: _Udp(self), sock=udp_sock
        )
        self._server = await asyncio.start_server(
            self._serve_tcp, sock=tcp_sock, limit=MAX_HEADER_BYTES, backlog=256
        )
        self.host, self.port = host, int(udp_sock.getsockname()[1])

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections.values()):
            writer.close()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
            self._server = None

    # -- receiving ---------------------------------------------------------------------
    def _source(self, host: str) -> _Source:
        now = time.monotonic()
        found = self._sources.get(host)
        if found is None:
            found = self._sources[host] = _Source(self.limits.burst, now)
            while len(self._sources) > _MAX_TRACKED:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(host)
        return found

    def _admit(self, peer: Peer) -> bool:
        source = self._source(peer.host)
        now = time.monotonic()
        source.tokens = min(
            self.limits.burst, source.tokens + (now - source.at) * self.limits.rate_per_s
        )
        source.at = now
        if source.tokens >= 1:
            source.tokens -= 1
            return True
        source.dropped += 1
        self.counters.dropped_rate += 1
        self._log(peer, source, now)
        return False

    def _log(self, peer: Peer, source: _Source, now: float) -> None:
        if now - source.logged_at < LOG_EVERY_S:
            return
        source.logged_at = now
        logger.warning(
            "SIP from %s: %d message(s) over the rate limit dropped, %d malformed so far",
            peer.host,
            source.dropped,
            source.malformed,
        )

    def received(self, data: bytes, peer: Peer, *, stream: bool = False) -> bool:
        """Parse and hand over one message; False when it was malformed."""
        if not stream and not self._admit(peer):
            return True
        self.counters.received += 1
        if not stream and data.strip(b"\r\n") == b"":
            return True  # a UDP keep-alive ping (RFC 5626 CRLF)
        try:
            message = parse(data, stream=stream)
        except SipParseError as exc:
            source = self._source(peer.host)
            source.malformed += 1
            self.counters.malformed += 1
            now = time.monotonic()
            if now - source.logged_at >= LOG_EVERY_S:
                source.logged_at = now
                logger.warning("malformed SIP from %s dropped: %s", peer, exc)
            return False
        self.handler(message, peer)
        return True

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = writer.get_extra_info("peername")
        peer = Peer("tcp", str(info[0]), int(info[1]))
        same_host = sum(1 for p in self._connections if p.host == peer.host)
        if (
            len(self._connections) >= self.limits.max_connections
            or same_host >= self.limits.max_connections_per_host
        ):
            self.counters.refused_connections += 1
            source = self._source(peer.host)
            source.dropped += 1
            self._log(peer, source, time.monotonic())
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._connections[peer] = writer
        try:
            while True:
                data = await self._read_message(reader)
                if data is None:
                    break
                if not self._admit(peer):
                    continue
                if not self.received(data, peer, stream=True):
                    break
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except ValueError as exc:  # framing: a bad Content-Length, a line too long
            logger.warning("SIP over TCP from %s: %s; connection closed", peer, exc)
        finally:
            self._connections.pop(peer, None)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _read_message(self, reader: asyncio.StreamReader) -> bytes | None:
        async with asyncio.timeout(self.limits.idle_timeout_s):
            while True:
                first = await reader.readline()
                if not first:
                    return None
                if first.strip(b"\r\n"):
                    break  # skip keep-alive CRLFs between messages
        head = bytearray(first)
        async with asyncio.timeout(self.limits.read_timeout_s):
            while not head.endswith(b"\r\n\r\n"):
                line = await reader.readline()
                if not line:
                    raise asyncio.IncompleteReadError(bytes(head), None)
                head.extend(line)
                if len(head) > MAX_HEADER_BYTES:
                    raise ValueError("headers too long")
            length = 0
            for line in bytes(head).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    text = value.strip()
                    if not text.isdigit():
                        raise ValueError("bad Content-Length")
                    length = int(text)
            if length > MAX_MESSAGE_BYTES:
                raise ValueError("message too large")
            body = await reader.readexactly(length) if length else b""
        return bytes(head) + body

    # -- sending -----------------------------------------------------------------------
    def connected(self, peer: Peer) -> bool:
        return peer.transport == "udp" or peer in self._connections

    def send(self, message: SipMessage, peer: Peer) -> bool:
        """Send; False when there is no way to (UDP closed, TCP connection gone)."""
        data = message.to_bytes()
        if peer.transport == "udp":
            if self._udp is None:
                return False
            self._udp.sendto(data, (peer.host, peer.port))
            return True
        writer = self._connections.get(peer)
        if writer is None or writer.is_closing():
            return False
        writer.write(data)
        if writer.transport.get_write_buffer_size() > 4 * MAX_MESSAGE_BYTES:
            # A peer that does not read: drop it rather than buffer without bound.
            writer.close()
            return False
        return True

    def local_host_for(self, peer: Peer) -> str:
        """Our address as ``peer`` sees it (for Via, Contact, From and SDP)."""
        if peer.transport == "tcp":
            writer = self._connections.get(peer)
            if writer is not None:
                return str(writer.get_extra_info("sockname")[0])
        if self.host not in _WILDCARDS:
            return self.host
        family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((peer.host, peer.port or 9))
                return str(probe.getsockname()[0])
            except OSError:
                return "127.0.0.1"


__all__ = ["EndpointCounters", "EndpointLimits", "Peer", "SipEndpoint", "Transport"]
