#!/usr/bin/python3
"""Pull one frame at an absolute instant with GStreamer's ONVIF replay client, for interop.

Runs with the SYSTEM python (python3-gi + GStreamer from Debian, scripts/debian-packages.txt):

    /usr/bin/python3 scripts/gst_pull_frame.py RTSP_URL USER PASSWORD 2026-11-20T02:32:15Z \
        OUT.png [--timeout 10]

The instant is on the device's clock (ONVIF replay ranges are). The pipeline is
``rtspsrc onvif-mode=true onvif-rate-control=false buffer-mode=none ! rtponvifparse !
decodebin ! videoconvert ! appsink``: one PLAY with ``Range: clock=<instant>-<end of the
DESCRIBE range>`` and ``Rate-Control: no`` (rtspsrc 1.22 sends no ``Require: onvif-replay``;
the simulator, like many recorders, does not insist on it); the server starts at the clean
point at or before the instant. The first decoded frame whose ONVIF time is at or after the
instant is written as PNG, and one JSON line is printed:
``{"ntp": "<ISO UTC>", "requested": "...", "delta_ms": ..., "png": "..."}``.
Exit status: 0 ok, 1 no such frame before EOS, 2 error or timeout.

Checked against the simulator's replay server with GStreamer 1.22 (Debian bookworm) by
tests/sampler/test_gst_onvif_client.py: the picture's own time code equals the reported time.
Each choice below is there because the obvious alternative gave a wrong answer:

- The frame's time is its buffer PTS as set by ``rtponvifparse`` from the 0xABAC extension
  (NTP ns since 1900). rtspsrc does not plug that element itself, and without it the PTS is
  rtpjitterbuffer's estimate from arrival times, which with Rate-Control: no (a burst) is
  the seek position plus the time taken to receive, not the frame's time: it once reported
  the requested instant to the millisecond for a picture 1.5 s later.
- ``buffer-mode=none``: the jitterbuffer times packets by RTP timestamps only. In 1.22
  rtspsrc stamps the first TCP-interleaved packet after each PLAY with a running time, which
  the jitterbuffer maps through rtspsrc's ONVIF segment (clock time, ns since 1900) to no
  time at all; in the default mode it then discards every packet of that RTP timestamp
  ("cannot calculate a valid pts"), i.e. the whole first access unit, the IDR with its
  SPS/PPS, so every picture up to the next clean point was decoded from missing references
  (grey). GStreamer 1.26 no longer stamps those packets (commit 4a4eb56f, MR 6529); and
  arrival times say nothing about media time in a burst anyway.
- The start position is an initial seek sent to rtspsrc before it opens, so the first and
  only PLAY carries the Range: no PLAY from the start of the recording, PAUSE and PLAY again.
- The seek is not ACCURATE: rtspsrc would then clip its segment to the instant and the
  decoder would re-stamp the frame straddling it with the instant itself.
- ``output-corrupt=false`` on libav decoders: a picture decoded without its reference frames
  is dropped, never written, whatever goes wrong upstream.
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

NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    if not user:
        return url
    hostport = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def _no_corrupt_pictures(_bin: Gst.Bin, _sub: Gst.Bin, element: Gst.Element) -> None:
    if element.find_property("output-corrupt") is not None:
        element.set_property("output-corrupt", False)


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
        "buffer-mode=none ! rtponvifparse ! decodebin ! videoconvert ! video/x-raw,format=RGB "
        "! appsink name=sink sync=false emit-signals=false max-buffers=4"
    )
    pipeline.connect("deep-element-added", _no_corrupt_pictures)
    src = pipeline.get_by_name("src")
    src.set_property("location", _with_credentials(args.url, args.user, args.password))
    src.set_property("tcp-timeout", int(args.timeout * 1_000_000))
    sink = pipeline.get_by_name("sink")

    # Before the RTSP session exists rtspsrc keeps a seek and applies it once DESCRIBE and
    # SETUP are done; in onvif-mode the position is NTP time, ns since 1900.
    position_ns = (instant - NTP_EPOCH) // timedelta(microseconds=1) * 1000
    seek = Gst.Event.new_seek(
        1.0,
        Gst.Format.TIME,
        Gst.SeekFlags.FLUSH,
        Gst.SeekType.SET,
        position_ns,
        Gst.SeekType.NONE,
        -1,
    )
    if not src.send_event(seek):
        print("rtspsrc refused the start position", file=sys.stderr)
        return 2
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
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
                else:
                    print(f"the stream ended before {instant.isoformat()}", file=sys.stderr)
                break
            continue
        buffer = sample.get_buffer()
        if buffer.pts == Gst.CLOCK_TIME_NONE:
            continue
        # NTP fractions are 2^-32 s: rounding to the microsecond gives back the
        # millisecond instants recorders stamp (flooring turns .100 into .099999).
        shown = NTP_EPOCH + timedelta(microseconds=(buffer.pts + 500) // 1000)
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
