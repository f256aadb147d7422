"""A minimal ONVIF replay server over a test clip (asyncio, TCP interleaved only).

Enough to exercise the client's clock mode without the simulator: DESCRIBE/SETUP/PLAY/
PAUSE/TEARDOWN, ``Range: clock=`` starting at the keyframe at or before the instant, 457
outside the clip, the 0xABAC extension (NTP = origin + frame offset), single-NAL and FU-A
packets. ``mode`` makes it misbehave: "garbage" answers DESCRIBE with junk, "no-ext" leaves
out the extension (the client then places frames by RTP-Info), "require-551" refuses
``Require``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


@dataclass
class Frame:
    offset: timedelta
    keyframe: bool
    nals: list[bytes]


def load_frames(ts_clip: Path) -> list[Frame]:
    """The clip's frames as NAL units (MPEG-TS carries Annex B already)."""
    frames: list[Frame] = []
    with av.open(str(ts_clip)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        first: int | None = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            first = packet.pts if first is None else first
            data = bytes(packet)
            nals = [n.lstrip(b"\x00") for n in data.split(b"\x00\x00\x01") if n.strip(b"\x00")]
            offset = timedelta(seconds=float((packet.pts - first) * stream.time_base))
            frames.append(Frame(offset, packet.is_keyframe, nals))
    return frames


def _packets(frame: Frame, mtu: int = 1200) -> list[tuple[bytes, bool]]:
    out: list[tuple[bytes, bool]] = []
    for nal in frame.nals:
        if len(nal) <= mtu:
            out.append((nal, False))
            continue
        header, body = nal[0], nal[1:]
        chunks = [body[i : i + mtu] for i in range(0, len(body), mtu)]
        for i, chunk in enumerate(chunks):
            fu = (header & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
            out.append((bytes([(header & 0xE0) | 28, fu]) + chunk, False))
    if out:
        out[-1] = (out[-1][0], True)
    return out


@dataclass
class FakeReplay:
    frames: list[Frame]
    origin: datetime
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)
    seq: int = 1000

    def _rtp(self, payload: bytes, marker: bool, frame: Frame, cseq: int, first: bool) -> bytes:
        ts = (round(frame.offset.total_seconds() * 90000) + 12345) & 0xFFFFFFFF
        ext = b""
        first_byte = 0x80
        if self.mode != "no-ext":
            ntp = self.origin + frame.offset - NTP_EPOCH
            seconds = int(ntp.total_seconds())
            fraction = int((ntp - timedelta(seconds=seconds)) / timedelta(seconds=1) * 2**32)
            flags = 0x80 if frame.keyframe else 0
            ext = struct.pack("!HHIIBBH", 0xABAC, 3, seconds, fraction, flags, cseq & 0xFF, 0)
            first_byte |= 0x10
        self.seq = (self.seq + 1) & 0xFFFF
        header = struct.pack(
            "!BBHII", first_byte, (0x80 if marker else 0) | 96, self.seq, ts, 0x1234
        )
        return header + ext + payload

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        streaming: asyncio.Task[None] | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method = lines[0].split(" ")[0]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                self.requests.append(head.decode())
                cseq = int(headers["cseq"])
                if streaming is not None and method in ("PAUSE", "TEARDOWN", "PLAY"):
                    streaming.cancel()
                    streaming = None
                status, extra, body = "200 OK", "", b""
                if self.mode == "require-551" and "require" in headers:
                    status, extra = "551 Option not supported", "Unsupported: onvif-replay\r\n"
                elif method == "DESCRIBE":
                    if self.mode == "garbage":
                        writer.write(b"HTTP/1.1 200 OK\r\n\r\n<html>")
                        await writer.drain()
                        return
                    body = (
                        b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=replay\r\nt=0 0\r\n"
                        b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                        b"a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n"
                    )
                    extra = "Content-Type: application/sdp\r\nContent-Base: rtsp://x/replay/\r\n"
                elif method == "SETUP":
                    extra = (
                        "Session: 77;timeout=60\r\n"
                        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                    )
                elif method == "PLAY":
                    rng = headers.get("range", "")
                    start = datetime.strptime(rng[6:21], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                    start += timedelta(milliseconds=int(rng[22:25]))
                    offset = start - self.origin
                    index = max(
                        (i for i, f in enumerate(self.frames) if f.keyframe and f.offset <= offset),
                        default=None,
                    )
                    if index is None or offset > self.frames[-1].offset:
                        status = "457 Invalid Range"
                    else:
                        actual = self.origin + self.frames[index].offset
                        utc = (
                            actual.strftime("%Y%m%dT%H%M%S") + f".{actual.microsecond // 1000:03d}Z"
                        )
                        # The answer's Range is where the stream really starts (the clean
                        # point), and RTP-Info's rtptime is that instant's RTP timestamp.
                        extra = f"Session: 77\r\nRange: clock={utc}-\r\nRTP-Info: url=rtsp://x/replay/track1;seq={(self.seq + 1) & 0xFFFF};rtptime={(round(self.frames[index].offset.total_seconds() * 90000) + 12345) & 0xFFFFFFFF}\r\n"  # noqa: E501
                        writer.write(f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}\r\n".encode())
                        streaming = asyncio.create_task(self._stream(writer, index, cseq))
                        continue
                writer.write(
                    f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                if method == "TEARDOWN":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            if streaming is not None:
                streaming.cancel()
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, index: int, cseq: int) -> None:
        for frame in self.frames[index:]:
            for payload, marker in _packets(frame):
                data = self._rtp(payload, marker, frame, cseq, False)
                writer.write(b"$\x00" + struct.pack("!H", len(data)) + data)
            await writer.drain()  # as fast as TCP allows: Rate-Control: no


@asynccontextmanager
async def fake_replay(server: FakeReplay) -> AsyncIterator[int]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
