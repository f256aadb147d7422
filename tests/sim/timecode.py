"""Reader for the replay frames' time code (format version 1, written by
``vidaudit/sim/rtsp/timecode.py``).

Format: 64 square blocks across the top of the picture from pixel (0, 0), side
``width // 64``; white = 1, MSB first; blocks 0-47 = milliseconds since 1970-01-01T00:00:00Z on
the device's clock (unsigned 48-bit), blocks 48-63 = CRC-16/CCITT-FALSE (poly 0x1021, init
0xFFFF) of the 6 big-endian value bytes.  Read the luma at each block's centre, threshold 128.

Written independently of the simulator's writer on purpose: a test that reused the writer's
helpers would agree with it even if both were wrong.
"""

from __future__ import annotations

import numpy as np


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def read_timecode(luma: np.ndarray) -> int | None:
    """Milliseconds since the epoch (device clock) shown by a frame, None if unreadable."""
    side = luma.shape[1] // 64
    centres = luma[side // 2, [i * side + side // 2 for i in range(64)]]
    word = 0
    for value in centres:
        word = (word << 1) | int(value >= 128)
    ms, check = word >> 16, word & 0xFFFF
    return ms if _crc16(ms.to_bytes(6, "big")) == check else None
