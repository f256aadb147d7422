"""RTP packets for H.264 (RFC 6184) with the ONVIF replay header extension.

Every packet carries the 0xABAC extension (ONVIF Streaming spec, "RTP header extension"),
length 3 words::

    NTP timestamp, 64 bits: seconds since 1900-01-01 (32) + fraction (32), the frame's
        instant on the device clock
    byte: C (0x80) clean point | E (0x40) end of a contiguous section | D (0x20)
        discontinuity | T (0x10) terminal frame | 4 bits mbz
    byte: low-order byte of the CSeq of the PLAY that started the transmission
    2 bytes padding (zero)

The flags are per access unit: all packets of a keyframe have C, all packets of the last
frame before a gap (or of the last recorded frame) have E, all packets of the first frame
after a gap (or after a PLAY that started inside a gap) have D.  NAL units up to
``MAX_PAYLOAD`` bytes go as single-NAL packets, larger ones as FU-A fragments; the marker bit
is set on the last packet of each access unit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAYLOAD_TYPE = 96
CLOCK_RATE = 90_000
REPLAY_EXTENSION_ID = 0xABAC
#: 1400 bytes of payload keeps a packet (with headers) inside a 1500-byte Ethernet MTU.
MAX_PAYLOAD = 1400
NTP_UNIX_OFFSET_S = 2_208_988_800
FLAG_C, FLAG_E, FLAG_D, FLAG_T = 0x80, 0x40, 0x20, 0x10
NAL_FU_A = 28


def ntp_from_ms(ms: int) -> tuple[int, int]:
    """(seconds since 1900, 32-bit fraction) for ``ms`` since 1970."""
    seconds, rest = divmod(ms, 1000)
    return (seconds + NTP_UNIX_OFFSET_S) & 0xFFFFFFFF, (rest << 32) // 1000


def replay_extension(ms: int, flags: int, cseq: int) -> bytes:
    seconds, fraction = ntp_from_ms(ms)
    return struct.pack(
        "!HHIIBBH", REPLAY_EXTENSION_ID, 3, seconds, fraction, flags & 0xF0, cseq & 0xFF, 0
    )


def rtp_timestamp(ms: int) -> int:
    """90 kHz clock from the frame's recording instant: continuous within a section, and
    the same on every PLAY (the spec's Rate-Control=no rule: original sampling times)."""
    return (ms * (CLOCK_RATE // 1000)) & 0xFFFFFFFF


@dataclass
class Packetizer:
    ssrc: int
    seq: int

    def access_unit(self, nals: tuple[bytes, ...], timestamp: int, extension: bytes) -> list[bytes]:
        payloads: list[bytes] = []
        for nal in nals:
            if len(nal) <= MAX_PAYLOAD:
                payloads.append(nal)
                continue
            nal_header = nal[0]
            indicator = (nal_header & 0xE0) | NAL_FU_A
            kind = nal_header & 0x1F
            body = nal[1:]
            step = MAX_PAYLOAD - 2
            for offset in range(0, len(body), step):
                start = 0x80 if offset == 0 else 0
                end = 0x40 if offset + step >= len(body) else 0
                payloads.append(
                    bytes((indicator, start | end | kind)) + body[offset : offset + step]
                )
        out = []
        for i, payload in enumerate(payloads):
            marker = 0x80 if i == len(payloads) - 1 else 0
            header = struct.pack(
                "!BBHII", 0x90, marker | PAYLOAD_TYPE, self.seq, timestamp, self.ssrc
            )
            self.seq = (self.seq + 1) & 0xFFFF
            out.append(header + extension + payload)
        return out


__all__ = [
    "CLOCK_RATE",
    "FLAG_C",
    "FLAG_D",
    "FLAG_E",
    "FLAG_T",
    "PAYLOAD_TYPE",
    "REPLAY_EXTENSION_ID",
    "Packetizer",
    "ntp_from_ms",
    "replay_extension",
    "rtp_timestamp",
]
