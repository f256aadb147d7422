"""Benchmark the simulated fleet: requests per second per simulator core, CPU ms per request.

Starts ``python -m vidaudit.sim`` (500 NVRs x 16 channels by default) as its own process,
then drives every device from this process with plain aiohttp POSTs of realistic SOAP
envelopes (WS-UsernameToken PasswordDigest, the clock offset learnt from
GetSystemDateAndTime) in the collector's request mix:

    GetSystemDateAndTime, GetDeviceInformation, GetServices, GetProfiles, GetRecordings,
    FindRecordings + GetRecordingSearchResults + EndSearch,
    FindEvents (last 24 h, Track/State, IncludeStartState) + GetEventSearchResults... + EndSearch

The simulator's CPU time comes from /proc/<pid>/stat, so the figures do not depend on
how fast this driver is.  Usage: ``python bench/simulator.py [--nvrs 500 --channels 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS = (
    f'xmlns:s="{SOAP}" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" '
    'xmlns:tse="http://www.onvif.org/ver10/search/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics"'
)
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Device:
    id: str
    url: str
    username: str
    password: str
    offset: dt.timedelta = dt.timedelta()
    paths: dict[str, str] = field(default_factory=dict)


@dataclass
class Stats:
    requests: int = 0
    errors: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    failed_devices: int = 0


def envelope(body: str, dev: Device | None) -> bytes:
    header = ""
    if dev is not None:
        nonce = os.urandom(16)
        created = (dt.datetime.now(dt.UTC) + dev.offset).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + dev.password.encode()).digest()
        ).decode()
        header = (
            f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{dev.username}</wsse:Username><wsse:Password Type="
            '"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0'
            f'#PasswordDigest">{digest}</wsse:Password><wsse:Nonce>'
            f"{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}"
            "</wsu:Created></wsse:UsernameToken></wsse:Security>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}><s:Header>{header}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


async def call(
    http: aiohttp.ClientSession, stats: Stats, url: str, op: str, body: str, dev: Device | None
) -> str:
    async with http.post(
        url, data=envelope(body, dev), headers={"Content-Type": "application/soap+xml"}
    ) as resp:
        text = await resp.text()
    stats.requests += 1
    stats.by_op[op] = stats.by_op.get(op, 0) + 1
    if resp.status != 200:
        stats.errors += 1
        raise RuntimeError(f"{op}: HTTP {resp.status}")
    return text


def first(text: str, tag: str) -> str:
    match = re.search(rf"<(?:\w+:)?{tag}[^>]*>([^<]*)</", text)
    if not match:
        raise RuntimeError(f"no {tag} in answer")
    return match.group(1)


async def poll(http: aiohttp.ClientSession, stats: Stats, dev: Device) -> None:
    text = await call(
        http, stats, dev.url, "GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>", None
    )
    utc = text.split("UTCDateTime", 1)[1]
    fields = {k: int(first(utc, k)) for k in ("Year", "Month", "Day", "Hour", "Minute", "Second")}
    device_now = dt.datetime(
        fields["Year"],
        fields["Month"],
        fields["Day"],
        fields["Hour"],
        fields["Minute"],
        fields["Second"],
        tzinfo=dt.UTC,
    )
    dev.offset = device_now - dt.datetime.now(dt.UTC)
    await call(http, stats, dev.url, "GetDeviceInformation", "<tds:GetDeviceInformation/>", dev)
    services = await call(
        http,
        stats,
        dev.url,
        "GetServices",
        "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
        dev,
    )
    for ns, name in (("media", "media"), ("recording", "recording"), ("search", "search")):
        match = re.search(rf"ver10/{ns}/wsdl</tds:Namespace><tds:XAddr>([^<]+)<", services)
        if match:
            dev.paths[name] = match.group(1)
    await call(http, stats, dev.paths["media"], "GetProfiles", "<trt:GetProfiles/>", dev)
    if "search" not in dev.paths:
        return  # Profile S only
    await call(http, stats, dev.paths["recording"], "GetRecordings", "<trc:GetRecordings/>", dev)
    search = dev.paths["search"]
    token = first(
        await call(
            http,
            stats,
            search,
            "FindRecordings",
            "<tse:FindRecordings><tse:Scope/><tse:KeepAliveTime>PT10S"
            "</tse:KeepAliveTime></tse:FindRecordings>",
            dev,
        ),
        "SearchToken",
    )
    await call(
        http,
        stats,
        search,
        "GetRecordingSearchResults",
        f"<tse:GetRecordingSearchResults><tse:SearchToken>{token}</tse:SearchToken>"
        "<tse:MaxResults>64</tse:MaxResults></tse:GetRecordingSearchResults>",
        dev,
    )
    await call(
        http,
        stats,
        search,
        "EndSearch",
        f"<tse:EndSearch><tse:SearchToken>{token}</tse:SearchToken></tse:EndSearch>",
        dev,
    )
    start = (dt.datetime.now(dt.UTC) + dev.offset - dt.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    token = first(
        await call(
            http,
            stats,
            search,
            "FindEvents",
            f"<tse:FindEvents><tse:StartPoint>{start}</tse:StartPoint><tse:Scope/>"
            '<tse:SearchFilter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/'
            'topicExpression/ConcreteSet">tns1:RecordingHistory/Track/State</wsnt:TopicExpression>'
            "</tse:SearchFilter><tse:IncludeStartState>true</tse:IncludeStartState>"
            "<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindEvents>",
            dev,
        ),
        "SearchToken",
    )
    for _ in range(100):
        page = await call(
            http,
            stats,
            search,
            "GetEventSearchResults",
            f"<tse:GetEventSearchResults><tse:SearchToken>{token}</tse:SearchToken>"
            "<tse:MaxResults>100</tse:MaxResults></tse:GetEventSearchResults>",
            dev,
        )
        if "<tt:SearchState>Completed" in page:
            break
    await call(
        http,
        stats,
        search,
        "EndSearch",
        f"<tse:EndSearch><tse:SearchToken>{token}</tse:SearchToken></tse:EndSearch>",
        dev,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_devices(inventory: Path) -> list[Device]:
    doc = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    env = {}
    for line in inventory.with_suffix(".env").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    devices = []
    for branch in doc["branches"]:
        for d in branch["devices"]:
            name = d["password"][2:-1]
            devices.append(Device(d["id"], d["onvif"], d["username"], env[name]))
    return devices


async def drive(devices: list[Device], concurrency: int, rounds: int) -> tuple[Stats, float]:
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=concurrency * 2, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=30)
    queue: asyncio.Queue[Device] = asyncio.Queue()
    for _ in range(rounds):
        for dev in devices:
            queue.put_nowait(dev)

    async def worker(http: aiohttp.ClientSession) -> None:
        while True:
            try:
                dev = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await poll(http, stats, dev)
            except (aiohttp.ClientError, RuntimeError, TimeoutError, IndexError):
                stats.failed_devices += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return stats, time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nvrs", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "cameras.sim.yaml"
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vidaudit.sim",
            "--nvrs",
            str(args.nvrs),
            "--channels",
            str(args.channels),
            "--seed",
            "1",
            "--inventory-out",
            str(inventory),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(300):
                ready = (await proc.stdout.readline()).decode().strip()
            startup = time.perf_counter() - started
            if "ready" not in ready:
                raise SystemExit(f"simulator did not start: {ready!r}")
            devices = load_devices(inventory)
            channels = args.nvrs * args.channels
            print(f"fleet: {len(devices)} NVRs x {args.channels} channels = {channels} channels")
            print(
                f"startup: {startup:.1f} s wall, {cpu_seconds(proc.pid):.1f} s CPU, "
                f"RSS {rss_mb(proc.pid):.0f} MB"
            )
            cpu_before = cpu_seconds(proc.pid)
            stats, wall = await drive(devices, args.concurrency, args.rounds)
            cpu = cpu_seconds(proc.pid) - cpu_before
            print(
                f"load: {stats.requests} requests in {wall:.1f} s wall "
                f"({stats.requests / wall:.0f} req/s), {stats.errors} non-200 answers, "
                f"{stats.failed_devices} device polls failed (offline, wrong password, "
                "no UTCDateTime: the default fleet's deliberate problems)"
            )
            print("mix: " + ", ".join(f"{op} {n}" for op, n in sorted(stats.by_op.items())))
            print(f"simulator CPU: {cpu:.2f} s = {1000 * cpu / stats.requests:.3f} ms per request")
            print(f"requests per second per simulator core: {stats.requests / cpu:.0f}")
            print(f"simulator RSS after load: {rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            async with asyncio.timeout(30):
                await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
