"""Benchmark the GB/T 28181 road: registrations, a collection, frame pulls.

    python bench/gb28181.py [--registrations 2000] [--recorders 100] [--channels 16]
                            [--frames 12] [--rounds 3] [--skip registrations,collect,frames]

Figures printed, one per line, each with its baseline from the same run:

* ``gb28181.registrations``: SIPp (Debian's sip-tester, its own process, one UDP socket)
  registers ``--registrations`` distinct recorders with the digest exchange (REGISTER,
  401, REGISTER with Authorization, 200) against the real service (``running_service``:
  the platform, registrations written to SQLite, the control channel) in this process.
  Prints registrations per second and the service's CPU per registration (this process,
  the database thread included; SIPp's CPU is not counted).  Baseline: the same platform
  with its registrations kept in memory only, to show what the database costs.
* ``gb28181.collect``: a fleet of ``--recorders`` simulated GB/T 28181 NVRs x ``--channels``
  channels (``python -m vidaudit.sim``, its own process) registers to the service; one
  full ``collect`` reads every recorder through the service's control channel (DeviceStatus,
  DeviceInfo, Catalog, RecordInfo over the window and back to the oldest footage) and
  judges every channel.  Prints wall time, CPU per channel (this process: collector and
  service together) and wall per channel.  Baseline: the same fleet served over ONVIF,
  collected in the same run with the same settings (one polling process for both).
* ``gb28181.frames``: ``--frames`` exact frames from a 15-minute window of one channel,
  pulled as the sampler pulls them (clock read to milliseconds, RecordInfo around the
  instants, INVITE playback, RTP/MPEG-PS over UDP, decode, diagnose, store, register),
  median of ``--rounds``.  Baseline: the same pull over ONVIF replay from an NVR of the
  same simulated fleet (``bench/frames.py`` measures the ONVIF road alone).

The per-address message limit (``VIDAUDIT_GB_MESSAGES_PER_S``, 200 by default) is raised to
its maximum here: every simulated recorder and SIPp send from 127.0.0.1, where on site each
recorder has its own address.  No targets are set for this road; the figures say what it
costs next to ONVIF.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidaudit.collector.run import collect  # noqa: E402
from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.evidence.store import EvidenceStore  # noqa: E402
from vidaudit.gb28181.platform import Platform, PlatformIdentity  # noqa: E402
from vidaudit.gb28181.transport import EndpointLimits  # noqa: E402
from vidaudit.gbservice.service import GbService, allowed_devices, running_service  # noqa: E402
from vidaudit.inventory import load_inventory  # noqa: E402
from vidaudit.inventory.load import SecretResolver  # noqa: E402
from vidaudit.inventory.schema import Inventory  # noqa: E402
from vidaudit.inventory.sync import sync_inventory  # noqa: E402
from vidaudit.sampler.gb_settings import gb_pull_settings  # noqa: E402
from vidaudit.sampler.pull import PullRequest, pull_frames  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402
from vidaudit.sim import parse_scenario, running_fleet  # noqa: E402

PLATFORM_ID = "34020000002000000001"
DOMAIN = "3402000000"
PASSWORD = "bench-Gb-28181"
#: the per-address message limit's maximum (see the module doc)
MESSAGES_PER_S = 10_000.0
ALL_DAYS = {d: "00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

REGISTER_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- One recorder per call, its ID and credentials from the injection file: REGISTER,
     the digest challenge, REGISTER answering it, 200. -->
<scenario name="gb28181 registrations">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[field2]@[field3] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]
      From: <sip:[field0]@[field3]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[field3]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[field2]@[field3] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]
      From: <sip:[field0]@[field3]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[field3]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field1]
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def cpu_s() -> float:
    """CPU of this process so far (all its threads); children are not counted."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def device_id(index: int) -> str:
    return f"{DOMAIN}118{index:07d}"


async def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - state another task changes
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise SystemExit(f"bench: no {what} within {timeout_s:.0f} s") from None


# ----------------------------------------------------------------------- registrations


