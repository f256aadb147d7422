"""Poll part of the fleet in helper processes, so a large run uses more than one core.

Why: a collection run is CPU-bound inside one Python process (zeep building requests
and WS-Security, aiohttp, the XML readers, judging 30 business days per channel), so on a
fleet of thousands of channels one core works while the others wait.  A helper is a
fresh interpreter (``python -m vidaudit.collector.shard``) that imports only the polling
side (about 70 MB: no OpenCV, no SQLAlchemy, no web), polls and judges the devices it is
given and streams each device's reports back as soon as they are judged, holding nothing;
the parent polls its own share meanwhile, then stores the whole run in one transaction
as before.  Not ``multiprocessing``: its ``spawn`` re-imports the parent's ``__main__``
(the whole CLI) in the child, and ``fork`` would copy a running event loop, its threads
and its database connections.

Protocol, over the helper's stdin and stdout (pipes only the parent holds): the parent
writes one pickled ``ShardJob``; the helper writes frames, each an 8-byte big-endian
length then a pickle of ``(kind, payload)``: ``("device", (DeviceReport, [ChannelReport]))``
per device, then ``("done", None)`` or ``("error", text)``.  Pickle is safe here because
both ends are this program.  Passwords are not in the job: the helper resolves them from
the inventory's ``${ENV}`` references and files, as the parent does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import pickle
import struct
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from vidaudit import aio
from vidaudit.collector.fleet import Judged, poll_fleet
from vidaudit.collector.model import ChannelReport, DeviceReport, SettledChannel
from vidaudit.collector.probe import dispatching_prober
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.devicehttp.client import HttpPool, HttpSettings
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Inventory
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.settings import OnvifSettings

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct(">Q")
#: One device's reports are a few hundred kB at most; anything far larger is not ours.
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: How long a helper may take to exit after its last frame before it is killed.
_EXIT_GRACE_S = 5.0
#: Fleets smaller than this are polled in one process: a helper costs ~1 s of start-up.
AUTO_MIN_DEVICES = 200
#: ``collector_processes = 0`` uses one process per core, up to this many.
AUTO_MAX_PROCESSES = 4
#: The parent's share of the channels against 1.0 for each helper: a helper spends about
#: a second starting and pickles every report it sends (on the 8,000-channel benchmark,
#: equal shares left the parent idle for the last ~1.3 s; this weight leaves ~0.5 s).
PARENT_WEIGHT = 1.4


#: How a helper is started: this interpreter, this package (tests put a failing one here).
HELPER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "vidaudit.collector.shard")


class ShardFailed(Exception):
    """A helper stopped before reporting all its devices; they must be polled elsewhere."""


@dataclass(frozen=True)
class ShardJob:
    inventory: Inventory
    inventory_path: Path
    devices: frozenset[str]
    onvif: OnvifSettings
    http: HttpSettings
    lookback_days: int
    concurrency: int
    device_deadline_s: float
    verified: Mapping[str, dt.datetime]
    #: what earlier runs settled about the share's channels (``collector.settled``)
    settled: Mapping[str, SettledChannel]
    log_level: int
    #: device identities pinned so far (collector/identity.py)
    pins: Mapping[str, DeviceIdentity] = field(default_factory=dict)


def process_count(setting: int, devices: int) -> int:
    """How many processes poll: ``setting`` if given, else one per core (up to
    ``AUTO_MAX_PROCESSES``) for fleets of ``AUTO_MIN_DEVICES`` devices or more."""
    if setting > 0:
        return setting
    if devices < AUTO_MIN_DEVICES:
        return 1
    return max(1, min(os.cpu_count() or 1, AUTO_MAX_PROCESSES))


def plan_shares(
    inventory: Inventory, branches: set[str] | None, processes: int
) -> list[frozenset[str]]:
    """Device ids per polling process, balanced by channel count (largest devices first,
    each to the process with the least load for its weight).  The first share is the
    parent's; empty shares are dropped, so there are never more helpers than devices.
    GB/T 28181 recorders stay with the parent: they are read through the SIP service's
    control channel, which the parent opened for the run (and they cost it little CPU)."""
    selected = [
        device
        for branch, device in inventory.devices()
        if branches is None or branch.id in branches
    ]
    devices = sorted(
        ((len(d.channels), d.id) for d in selected if d.api is not Api.GB28181),
        key=lambda item: (-item[0], item[1]),
    )
    count = max(1, processes)
    weights = [PARENT_WEIGHT] + [1.0] * (count - 1)
    shares: list[list[str]] = [[] for _ in range(count)]
    shares[0] = [d.id for d in selected if d.api is Api.GB28181]
    loads = [0.0] * count
    for size, device_id in devices:
        target = min(range(count), key=lambda i: (loads[i] + max(size, 1)) / weights[i])
        shares[target].append(device_id)
        loads[target] += max(size, 1)
    return [frozenset(shares[0])] + [frozenset(s) for s in shares[1:] if s]


def share_of(inventory: Inventory, devices: frozenset[str]) -> Inventory:
    """The inventory cut down to ``devices`` (and their branches), for a helper: it polls
    only those, and a provincial inventory (50,000 channels, ~70 MB as models) need not
    be pickled and held again in every helper.  Validated already: copied, not re-read."""
    branches = [
        branch.model_copy(update={"devices": [d for d in branch.devices if d.id in devices]})
        for branch in inventory.branches
        if any(d.id in devices for d in branch.devices)
    ]
    return inventory.model_copy(update={"branches": branches})


# -- parent side ----------------------------------------------------------------------


async def poll_in_helper(job: ShardJob, judged: Judged) -> None:
    """Run one helper process over ``job.devices``, passing each device's reports to
    ``judged`` as they arrive; ShardFailed if it stops before saying it is done (the
    devices it delivered were passed on; the rest were not)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *HELPER_COMMAND,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ShardFailed(f"helper did not start: {exc}") from exc
    assert process.stdin is not None and process.stdout is not None
    finished = False
    try:
        process.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        await process.stdin.drain()
        process.stdin.close()
        while True:
            kind, payload = await _read_frame(process.stdout)
            if kind == "device":
                device, channels = payload
                await judged(device, channels)
            elif kind == "done":
                finished = True
                return
            elif kind == "error":
                raise ShardFailed(f"helper failed: {payload}")
            else:
                raise ShardFailed(f"helper sent an unknown frame {kind!r}")
    except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
        raise ShardFailed(f"helper ended early ({type(exc).__name__})") from exc
    finally:
        # After "done" the helper is exiting: give it a moment.  Any other way out (an
        # error, a cancelled run) ends it at once.
        if finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), _EXIT_GRACE_S)
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _read_frame(stream: asyncio.StreamReader) -> tuple[str, Any]:
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise ShardFailed(f"helper frame of {length} bytes refused")
    # Trusted: written by our own helper over a pipe only we hold (module docstring).
    frame: tuple[str, Any] = pickle.loads(await stream.readexactly(length))  # noqa: S301
    return frame


