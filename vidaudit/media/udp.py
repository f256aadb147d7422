"""RTP and RTCP over UDP: an even/odd port pair (RFC 3550), datagrams into a bounded
queue (overflow counts as loss), an RTCP BYE as a flag."""

from __future__ import annotations

import asyncio
import socket

from vidaudit.media.errors import MediaError
from vidaudit.media.rtp import rtcp_has_bye

#: UDP packets waiting to be handled; beyond this they are dropped (counted as loss).
UDP_QUEUE_PACKETS = 4096


class UdpReceiver(asyncio.DatagramProtocol):
    """One UDP port's datagrams into a bounded queue (RTP), or a BYE flag (RTCP)."""

    def __init__(self, rtcp: bool) -> None:
        self.rtcp = rtcp
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(UDP_QUEUE_PACKETS)
        self.dropped = 0
        self.bye = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.rtcp:
            if rtcp_has_bye(data):
                self.bye.set()
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1


async def udp_pair(
    host: str,
) -> tuple[asyncio.DatagramTransport, UdpReceiver, asyncio.DatagramTransport, UdpReceiver]:
    """Two UDP endpoints on an even port and the next (RTP, RTCP), as RFC 3550 asks."""
    loop = asyncio.get_running_loop()
    for _ in range(20):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind((host, 0))
            port = probe.getsockname()[1] & ~1
        finally:
            probe.close()
        try:
            rtp_t, rtp_p = await loop.create_datagram_endpoint(
                lambda: UdpReceiver(rtcp=False), local_addr=(host, port)
            )
        except OSError:
            continue
        try:
            rtcp_t, rtcp_p = await loop.create_datagram_endpoint(
                lambda: UdpReceiver(rtcp=True), local_addr=(host, port + 1)
            )
        except OSError:
            rtp_t.close()
            continue
        return rtp_t, rtp_p, rtcp_t, rtcp_p
    raise MediaError("unreachable", "no free pair of UDP ports for RTP/RTCP")