def registrations_inventory(tmp: Path, count: int, port: int) -> Path:
    """An inventory of ``count`` GB/T 28181 NVRs (one channel each) for ``port``."""
    devices = [
        {
            "id": f"R{i:05d}",
            "kind": "nvr",
            "vendor": "hikvision",
            "api": "gb28181",
            "gb_id": device_id(i),
            "channels": [
                {
                    "id": f"R{i:05d}-C1",
                    "name": "1号柜台",
                    "role": "counter",
                    "ref": {"gb_id": f"{DOMAIN}131{i:07d}"},
                }
            ],
        }
        for i in range(1, count + 1)
    ]
    document = {
        "env_file": "gb.env",
        "gb28181": {
            "id": PLATFORM_ID,
            "domain": DOMAIN,
            "listen": f"127.0.0.1:{port}",
            "password": "${VIDAUDIT_GB_PASSWORD}",
        },
        # a branch holds at most 256 devices
        "branches": [
            {"id": f"B{n:03d}", "name": "压测网点", "hours": ALL_DAYS, "devices": part}
            for n, part in enumerate((devices[i : i + 200] for i in range(0, count, 200)), start=1)
        ],
    }
    path = tmp / "registrations.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    (tmp / "gb.env").write_text(f"VIDAUDIT_GB_PASSWORD={PASSWORD}\n", encoding="utf-8")
    return path


def free_port() -> int:
    """A port free for UDP and TCP alike, for SIPp's own end (SIPp cannot be told to pick
    one: without ``-p`` it takes 5060); the service binds port 0 and says which it took."""
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


