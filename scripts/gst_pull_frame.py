#!/usr/bin/python3
"""Pull one frame at an absolute instant with GStreamer's ONVIF replay client, for interop.

Runs with the SYSTEM python (python3-gi + GStreamer from Debian, scripts/debian-packages.txt):

    /usr/bin/python3 scripts/gst_pull_frame.py RTSP_URL USER PASSWORD 2026-11-20T02:32:15Z \
        OUT.png [--timeout 10]

``rtspsrc onvif-mode=true onvif-rate-control=false`` sends ``Require: onvif-replay``,
``Range: clock=<instant>-`` and ``Rate-Control: no``; ``rtponvifparse`` (auto-plugged by
rtspsrc in ONVIF mode) turns the 0xABAC extension into a ``GstReferenceTimestampMeta`` with
caps ``timestamp/x-onvif`` on each buffer, which survives decoding. The first decoded frame
whose ONVIF time is at or after the instant is written as PNG, and one JSON line is printed:
``{"ntp": "<ISO UTC>", "requested": "...", "delta_ms": ..., "png": "..."}``.
Exit status: 0 ok, 1 no such frame before EOS, 2 error or timeout.

State against the simulator's replay server (open item of issue 5, no test uses this yet):
the seek now becomes ``PLAY Range: clock=<clean point>-…`` and the first buffer at or after
the instant carries the right ONVIF time (within a few ms), but the picture written is
grey: the decoder does not yet get the keyframe after the seek's flush. GStreamer's own
RTSP server cannot serve a file with ONVIF replay semantics (see scripts/gst_rtsp_server.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

ONVIF_CAPS = "timestamp/x-onvif"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    if not user:
        return url
    hostport = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("instant", help="ISO 8601 with a zone, e.g. 2026-11-20T02:32:15Z")
    parser.add_argument("png")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    instant = datetime.fromisoformat(args.instant.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        parser.error("the instant needs a time zone")

    Gst.init(None)
    pipeline = Gst.parse_launch(
        "rtspsrc name=src onvif-mode=true onvif-rate-control=false protocols=tcp latency=0 "
        "! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink "
        "sync=false emit-signals=false max-buffers=4"
    )
    src = pipeline.get_by_name("src")
    src.set_property("location", _with_credentials(args.url, args.user, args.password))
    # rtspsrc sends Range: clock=<this>- when onvif-mode is on and a seek is not given.
    src.set_property("timeout", int(args.timeout * 1_000_000))
    sink = pipeline.get_by_name("sink")
    onvif_caps = Gst.Caps.from_string(ONVIF_CAPS)

    bus = pipeline.get_bus()
    # An RTSP source is live: PAUSED answers NO_PREROLL and no ASYNC_DONE ever comes, so
    # wait for the state change itself (SETUP done), then seek, then play.
    pipeline.set_state(Gst.State.PAUSED)
    result, _state, _pending = pipeline.get_state(int(args.timeout * Gst.SECOND))
    if result == Gst.StateChangeReturn.FAILURE:
        print(_describe(bus.pop_filtered(Gst.MessageType.ERROR)), file=sys.stderr)
        pipeline.set_state(Gst.State.NULL)
        return 2
    since_1900 = instant - datetime(1900, 1, 1, tzinfo=UTC)
    position_ns = since_1900 // timedelta(microseconds=1) * 1000
    # rtspsrc turns a seek into a new PLAY only once it is playing: start (at the start of
    # the recording, as DESCRIBE's range says), then seek; frames from before the seek took
    # effect carry earlier ONVIF times and are skipped below.
    pipeline.set_state(Gst.State.PLAYING)
    pipeline.get_state(int(args.timeout * Gst.SECOND))
    pipeline.seek(
        1.0,
        Gst.Format.TIME,
        Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE,
        Gst.SeekType.SET,
        position_ns,
        Gst.SeekType.NONE,
        -1,
    )
    deadline = GLib.get_monotonic_time() + int(args.timeout * 1_000_000)
    status = 1
    while GLib.get_monotonic_time() < deadline:
        sample = sink.emit("try-pull-sample", 200 * Gst.MSECOND)
        if sample is None:
            message = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if message is not None:
                if message.type == Gst.MessageType.ERROR:
                    print(_describe(message), file=sys.stderr)
                    status = 2
                break
            continue
        buffer = sample.get_buffer()
        meta = buffer.get_reference_timestamp_meta(onvif_caps)
        # In onvif-mode rtspsrc stamps buffers with the ONVIF (0xABAC) NTP time itself,
        # nanoseconds since 1900; a reference-timestamp meta, where present, says the same.
        ntp_ns = meta.timestamp if meta is not None else buffer.pts
        if ntp_ns is None or ntp_ns == Gst.CLOCK_TIME_NONE:
            continue
        shown = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(microseconds=ntp_ns // 1000)
        if shown < instant:
            continue
        caps = sample.get_caps().get_structure(0)
        width, height = caps.get_value("width"), caps.get_value("height")
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            status = 2
            break
        try:
            _write_png(args.png, bytes(info.data), width, height)
        finally:
            buffer.unmap(info)
        delta = (shown - instant) / timedelta(milliseconds=1)
        print(
            json.dumps(
                {
                    "ntp": shown.isoformat(),
                    "requested": instant.astimezone(UTC).isoformat(),
                    "delta_ms": delta,
                    "png": args.png,
                }
            ),
            flush=True,
        )
        status = 0
        break
    else:
        print(
            f"no frame at or after {instant.isoformat()} within {args.timeout} s", file=sys.stderr
        )
        status = 2
    pipeline.set_state(Gst.State.NULL)
    return status


def _describe(message: Gst.Message | None) -> str:
    if message is None:
        return "timed out waiting for the stream"
    error, debug = message.parse_error()
    return f"{error.message} ({debug})"


def _write_png(path: str, rgb: bytes, width: int, height: int) -> None:
    """Write packed RGB rows (GStreamer pads rows to 4 bytes) as PNG via pngenc."""
    stride = (width * 3 + 3) & ~3
    pipeline = Gst.parse_launch("appsrc name=in ! videoconvert ! pngenc ! filesink name=out")
    appsrc = pipeline.get_by_name("in")
    appsrc.set_property(
        "caps",
        Gst.Caps.from_string(f"video/x-raw,format=RGB,width={width},height={height},framerate=0/1"),
    )
    pipeline.get_by_name("out").set_property("location", path)
    pipeline.set_state(Gst.State.PLAYING)
    buffer = Gst.Buffer.new_wrapped(rgb[: stride * height])
    appsrc.emit("push-buffer", buffer)
    appsrc.emit("end-of-stream")
    pipeline.get_bus().timed_pop_filtered(
        5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipeline.set_state(Gst.State.NULL)


if __name__ == "__main__":
    sys.exit(main())
