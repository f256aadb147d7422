"""The fixed-size frame every picture check runs on, so thresholds do not depend on resolution.

A 1080p frame is 36 source pixels per analysis pixel. ``cv2.INTER_AREA`` averages all 36 but
costs ~1.8 ms per 1080p frame on one core here (that alone caps diagnostics near 550
frames/s). Instead, large downscales first keep one source row in every
``height // 180`` (a strided view: no copy, and the skipped rows are never read from
memory, which is what a fresh 6 MB frame costs), then ``cv2.INTER_LINEAR`` averages
neighbouring pixels along the row: ~0.27 ms for a 1080p frame that is not in cache, ~0.15 ms
for one that is. The statistics the checks use (means, spreads, histogram, coarse structure,
the Laplacian at analysis scale) come out close to INTER_AREA's (mean abs difference ~3 gray
levels on a noisy frame, mostly noise the area filter would have averaged away).
Downscales by 2 or less use INTER_AREA, which is then cheap.
Every source is squeezed to 16:9 (a 4:3 D1 camera too): the checks compare statistics, and
the same camera always gets the same squeeze.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

#: (width, height) of the analysis frame.
ANALYSIS_SIZE = (320, 180)

Image = NDArray[np.uint8]


def to_analysis_size(image: Image) -> tuple[Image, Image]:
    """``(bgr, gray)`` of ``image`` (BGR, or gray) at ``ANALYSIS_SIZE``."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"expected an 8-bit image, got {image.dtype} with shape {image.shape}")
    height, width = image.shape[:2]
    target_w, target_h = ANALYSIS_SIZE
    if image.ndim == 3 and image.shape[2] != 3:
        raise ValueError(f"expected 1 or 3 channels, got shape {image.shape}")
    small: Image
    if (width, height) == ANALYSIS_SIZE:
        small = np.ascontiguousarray(image)
    elif width <= 2 * target_w and height <= 2 * target_h:
        small = as_u8(cv2.resize(image, ANALYSIS_SIZE, interpolation=cv2.INTER_AREA))
    else:
        step = height // target_h
        rows = image[step // 2 :: step] if step >= 2 else image
        small = as_u8(cv2.resize(rows, ANALYSIS_SIZE, interpolation=cv2.INTER_LINEAR))
    if small.ndim == 2:
        return as_u8(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)), small
    return small, as_u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))


def as_u8(array: NDArray[Any]) -> Image:
    """``array`` typed as 8-bit (OpenCV's stubs return untyped arrays); copies only if needed."""
    return np.asarray(array, dtype=np.uint8)