async def sipp_register(tmp: Path, count: int, port: int) -> asyncio.subprocess.Process:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is missing: install Debian's sip-tester (scripts/apt-install.sh)")
    scenario = tmp / "register.xml"
    scenario.write_text(REGISTER_XML, encoding="ascii")
    csv = tmp / "recorders.csv"
    lines = ["SEQUENTIAL"] + [
        f"{device_id(i)};[authentication username={device_id(i)} password={PASSWORD}];"
        f"{PLATFORM_ID};{DOMAIN}"
        for i in range(1, count + 1)
    ]
    csv.write_text("\n".join(lines) + "\n", encoding="ascii")
    return await asyncio.create_subprocess_exec(
        sipp, "-sf", str(scenario), "-inf", str(csv),
        "-t", "u1", "-i", "127.0.0.1", "-p", str(free_port()),
        "-m", str(count), "-r", "5000", "-l", "100",
        "-timeout", "300s", "-timeout_error", "-nostdin",
        f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=tmp,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip


async def measure_registrations(
    tmp: Path, count: int, port: int, registered: Callable[[], int]
) -> tuple[float, float, int]:
    """(seconds until ``count`` registered, CPU seconds of this process meanwhile, SIPp's
    exit status); the platform listens on ``port``."""
    cpu0, wall0 = cpu_s(), time.perf_counter()
    sipp = await sipp_register(tmp, count, port)
    try:
        await wait_until(lambda: registered() >= count, 600, "registrations")
        wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
        async with asyncio.timeout(60):
            _out, err = await sipp.communicate()
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
    if sipp.returncode != 0:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return wall, cpu, sipp.returncode or 0


async def bench_registrations(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-gb-") as name:
        tmp = Path(name)
        # port 0: the service binds a free one and says which (svc.port)
        path = registrations_inventory(tmp, count, 0)
        inventory = load_inventory(path)
        settings = Settings(data_dir=tmp / "data", gb_messages_per_s=MESSAGES_PER_S)
        engine = make_engine(settings)
        upgrade(engine)
        async with running_service(settings, inventory, path, make_sessionmaker(engine)) as svc:
            wall, cpu, status = await measure_registrations(
                tmp, count, svc.port, lambda: len(svc.platform.registrations)
            )
            extra = svc.platform.endpoint.counters.received - 2 * count
        engine.dispose()

        # the baseline: no sink given, the platform keeps registrations in memory only
        memory = Platform(
            PlatformIdentity(PLATFORM_ID, DOMAIN, SecretStr(PASSWORD)),
            allowed_devices(inventory),
            limits=EndpointLimits(rate_per_s=MESSAGES_PER_S, burst=MESSAGES_PER_S * 4),
        )
        await memory.start("127.0.0.1", 0)
        try:
            base_wall, base_cpu, base_status = await measure_registrations(
                tmp, count, memory.port, lambda: len(memory.registrations)
            )
            base_extra = memory.endpoint.counters.received - 2 * count
        finally:
            await memory.stop()
    print(
        f"gb28181.registrations: {count / wall:,.0f} registrations/s ({count} recorders, "
        f"digest 401 then 200, SIPp over UDP; {wall:.2f} s), service CPU "
        f"{cpu * 1000 / count:.2f} ms per registration, SQLite included; {extra} "
        "retransmissions received" + ("" if status == 0 else f" (SIPp exit status {status})")
    )
    print(
        f"gb28181.registrations_in_memory (baseline): {count / base_wall:,.0f} registrations/s, "
        f"{base_cpu * 1000 / count:.2f} ms CPU per registration; with the database "
        f"{cpu / base_cpu:.2f}x the CPU and {wall / base_wall:.2f}x the wall time "
        f"({(cpu - base_cpu) * 1000 / count:.2f} ms per registration; {base_extra} "
        "retransmissions received)"
        + ("" if base_status == 0 else f" (SIPp exit status {base_status})")
    )


# ----------------------------------------------------------------------------- collect


def start_sim(
    tmp: Path, scenario: dict[str, Any], name: str
) -> tuple[subprocess.Popen[str], Path, dict[str, Any]]:
    """The simulated fleet in its own process: (process, its inventory, its truth)."""
    scenario_path = tmp / f"{name}.scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    inventory = tmp / f"{name}.cameras.yaml"
    truth = tmp / f"{name}.truth.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "vidaudit.sim", "--scenario", str(scenario_path),
         "--inventory-out", str(inventory), "--truth-out", str(truth)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            return process, inventory, json.loads(truth.read_text(encoding="utf-8"))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"the simulated {name} fleet did not start")


def stop_sim(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def gb_service(
    settings: Settings,
    inventory: Inventory,
    path: Path,
    truth: dict[str, Any],
    sip_sockets: tuple[socket.socket, socket.socket] | None = None,
) -> AsyncIterator[GbService]:
    """The service, once every recorder that can register has (they retry every 2 s);
    the fleet's offline and wrong-password recorders never do (``truth.json``)."""
    wanted = {
        t["gb_id"]
        for t in truth["devices"].values()
        if t["api"] == "gb28181" and t["expected_error"] != "unreachable"
    }
    engine = make_engine(settings)
    try:
        async with running_service(
            settings, inventory, path, make_sessionmaker(engine), sip_sockets=sip_sockets
        ) as svc:
            await wait_until(
                lambda: all(svc.platform.registration(i) for i in wanted), 120, "registered"
            )
            yield svc
    finally:
        engine.dispose()


async def timed_collect(
    settings: Settings, inventory: Inventory, path: Path
) -> tuple[float, float, int, int, int]:
    """(wall s, CPU s of this process, devices, devices down, channels)."""
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    cpu0, wall0 = cpu_s(), time.perf_counter()
    result = await collect(settings, inventory, path, sessions)
    wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
    engine.dispose()
    report = result.report
    return wall, cpu, len(report.devices), report.devices_down, len(report.channels)


async def bench_collect(recorders: int, channels: int) -> None:
    scenario: dict[str, Any] = {"seed": 1, "generate": {"nvrs": recorders, "channels": channels}}
    results = {}
    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-gb-") as name:
        tmp = Path(name)
        for api in ("gb28181", "onvif"):
            fleet_scenario = dict(scenario, device_defaults={"api": api})
            process, path, truth = start_sim(tmp, fleet_scenario, api)
            try:
                settings = Settings(
                    data_dir=tmp / f"data-{api}",
                    gb_messages_per_s=MESSAGES_PER_S,
                    collector_processes=1,
                )
                upgrade(make_engine(settings))
                inventory = load_inventory(path)
                async with contextlib.AsyncExitStack() as stack:
                    if api == "gb28181":
                        await stack.enter_async_context(
                            gb_service(settings, inventory, path, truth)
                        )
                    results[api] = await timed_collect(settings, inventory, path)
            finally:
                stop_sim(process)
    wall, cpu, devices, down, count = results["gb28181"]
    o_wall, o_cpu, _o_devices, o_down, o_count = results["onvif"]
    print(
        f"gb28181.collect: {wall:.1f} s wall for {devices} recorders ({down} down), {count} "
        f"channels: {cpu * 1000 / count:.2f} ms CPU per channel (collector and service), "
        f"{wall * 1000 / count:.2f} ms wall per channel"
    )
    print(
        f"gb28181.collect_onvif (baseline, same fleet over ONVIF): {o_wall:.1f} s wall "
        f"({o_down} down), {o_cpu * 1000 / o_count:.2f} ms CPU per channel; GB/T 28181 costs "
        f"{(cpu / count) / (o_cpu / o_count):.2f}x the CPU and "
        f"{(wall / count) / (o_wall / o_count):.2f}x the wall time per channel"
    )


# ------------------------------------------------------------------------------ frames

FRAMES_SCENARIO: dict[str, Any] = {
    "seed": 3,
    "branches": [
        {
            "id": "LAB",
            "name": "实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "GB-NVR",
                    "vendor": "hikvision",
                    "api": "gb28181",
                    "clock_drift_s": 37,
                    "channels": [{"id": "GB-C1", "role": "counter"}],
                },
                {
                    "id": "ONVIF-NVR",
                    "vendor": "hikvision",
                    "clock_drift_s": 37,
                    "channels": [{"id": "ONVIF-C1", "role": "counter"}],
                },
            ],
        }
    ],
}


