"""Ports for processes that cannot be told to pick a free one themselves."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free for both UDP and TCP right now, for SIPp's own end: SIPp cannot be
    told to pick one (without ``-p``, or with ``-p 0``, it takes 5060).  Our service is
    never given one of these: it binds port 0 and names the port it took."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")
