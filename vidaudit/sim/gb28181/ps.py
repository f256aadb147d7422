"""MPEG-2 program stream (ISO/IEC 13818-1 §2.5) as GB/T 28181 recorders send it, in RTP.

Layout per frame, as Hikvision and Dahua recorders do it (GB/T 28181-2016 Annex C): a
pack header, then on keyframes a system header and a program stream map (video stream
0xE0 is H.264, ``stream_type`` 0x1B), then the frame's Annex B NAL units in PES packets
(0xE0) of at most 65,535 bytes, the first with a PTS.  The RTP payload is that byte
stream cut into pieces of at most ``RTP_CHUNK`` bytes, payload type 96, 90 kHz
timestamps equal to the PTS, the marker bit on a frame's last piece (GB/T 28181 Annex
C.2).  Over TCP each RTP packet is preceded by its 2-byte length (RFC 4571).
"""

from __future__ import annotations

import struct

STREAM_VIDEO = 0xE0
STREAM_TYPE_H264 = 0x1B
RTP_CHUNK = 1400
PAYLOAD_TYPE = 96
_PES_MAX = 65_535 - 8
_START = b"\x00\x00\x00\x01"


def _timestamp_bytes(prefix: int, value: int) -> bytes:
    """The 5-byte PTS/DTS field (33 bits with markers)."""
    value &= (1 << 33) - 1
    return bytes(
        [
            (prefix << 4) | (((value >> 30) & 0x07) << 1) | 1,
            (value >> 22) & 0xFF,
            (((value >> 15) & 0x7F) << 1) | 1,
            (value >> 7) & 0xFF,
            ((value & 0x7F) << 1) | 1,
        ]
    )


def pack_header(scr: int) -> bytes:
    scr &= (1 << 33) - 1
    mux_rate = 6106  # 50-byte units per second, as Hikvision writes it
    return b"\x00\x00\x01\xba" + bytes(
        [
            0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03),
            (scr >> 20) & 0xFF,
            ((scr >> 12) & 0xF8) | 0x04 | ((scr >> 13) & 0x03),
            (scr >> 5) & 0xFF,
            ((scr << 3) & 0xF8) | 0x04,  # SCR extension 0
            0x01,
            (mux_rate >> 14) & 0xFF,
            (mux_rate >> 6) & 0xFF,
            ((mux_rate << 2) & 0xFC) | 0x03,
            0xF8,  # reserved, no stuffing
        ]
    )


def system_header() -> bytes:
    body = bytes([0x80, 0x5F, 0x6D, 0x04, 0xE1, 0xFF])  # rate bound, 1 video stream
    body += bytes([STREAM_VIDEO, 0xE0, 0x80])  # P-STD buffer for 0xE0
    return b"\x00\x00\x01\xbb" + struct.pack(">H", len(body)) + body


def stream_map() -> bytes:
    entries = bytes([STREAM_TYPE_H264, STREAM_VIDEO]) + struct.pack(">H", 0)
    body = bytes([0xE0, 0xFF]) + struct.pack(">H", 0) + struct.pack(">H", len(entries))
    body += entries + b"\x00\x00\x00\x00"  # CRC_32: demuxers do not check it
    return b"\x00\x00\x01\xbc" + struct.pack(">H", len(body)) + body


def pes_packets(payload: bytes, pts: int) -> list[bytes]:
    out = []
    first = True
    for offset in range(0, max(len(payload), 1), _PES_MAX):
        piece = payload[offset : offset + _PES_MAX]
        # the first PES of a frame carries its PTS; the rest of a large frame follows bare
        header = bytes([0x80, 0x80, 0x05]) + _timestamp_bytes(0x2, pts)
        if not first:
            header = bytes([0x80, 0x00, 0x00])
        first = False
        out.append(
            b"\x00\x00\x01"
            + bytes([STREAM_VIDEO])
            + struct.pack(">H", len(header) + len(piece))
            + header
            + piece
        )
    return out


def frame_ps(
    nals: tuple[bytes, ...], pts: int, keyframe: bool, parameter_sets: tuple[bytes, ...]
) -> bytes:
    """One frame as program stream bytes; a keyframe carries its SPS/PPS in front."""
    units = (*parameter_sets, *nals) if keyframe else nals
    payload = b"".join(_START + nal for nal in units)
    head = pack_header(pts)
    if keyframe:
        head += system_header() + stream_map()
    return head + b"".join(pes_packets(payload, pts))


class RtpPacker:
    def __init__(self, ssrc: int, seq: int = 0) -> None:
        self.ssrc = ssrc & 0xFFFFFFFF
        self.seq = seq & 0xFFFF

    def packets(self, data: bytes, timestamp: int) -> list[bytes]:
        pieces = [data[i : i + RTP_CHUNK] for i in range(0, len(data), RTP_CHUNK)] or [b""]
        out = []
        for index, piece in enumerate(pieces):
            marker = 0x80 if index == len(pieces) - 1 else 0
            header = struct.pack(
                ">BBHII",
                0x80,
                marker | PAYLOAD_TYPE,
                self.seq,
                timestamp & 0xFFFFFFFF,
                self.ssrc,
            )
            self.seq = (self.seq + 1) & 0xFFFF
            out.append(header + piece)
        return out


def tcp_framed(packet: bytes) -> bytes:
    """RFC 4571: a 16-bit length, then the RTP packet."""
    return struct.pack(">H", len(packet)) + packet
