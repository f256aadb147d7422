"""Simulated GB/T 28181 recorders: the device side, written apart from ``vidaudit.gb28181``.

``recorder.GbRecorder`` registers to the platform, keeps alive, answers queries and
plays back recordings as MPEG-PS over RTP (``ps.py``); ``sipmsg.py`` is its own SIP.
"""

from __future__ import annotations

import socket

from vidaudit.sim.plan import DeviceKind, FleetPlan

#: GB/T 28181-2016 Annex D type codes: 118 network video recorder, 132 network camera,
#: 131 camera (a channel of a recorder).
TYPE_NVR, TYPE_IPC, TYPE_CHANNEL = "118", "132", "131"


def gb_ids(plan: FleetPlan) -> dict[str, tuple[str, dict[int, str]]]:
    """Per GB/T 28181 device: its 20-digit ID and its channels' (by channel number)."""
    assert plan.gb28181 is not None
    domain = plan.gb28181.domain
    out: dict[str, tuple[str, dict[int, str]]] = {}
    index = 0
    for _branch, device in plan.devices():
        if device.api != "gb28181":
            continue
        index += 1
        kind = TYPE_NVR if device.kind is DeviceKind.NVR else TYPE_IPC
        channels = {
            c.number: f"{domain}{TYPE_CHANNEL}{index:04d}{c.number:03d}" for c in device.channels
        }
        out[device.id] = (f"{domain}{kind}{index:07d}", channels)
    return out


def reserve_sip_port(host: str, port: int = 0) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound to one port on ``host`` (0: a free one), for the platform
    the recorders register to: held, not merely found free, so that nothing takes the
    port before the service listens on them (``running_service(sip_sockets=...)``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue  # free for UDP, taken for TCP: another pair
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host}")
