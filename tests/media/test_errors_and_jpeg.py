"""Error kinds for FFmpeg failures, JPEG evidence and its hash, the time code helper."""

from __future__ import annotations

import errno
import hashlib

import av.error
import cv2
import numpy as np
import pytest

from tests.media.timecode import draw_timecode, read_timecode
from vidaudit.media.errors import MediaError, classify_av_error, scrub_userinfo
from vidaudit.media.jpeg import encode_jpeg, sha256_hex


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (av.error.HTTPUnauthorizedError(-1, "401"), "auth"),
        (av.error.HTTPNotFoundError(-1, "404"), "not_found"),
        (av.error.ExitError(-1, "Immediate exit requested"), "timeout"),
        (av.error.ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "unreachable"),
        (av.error.InvalidDataError(-1, "Invalid data"), "malformed"),
        (av.error.DecoderNotFoundError(-1, "no decoder"), "unsupported"),
        (av.error.HTTPBadRequestError(-1, "400"), "unsupported"),
        (OSError(errno.EIO, "Input/output error"), "unreachable"),
    ],
)
def test_classify(exc: av.error.FFmpegError | OSError, kind: str) -> None:
    assert classify_av_error(exc) == kind


def test_a_failure_once_the_budget_is_spent_is_a_timeout() -> None:
    # FFmpeg's RTSP demuxer reports a read timeout as "Invalid data".
    exc = av.error.InvalidDataError(-1, "Invalid data")
    assert classify_av_error(exc, elapsed_s=2.0, timeout_s=2.0) == "timeout"
    assert classify_av_error(exc, elapsed_s=0.1, timeout_s=2.0) == "malformed"


def test_messages_never_carry_credentials() -> None:
    error = MediaError("auth", "opening 'rtsp://admin:hunter2@10.0.0.1/x' failed")
    assert "hunter2" not in str(error)
    assert "rtsp://10.0.0.1/x" in error.message
    assert scrub_userinfo("http://a@b/ and rtsp://u:p@h/") == "http://b/ and rtsp://h/"


def test_jpeg_round_trip_and_hash() -> None:
    image = np.zeros((90, 160, 3), np.uint8)
    image[:, 80:] = (0, 0, 255)
    data = encode_jpeg(image, quality=85)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert len(encode_jpeg(image, quality=30)) < len(data)
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(image, quality=0)
    with pytest.raises(ValueError, match="8-bit"):
        encode_jpeg(image.astype(np.float32))


@pytest.mark.parametrize("millis", [0, 1, 40, 1240, 86_399_999, 2**32 - 1])
def test_timecode_round_trip(millis: int) -> None:
    image = np.full((360, 640, 3), 128, np.uint8)
    draw_timecode(image, millis)
    assert read_timecode(image) == millis


def test_timecode_refuses_a_frame_without_one() -> None:
    image = np.full((360, 640, 3), 128, np.uint8)
    draw_timecode(image, 1240)
    image[:16, 16:32] = 255 - image[:16, 16:32]  # flip one bit
    with pytest.raises(ValueError, match="no valid time code"):
        read_timecode(image)
