"""The machine-readable time code burnt into every replay frame (format version 1).

Why: a test (or a person debugging a frame puller) must be able to say exactly which
instant a decoded frame shows, independently of RTP timestamps or NTP extensions.

Format, version 1 (``TIMECODE_VERSION``):

- a row of 64 square blocks across the top-left of the picture, block side
  ``width // 64`` pixels (10 px at 640x360), starting at pixel (0, 0);
- each block is black (bit 0) or white (bit 1), bits MSB first from left to right;
- blocks 0-47: milliseconds since 1970-01-01T00:00:00Z on the *device's own clock* (what the
  device believes; true UTC = that minus the device's clock drift) as an unsigned 48-bit number;
- blocks 48-63: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)
  of the 6 big-endian value bytes, so a misread frame is detected rather than misdated.

To read it: sample the luma at the centre of each block, threshold at 128.  The reader
the tests use lives in ``tests/sim/timecode.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TIMECODE_VERSION = 1
BLOCKS = 64
VALUE_BITS = 48
CHECK_BITS = 16


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF (check value of b"123456789" is 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def timecode_bits(ms: int) -> list[int]:
    """The 64 block values (1 = white) for ``ms`` since the epoch (device clock)."""
    if not 0 <= ms < 1 << VALUE_BITS:
        raise ValueError(f"time code value out of range: {ms}")
    value = ms.to_bytes(VALUE_BITS // 8, "big")
    word = (ms << CHECK_BITS) | crc16_ccitt(value)
    return [(word >> (BLOCKS - 1 - i)) & 1 for i in range(BLOCKS)]


def draw_timecode(img: npt.NDArray[np.uint8], ms: int) -> None:
    """Paint the block row into ``img`` (H x W x 3, any colour order) in place."""
    side = img.shape[1] // BLOCKS
    row = np.repeat(np.array(timecode_bits(ms), np.uint8) * 255, side)
    img[:side, : BLOCKS * side] = row[None, :, None]


__all__ = ["BLOCKS", "TIMECODE_VERSION", "crc16_ccitt", "draw_timecode", "timecode_bits"]
