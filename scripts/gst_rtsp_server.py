#!/usr/bin/python3
"""Serve an MP4 (H.264) clip over RTSP with GStreamer's gst-rtsp-server, for interop tests.

Runs with the SYSTEM python (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0; see
scripts/debian-packages.txt), not the project venv:

    /usr/bin/python3 scripts/gst_rtsp_server.py CLIP.mp4 [--port 0] [--mount /clip]
        [--user U --password P [--digest]]

Prints ``READY <port>`` once listening on 127.0.0.1 and serves until SIGTERM/SIGINT.

This is a plain file server: the client seeks with ``Range: npt=`` and the stream is
paced in real time (vidaudit's client uses ``mode="npt"`` against it).

Why not ONVIF replay semantics (investigated with GStreamer 1.22 / PyGObject 3.42):
``RTSPOnvifMediaFactory`` (``set_replay_support(True)``) is what accepts
``Require: onvif-replay``; but gst-rtsp-server turns a ``clock=`` range into a seek in
nanoseconds since 1900, which a file demuxer cannot serve (upstream's test-onvif-server.c
wraps the file in a C bin that translates seeks and segments), a Python subclass of the
factory overriding ``create_element`` segfaults in ``construct()``, and even a stock
``RTSPOnvifMediaFactory`` with a ``set_launch`` pipeline answered DESCRIBE with
400 "can't create media" here. ONVIF replay interop is therefore tested the other way
round: GStreamer's ``rtspsrc onvif-mode=true`` (scripts/gst_pull_frame.py) against our
simulator's replay server.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# config-interval=-1: SPS/PPS before every IDR, so a client can start at any keyframe even
# without the SDP's sprop-parameter-sets.
PAYLOADER = "rtph264pay pt=96 config-interval=-1"


def _source(path: str) -> str:
    quoted = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'filesrc location="{quoted}" ! qtdemux ! h264parse name=parse'


def _auth(user: str, password: str, digest: bool) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", user)
    if digest:
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    return auth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--mount", default="/clip")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--digest", action="store_true", help="digest instead of basic auth")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {_source(args.clip)} ! {PAYLOADER} name=pay0 )")
    # One pipeline per client: a seek by one client must not move another's stream.
    factory.set_shared(False)
    if args.user:
        server.set_auth(_auth(args.user, args.password or "", args.digest))
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{args.user}, media.factory.access=(boolean)true, "
                "media.factory.construct=(boolean)true"
            )
        )
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.mount, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("could not listen", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
