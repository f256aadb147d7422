"""Start and stop a whole simulated fleet in one asyncio process, one loopback port per
device (offline devices keep their port bound but not listening: connections are refused).

Each device also gets an RTSP port, reserved here (bound) so nothing else takes it and
handed over through ``Fleet.rtsp_sockets``; devices with replay (online, not Profile-S-only)
get a ``ReplayServer`` listening on it (``Fleet.replay_servers``), the others keep the port
bound but not listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidaudit.sim.device import SimChannel, SimDevice
from vidaudit.sim.gb28181 import gb_ids, reserve_sip_port
from vidaudit.sim.gb28181.recorder import GbIdentity, GbRecorder
from vidaudit.sim.http import MAX_HEAD_BYTES, serve_connection
from vidaudit.sim.inventory_out import write_inventory
from vidaudit.sim.plan import Api, FleetPlan
from vidaudit.sim.rtsp.server import ReplayServer
from vidaudit.sim.scenario import Scenario, resolve
from vidaudit.sim.truth import build_truth

SHUTDOWN_TIMEOUT_S = 10.0


@dataclass
class Fleet:
    plan: FleetPlan
    host: str
    devices: dict[str, SimDevice]
    inventory_path: Path | None = None
    env_path: Path | None = None
    truth_path: Path | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    servers: list[asyncio.Server] = field(default_factory=list)
    #: Reserved sockets: HTTP ports of offline devices, and every device's RTSP port.
    reserved: list[socket.socket] = field(default_factory=list)
    rtsp_sockets: dict[str, socket.socket] = field(default_factory=dict)
    #: RTSP replay server per device that has one (see module doc).
    replay_servers: dict[str, ReplayServer] = field(default_factory=dict)
    #: GB/T 28181 recorders (devices with ``api: gb28181``) and where they register
    gb_recorders: dict[str, GbRecorder] = field(default_factory=dict)
    gb_platform: tuple[str, int] | None = None
    #: The platform's UDP and TCP sockets, bound to ``gb_platform`` for as long as the
    #: fleet runs: a GB/T 28181 service in this process listens on them
    #: (``running_service(..., sip_sockets=fleet.gb_sip_sockets)``); one in another
    #: process needs them released first (``release_gb_platform``)
    gb_sip_sockets: tuple[socket.socket, socket.socket] | None = None
    gb_ids: dict[str, tuple[str, dict[int, str]]] = field(default_factory=dict)

    _truth: dict[str, Any] | None = None

    @property
    def truth(self) -> dict[str, Any]:
        """The truth.json document (built on first use: it is large for a big fleet)."""
        if self._truth is None:
            self._truth = build_truth(
                self.plan, list(self.devices.values()), self.host, self.gb_ids, self.gb_platform
            )
        return self._truth

    @property
    def ports(self) -> dict[str, int]:
        return {d: dev.port for d, dev in self.devices.items()}

    def device(self, device_id: str) -> SimDevice:
        return self.devices[device_id]

    def channel(self, channel_id: str) -> tuple[SimDevice, SimChannel]:
        for dev in self.devices.values():
            for ch in dev.channels:
                if ch.plan.id == channel_id:
                    return dev, ch
        raise KeyError(channel_id)

    def release_gb_platform(self) -> None:
        """Unbind the platform's port, for a service in another process to bind: between
        processes a port cannot be handed over this way, so something else could take
        it before that service starts."""
        if self.gb_sip_sockets is not None:
            for sock in self.gb_sip_sockets:
                sock.close()
            self.gb_sip_sockets = None

    async def stop(self) -> None:
        """Close every port, release hung connections, cancel the rest; idempotent."""
        self.stop_event.set()
        for server in self.servers:
            server.close()
        tasks = [t for dev in self.devices.values() for t in dev.connections]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=0.5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=SHUTDOWN_TIMEOUT_S)
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                    await server.wait_closed()
        self.servers.clear()
        for recorder in self.gb_recorders.values():
            await recorder.stop()
        for replay in self.replay_servers.values():
            await replay.stop()
        self.replay_servers.clear()
        for sock in self.reserved:
            sock.close()
        self.reserved.clear()
        self.rtsp_sockets.clear()
        self.release_gb_platform()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def start_fleet(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    base_port: int | None = None,
    inventory_out: Path | None = None,
    truth_out: Path | None = None,
    now: dt.datetime | None = None,
    gb_platform_port: int | None = None,
) -> Fleet:
    """Lay out the scenario, open every device's port, write inventory and truth.

    ``base_port``: device i listens on base_port + i and reserves RTSP port
    base_port + n_devices + i; without it every port is an ephemeral one.
    ``gb_platform_port``: where GB/T 28181 recorders register (on ``host``), the listen
    address the inventory gives vidaudit; without it a free port is taken.  Either way
    the port is bound (``Fleet.gb_sip_sockets``) until the fleet stops.
    """
    plan = resolve(scenario, now)
    pairs = plan.devices()
    n = len(pairs)
    sockets: list[socket.socket] = []
    fleet: Fleet | None = None
    try:
        http_socks, rtsp_socks = [], []
        for i in range(n):
            http_socks.append(_bind(host, base_port + i if base_port is not None else 0))
            sockets.append(http_socks[-1])
            rtsp_socks.append(_bind(host, base_port + n + i if base_port is not None else 0))
            sockets.append(rtsp_socks[-1])
        stop = asyncio.Event()
        devices: dict[str, SimDevice] = {}
        for i, (branch, device_plan) in enumerate(pairs):
            devices[device_plan.id] = SimDevice(
                device_plan,
                branch,
                plan.now,
                plan.seed,
                host,
                http_socks[i].getsockname()[1],
                rtsp_socks[i].getsockname()[1],
                stop,
            )
        fleet = Fleet(plan, host, devices, stop_event=stop)
        ids = fleet.gb_ids = gb_ids(plan)
        if ids:
            assert plan.gb28181 is not None
            fleet.gb_sip_sockets = reserve_sip_port(host, gb_platform_port or 0)
            sockets.extend(fleet.gb_sip_sockets)
            fleet.gb_platform = (host, fleet.gb_sip_sockets[0].getsockname()[1])
        for i, dev in enumerate(devices.values()):
            fleet.rtsp_sockets[dev.plan.id] = rtsp_socks[i]
            fleet.reserved.append(rtsp_socks[i])
            if dev.plan.api is Api.GB28181:
                # reaches vidaudit only through the platform: its own ports stay closed
                fleet.reserved.append(http_socks[i])
                if not dev.plan.offline:
                    fleet.gb_recorders[dev.plan.id] = _recorder(fleet, dev, ids[dev.plan.id])
                continue
            if replay_served(dev):
                replay = ReplayServer(dev)
                await replay.start(rtsp_socks[i])
                fleet.replay_servers[dev.plan.id] = replay
            if dev.plan.offline:
                fleet.reserved.append(http_socks[i])
                continue
            fleet.servers.append(
                await asyncio.start_server(
                    _client_callback(dev), sock=http_socks[i], limit=MAX_HEAD_BYTES, backlog=256
                )
            )
        for recorder in fleet.gb_recorders.values():
            recorder.start()
        if inventory_out is not None:
            fleet.inventory_path = inventory_out
            fleet.env_path = write_inventory(plan, devices, inventory_out, ids, fleet.gb_platform)
        if truth_out is not None:
            await asyncio.to_thread(_write_json, truth_out, fleet.truth)
            fleet.truth_path = truth_out
        return fleet
    except BaseException:
        if fleet is not None:
            await fleet.stop()
        for sock in sockets:
            sock.close()
        raise


def _recorder(fleet: Fleet, dev: SimDevice, ids: tuple[str, dict[int, str]]) -> GbRecorder:
    platform = fleet.plan.gb28181
    assert platform is not None and fleet.gb_platform is not None
    identity = GbIdentity(
        device_id=ids[0],
        channel_ids=ids[1],
        platform_id=platform.id,
        domain=platform.domain,
        platform_host=fleet.gb_platform[0],
        platform_port=fleet.gb_platform[1],
        # a wrong-password recorder was given another password than the inventory's
        password=platform.password + ("-rotated" if dev.plan.wrong_password else ""),
        transport=dev.plan.gb_transport,
        keepalive_s=platform.keepalive_s,
    )
    return GbRecorder(dev, identity, fleet.stop_event)


def replay_served(dev: SimDevice) -> bool:
    """Offline devices answer nothing; Profile-S-only ones have no recordings to replay;
    GB/T 28181 recorders play back through the platform."""
    return not dev.plan.offline and not dev.plan.profile_s_only and dev.plan.api is not Api.GB28181


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 500-NVR truth is tens of MB: no indentation there.
    compact = len(document["channels"]) > 500
    path.write_text(
        json.dumps(document, ensure_ascii=False, indent=None if compact else 1), encoding="utf-8"
    )


def _client_callback(dev: SimDevice) -> Any:
    async def callback(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            dev.connections.add(task)
        try:
            await serve_connection(dev.on_connect, dev.respond, reader, writer)
        except asyncio.CancelledError:
            # The fleet is stopping and closes its open connections.  Ending quietly
            # rather than re-raising: Python 3.11's start_server callback asks a
            # cancelled handler task for its exception() and prints a traceback per
            # open connection (hundreds on a large fleet's Ctrl-C); 3.12 checks first.
            return
        finally:
            if task is not None:
                dev.connections.discard(task)

    return callback


@contextlib.asynccontextmanager
async def running_fleet(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    base_port: int | None = None,
    inventory_out: Path | None = None,
    truth_out: Path | None = None,
    now: dt.datetime | None = None,
    gb_platform_port: int | None = None,
) -> AsyncIterator[Fleet]:
    """``async with running_fleet(scenario) as fleet:`` - stopped on exit, whatever happens."""
    fleet = await start_fleet(
        scenario,
        host=host,
        base_port=base_port,
        inventory_out=inventory_out,
        truth_out=truth_out,
        now=now,
        gb_platform_port=gb_platform_port,
    )
    try:
        yield fleet
    finally:
        await fleet.stop()
