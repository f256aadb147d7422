"""Error kinds for decoding: every PyAV/FFmpeg failure becomes one ``MediaError``.

The kinds are the project's one vocabulary (``vidaudit.errors``); this module says how a
decoding failure is sorted into one of them.

How each kind is detected (``classify_av_error``):

* ``unreachable``  connection refused / reset / aborted, DNS failure (FFmpeg reports it as a
  bare ``EIO``), host or network unreachable, RTSP/HTTP 5xx (the server is there but cannot
  serve: an NVR answers 503 when all its playback sessions are taken).
* ``timeout``      FFmpeg's ``ETIMEDOUT``, PyAV's interrupt callback firing (``ExitError``),
  or any failure that happened once the time budget was spent: FFmpeg's RTSP demuxer turns a
  socket read timeout into ``AVERROR_INVALIDDATA``, so the error alone would say "malformed".
* ``auth``         RTSP/HTTP 401 or 403.
* ``not_found``    404, no such file, or an instant outside the recording.
* ``malformed``    the bytes are not a valid container or bitstream.
* ``unsupported``  no demuxer/decoder/protocol for it, or another 4xx (400, 405, 457 "invalid
  range"...): the device did not accept the request we know how to make.

Messages are safe to store: URLs in them are passed through ``redact`` first.
"""

from __future__ import annotations

import errno
import re
from typing import get_args

import av.error

from vidaudit.errors import MediaErrorKind as MediaErrorKind
from vidaudit.errors import VidauditError

MEDIA_ERROR_KINDS: tuple[MediaErrorKind, ...] = get_args(MediaErrorKind)

#: A failure after this fraction of the time budget is counted as a timeout (see module doc).
_TIMEOUT_FRACTION = 0.9

#: ``scheme://user:pass@`` in free text (FFmpeg puts the whole URL into its messages).
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")


def scrub_userinfo(text: str) -> str:
    """``text`` with the user:password part of every URL removed."""
    return _USERINFO_IN_TEXT.sub(r"\g<scheme>", text)


class MediaError(VidauditError):
    """A failed open, read, decode or frame selection, sorted into a kind."""

    def __init__(self, kind: MediaErrorKind, message: str) -> None:
        super().__init__(kind, scrub_userinfo(message))
        self.kind: MediaErrorKind = kind


_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EPIPE,
        # FFmpeg's tcp protocol returns a bare EIO when getaddrinfo fails.
        errno.EIO,
    }
)


def classify_av_error(
    exc: av.error.FFmpegError | OSError,
    *,
    elapsed_s: float | None = None,
    timeout_s: float | None = None,
) -> MediaErrorKind:
    """The kind of a PyAV/FFmpeg (or OS) error; pass the time spent to recognise timeouts."""
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "auth"
    if isinstance(exc, av.error.HTTPNotFoundError | FileNotFoundError):
        return "not_found"
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return "timeout"
    if (
        elapsed_s is not None
        and timeout_s is not None
        and elapsed_s >= _TIMEOUT_FRACTION * timeout_s
    ):
        return "timeout"
    if isinstance(exc, av.error.HTTPServerError | ConnectionError):
        return "unreachable"
    if isinstance(exc, av.error.HTTPClientError):
        return "unsupported"
    if isinstance(
        exc,
        av.error.DemuxerNotFoundError
        | av.error.DecoderNotFoundError
        | av.error.ProtocolNotFoundError
        | av.error.PatchWelcomeError
        | av.error.OptionNotFoundError,
    ):
        return "unsupported"
    if isinstance(exc, av.error.InvalidDataError | av.error.EOFError):
        return "malformed"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return "unreachable"
    return "malformed"


def media_error(
    exc: av.error.FFmpegError | OSError,
    what: str,
    *,
    elapsed_s: float | None = None,
    timeout_s: float | None = None,
) -> MediaError:
    """A ``MediaError`` for ``exc`` raised while doing ``what`` (e.g. "opening rtsp://host/…")."""
    kind = classify_av_error(exc, elapsed_s=elapsed_s, timeout_s=timeout_s)
    detail = exc.strerror if exc.strerror else str(exc)
    if kind == "timeout" and timeout_s is not None:
        detail = f"{detail} (time budget {timeout_s:g} s)"
    return MediaError(kind, f"{what}: {detail}")