async def bench_frames(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-gb-") as name:
        tmp = Path(name)
        path = tmp / "cameras.sim.yaml"
        settings = Settings(data_dir=tmp / "data", gb_messages_per_s=MESSAGES_PER_S)
        engine = make_engine(settings)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        async with running_fleet(parse_scenario(FRAMES_SCENARIO), inventory_out=path) as fleet:
            inventory = load_inventory(path)
            now = dt.datetime.now(dt.UTC)
            with sessions.begin() as session:
                sync_inventory(session, inventory, source="bench", now=now)
            async with gb_service(settings, inventory, path, fleet.truth, fleet.gb_sip_sockets):
                rng = random.Random(7)
                walls: dict[str, list[float]] = {"GB-C1": [], "ONVIF-C1": []}
                worst: dict[str, float] = {"GB-C1": 0.0, "ONVIF-C1": 0.0}
                for round_ in range(rounds):
                    # a fresh 15-minute window each round, three hours back, so no round
                    # finds the simulator's pictures already encoded
                    start = now - dt.timedelta(hours=3 + round_)
                    instants = sorted(
                        start + dt.timedelta(milliseconds=rng.randrange(15 * 60_000))
                        for _ in range(count)
                    )
                    for channel_id in walls:
                        found = inventory.find_channel(channel_id)
                        assert found is not None
                        branch, device, channel = found
                        began = time.perf_counter()
                        outcome = await pull_frames(
                            PullRequest(
                                branch, device, channel, instants, "压测", "bench", "bench"
                            ),
                            sessions=sessions,
                            store=EvidenceStore(settings.evidence_dir),
                            resolver=SecretResolver(inventory, path),
                            onvif_settings=settings.onvif(),
                            now=now,
                            gb=gb_pull_settings(settings, inventory),
                        )
                        walls[channel_id].append(time.perf_counter() - began)
                        worst[channel_id] = max(
                            worst[channel_id], *(abs(f.delta_ms) for f in outcome.frames)
                        )
        engine.dispose()
    gb, onvif = statistics.median(walls["GB-C1"]), statistics.median(walls["ONVIF-C1"])
    print(
        f"gb28181.frames: {gb:.2f} s for {count} exact frames in a 15-minute window over "
        f"GB/T 28181 playback (median of {rounds}; max |delta| {worst['GB-C1']:.0f} ms)"
    )
    print(
        f"gb28181.frames_onvif (baseline, ONVIF replay): {onvif:.2f} s (max |delta| "
        f"{worst['ONVIF-C1']:.0f} ms); GB/T 28181 takes {gb / onvif:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--recorders", type=int, default=100)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: registrations,collect,frames")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if "registrations" not in skip:
        asyncio.run(bench_registrations(args.registrations))
    if "collect" not in skip:
        asyncio.run(bench_collect(args.recorders, args.channels))
    if "frames" not in skip:
        asyncio.run(bench_frames(args.frames, args.rounds))


if __name__ == "__main__":
    main()
