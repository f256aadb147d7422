"""A machine-readable time code burnt into test frames, and its reader.

Format: one row of 40 square blocks across the top of the frame, block side =
frame width // 40 (16 px at 640 wide). Blocks 0–31 carry the frame's offset from the clip
start in milliseconds, as an unsigned 32-bit integer, most significant bit first; blocks
32–39 carry a check byte (the XOR of the four value bytes, XOR 0x5A) so that a misread
(or a frame that carries no code) is refused instead of giving a wrong time.
A white block (255) is 1, a black block (0) is 0. The reader samples the middle half of each
block, so H.264 ringing at block edges does not matter.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

VALUE_BITS = 32
CHECK_BITS = 8
BLOCKS = VALUE_BITS + CHECK_BITS


def block_side(width: int) -> int:
    return width // BLOCKS


def _check_byte(value: int) -> int:
    check = 0x5A
    for shift in (24, 16, 8, 0):
        check ^= (value >> shift) & 0xFF
    return check


def _bits(value: int) -> list[int]:
    word = (value << CHECK_BITS) | _check_byte(value)
    return [(word >> (BLOCKS - 1 - i)) & 1 for i in range(BLOCKS)]


def draw_timecode(image: NDArray[np.uint8], millis: int) -> None:
    """Draw the code for ``millis`` into the top rows of ``image`` (BGR, in place)."""
    if not 0 <= millis < 2**VALUE_BITS:
        raise ValueError(f"time code out of range: {millis}")
    side = block_side(image.shape[1])
    for i, bit in enumerate(_bits(millis)):
        image[0:side, i * side : (i + 1) * side] = 255 if bit else 0


def read_timecode(image: NDArray[np.uint8]) -> int:
    """The milliseconds coded in ``image``; ValueError when the check byte does not match."""
    side = block_side(image.shape[1])
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lo, hi = side // 4, side - side // 4
    word = 0
    for i in range(BLOCKS):
        block = gray[lo:hi, i * side + lo : i * side + hi]
        word = (word << 1) | int(float(block.mean()) > 127.5)
    value, check = word >> CHECK_BITS, word & 0xFF
    if check != _check_byte(value):
        raise ValueError(f"no valid time code (read {word:#012x})")
    return value
