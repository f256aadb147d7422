"""Opening a file or URL with PyAV: fast probing, a timeout on every read, sorted errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import av
import av.container
import av.error

from vidaudit.media.errors import MediaError, media_error
from vidaudit.media.vendor_urls import redact

RtspTransport = Literal["tcp", "udp"]

#: Enough for the SPS/PPS and the first keyframe's headers of an H.264/H.265 stream; the
#: default (5 MB, 5 s of analysis) costs ~2.8 s on an RTSP open, this ~0.5 s (onvif-notes.md).
FAST_PROBESIZE = 32768

_NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp", "srt"})
#: Containers whose header describes every stream, so probing few bytes loses nothing.
#: MPEG-TS is left out: its streams are only found by reading packets, and a 32 KB probe
#: can end before the first PMT/SPS of a high-bitrate export.
_SELF_DESCRIBING_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})


def describe_source(url_or_path: str | Path) -> str:
    """How a source is named in messages and results: a path, or a URL without credentials."""
    return redact(str(url_or_path))


def _scheme(url_or_path: str | Path) -> str:
    if isinstance(url_or_path, Path):
        return ""
    scheme = urlsplit(url_or_path).scheme.lower()
    # "C:\clip.mp4" parses with scheme "c".
    return scheme if len(scheme) > 1 else ""


def open_container(
    url_or_path: str | Path,
    *,
    timeout_s: float,
    rtsp_transport: RtspTransport = "tcp",
    fast_probe: bool | None = None,
) -> av.container.InputContainer:
    """Open ``url_or_path`` for reading, or raise ``MediaError``.

    ``timeout_s`` bounds the open and every later read (PyAV's interrupt callback), and for
    RTSP also FFmpeg's socket I/O timeout. ``fast_probe`` (default: on for network sources
    and MP4/MKV files) limits stream probing to ``FAST_PROBESIZE`` bytes and no analysis time.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    scheme = _scheme(url_or_path)
    options: dict[str, str] = {}
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = rtsp_transport
        # FFmpeg >= 5 names the RTSP socket I/O timeout "timeout" (microseconds); "stimeout"
        # is gone and "rw_timeout" is not honoured by the RTSP demuxer (measured: it hangs).
        options["timeout"] = str(int(timeout_s * 1_000_000))
    elif scheme in _NETWORK_SCHEMES:
        options["rw_timeout"] = str(int(timeout_s * 1_000_000))
    if fast_probe is None:
        fast_probe = scheme in _NETWORK_SCHEMES or (
            not scheme and Path(url_or_path).suffix.lower() in _SELF_DESCRIBING_SUFFIXES
        )
    if fast_probe:
        options["probesize"] = str(FAST_PROBESIZE)
        options["analyzeduration"] = "0"
    source = describe_source(url_or_path)
    started = time.monotonic()
    try:
        container = av.open(str(url_or_path), mode="r", options=options, timeout=timeout_s)
    except (av.error.FFmpegError, OSError) as exc:
        raise media_error(
            exc, f"opening {source}", elapsed_s=time.monotonic() - started, timeout_s=timeout_s
        ) from exc
    if not isinstance(container, av.container.InputContainer):  # pragma: no cover - mode="r"
        container.close()
        raise MediaError("unsupported", f"{source} did not open as an input")
    if not container.streams.video:
        container.close()
        raise MediaError("unsupported", f"{source} has no video stream")
    return container
