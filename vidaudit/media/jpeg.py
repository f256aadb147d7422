"""JPEG encoding of a pulled frame and the content hash that names it in the evidence store."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from numpy.typing import NDArray


def encode_jpeg(image: NDArray[np.uint8], quality: int = 90) -> bytes:
    """``image`` (BGR, or single-channel gray) as JPEG bytes at ``quality`` (1–100)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within 1..100, got {quality}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected an 8-bit image, got {image.dtype} with shape {image.shape}")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as JPEG")
    return bytes(buffer.tobytes())


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