# -- helper side ----------------------------------------------------------------------


def _frame(kind: str, payload: Any) -> bytes:
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class _FramePipe(asyncio.Protocol):
    """The helper's stdout as an asyncio write pipe with back-pressure: frames never
    block the event loop, and when the parent falls behind by ``HIGH_WATER`` bytes the
    devices that finished wait (holding their slot) instead of piling up in memory."""

    HIGH_WATER = 4 * 1024 * 1024

    def __init__(self) -> None:
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        self.closed.set()

    async def writable(self) -> None:
        await self._writable.wait()


async def _poll(job: ShardJob, send: Callable[[bytes], Awaitable[None]]) -> None:
    resolver = SecretResolver(job.inventory, job.inventory_path)

    async def judged(device: DeviceReport, channels: list[ChannelReport]) -> None:
        await send(_frame("device", (device, channels)))

    async with OnvifPool(job.onvif) as pool, HttpPool(job.http) as http_pool:
        prober = dispatching_prober(pool, http_pool, job.lookback_days)

        await poll_fleet(
            job.inventory,
            resolver,
            prober,
            concurrency=job.concurrency,
            device_deadline_s=job.device_deadline_s,
            clock=lambda: dt.datetime.now(dt.UTC),
            devices=job.devices,
            verified=job.verified,
            settled=job.settled,
            pins=job.pins,
            judged=judged,
        )


async def _serve(job: ShardJob, out: BinaryIO) -> int:
    loop = asyncio.get_running_loop()
    transport, pipe = await loop.connect_write_pipe(_FramePipe, out)
    transport.set_write_buffer_limits(high=_FramePipe.HIGH_WATER)

    async def send(frame: bytes) -> None:
        transport.write(frame)
        await pipe.writable()

    code = 0
    try:
        await _poll(job, send)
        transport.write(_frame("done", None))
    except Exception as exc:  # a bug: tell the parent, which polls the rest itself
        logger.exception("collector helper failed")
        transport.write(_frame("error", f"{type(exc).__name__}: {exc}"[:500]))
        code = 1
    transport.close()  # sends what is buffered first
    await pipe.closed.wait()
    return code


def main() -> int:
    # Frames go to a private copy of stdout; anything else printing to stdout lands on
    # stderr instead of corrupting the frame stream.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    job: ShardJob = pickle.load(sys.stdin.buffer)  # noqa: S301 -- from our parent's pipe
    logging.basicConfig(level=job.log_level, stream=sys.stderr)
    return aio.run(_serve(job, out))


if __name__ == "__main__":
    sys.exit(main())
