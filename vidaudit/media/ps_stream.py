"""Frames from an MPEG program stream arriving as RTP (GB/T 28181 playback).

A GB/T 28181 recorder sends its recordings as RTP packets whose payloads, joined in
sequence order, are an MPEG-2 program stream (GB/T 28181-2016 Annex C): over UDP to our
port, or over a TCP connection it opens to us (``a=setup:passive`` on our side), each
packet preceded by a 2-byte length (RFC 4571).  ``PsReceiver`` takes the packets and
feeds the joined payload to FFmpeg's MPEG-PS demuxer through PyAV (not a demuxer of our
own: FFmpeg's reads the pack headers, the stream map and PES packets of every recorder
brand), decodes with PyAV and picks the frame nearest each instant with the same walk as
the other routes (``stream_frames.frames_from_container``).

The stream carries no wall time: its first frame is the playback's start instant (what
the INVITE's ``t=`` asked for) and later frames are placed by their PTS distance from it.

Bounds: at most ``MAX_BUFFERED`` payload chunks wait for the decoder (UDP beyond that is
dropped and counted as loss, TCP is simply not read: the sender is throttled), RTP packets
over TCP at most 64 kB (the length field), a read waiting longer than ``timeout_s`` ends
the stream, and only one connection is accepted on the TCP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import struct
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import av
import av.container
import av.error

from vidaudit.media.errors import MediaError, media_error
from vidaudit.media.pulled import Instant, PulledFrame, require_aware
from vidaudit.media.rtp import RtpFormatError, parse_rtp, seq_newer_or_equal
from vidaudit.media.stream_frames import frames_from_container

PsTransport = Literal["udp", "tcp"]
MAX_BUFFERED = 4096
#: What FFmpeg may read before it names the streams: the first keyframe's pack carries
#: the stream map, so a little suffices.
_PROBESIZE = 65536


class _Pipe:
    """A blocking file-like object PyAV reads the program stream from (in a thread)."""

    def __init__(self, timeout_s: float) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(MAX_BUFFERED)
        self.timeout_s = timeout_s
        self._rest = b""
        self.ended = False
        self.timed_out = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while not self._rest and not self.ended:
            if self.closed:
                self.ended = True
                break
            try:
                chunk = self.chunks.get(timeout=self.timeout_s)
            except queue.Empty:
                self.timed_out = self.ended = True
                break
            if chunk is None:
                self.ended = True
            else:
                self._rest = chunk
        if size < 0 or size >= len(self._rest):
            out, self._rest = self._rest, b""
        else:
            out, self._rest = self._rest[:size], self._rest[size:]
        return out

    def put(self, chunk: bytes | None) -> bool:
        try:
            self.chunks.put_nowait(chunk)
        except queue.Full:
            return False
        return True


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: PsReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.receiver.packet(data)


class PsReceiver:
    """A local port receiving one playback's RTP/PS.  Open it, offer its ``port`` in the
    INVITE, then ``frames``; ``close`` always."""

    def __init__(self, transport: PsTransport, host: str, timeout_s: float) -> None:
        self.transport = transport
        self.host = host
        self.port = 0
        self.pipe = _Pipe(timeout_s)
        self.timeout_s = timeout_s
        self.packets = 0
        self.lost = 0
        self.malformed = 0
        self._next_seq: int | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._connected = False
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, transport: PsTransport, host: str, timeout_s: float) -> PsReceiver:
        receiver = cls(transport, host, timeout_s)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            receiver._udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _Datagrams(receiver), local_addr=(host, 0)
            )
            receiver.port = receiver._udp.get_extra_info("sockname")[1]
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            receiver._server = await asyncio.start_server(
                receiver._accept, host, 0, family=family, backlog=1
            )
            receiver.port = receiver._server.sockets[0].getsockname()[1]
        return receiver

    def packet(self, data: bytes) -> None:
        """One RTP packet: its payload goes to the demuxer in sequence order."""
        try:
            packet = parse_rtp(data)
        except RtpFormatError:
            self.malformed += 1
            return
        expected = self._next_seq
        if expected is not None and not seq_newer_or_equal(packet.sequence, expected):
            return  # a duplicate or a late one: its place in the stream has passed
        if expected is not None and packet.sequence != expected:
            self.lost += (packet.sequence - expected) & 0xFFFF
        self._next_seq = (packet.sequence + 1) & 0xFFFF
        self.packets += 1
        if not self.pipe.put(packet.payload):
            self.lost += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connected:
            writer.close()  # one sender per playback
            return
        self._connected = True
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                async with asyncio.timeout(self.timeout_s):
                    head = await reader.readexactly(2)
                    data = await reader.readexactly(struct.unpack(">H", head)[0])
                self.packet(data)
                # Let the decoder (a thread, so no event to await) catch up; meanwhile TCP
                # throttles the sender.
                while self.pipe.chunks.full():  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            self.pipe.put(None)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def frames(
        self,
        start_instant: datetime,
        instants: Sequence[Instant],
        *,
        max_wall_s: float | None = None,
        source: str = "gb28181",
    ) -> list[PulledFrame]:
        """The frame nearest each instant; the stream's first frame shows ``start_instant``."""
        require_aware(start_instant, "start_instant")
        deadline = None if max_wall_s is None else time.monotonic() + max_wall_s
        return await asyncio.to_thread(self._decode, start_instant, instants, deadline, source)

    def _decode(
        self,
        start_instant: datetime,
        instants: Sequence[Instant],
        deadline: float | None,
        source: str,
    ) -> list[PulledFrame]:
        what = f"playback {source}"
        started = time.monotonic()
        try:
            container = av.open(
                self.pipe,
                mode="r",
                format="mpeg",
                options={"probesize": str(_PROBESIZE), "analyzeduration": "0"},
            )
        except (av.error.FFmpegError, OSError) as exc:
            if self.pipe.timed_out:
                raise MediaError(
                    "timeout", f"{what}: no media within {self.timeout_s:g} s"
                ) from exc
            raise media_error(exc, f"opening {what}", elapsed_s=time.monotonic() - started) from exc
        if not isinstance(container, av.container.InputContainer) or not container.streams.video:
            container.close()
            raise MediaError("malformed", f"{what}: the program stream has no video")
        with container:
            return frames_from_container(
                container, source, start_instant, instants, self.timeout_s, deadline
            )

    async def close(self) -> None:
        self.pipe.closed = True
        self.pipe.put(None)
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()


__all__ = ["PsReceiver", "PsTransport"]
