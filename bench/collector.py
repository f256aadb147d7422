"""Benchmark the collector: full polls of simulated fleets, and a naive baseline.

    python bench/collector.py [--nvrs 500] [--channels 16] [--baseline-devices 50]
                              [--apis onvif,isapi,dahua]

For each API in ``--apis`` (default: both), one after the other in the same run:

1. Starts a simulated fleet (``python -m vidaudit.sim --api API``) as its own process:
   ``onvif`` is the usual vendor mix read over ONVIF; ``isapi`` is the same fleet with
   every NVR a Hikvision read through ISAPI (day calendars, paged searches capped at 40
   matches a page, hourly files); ``dahua`` every NVR a Dahua read through its HTTP API
   (a media-file finder per search, 100 files a page).
2. Runs one full collection (``vidaudit.collector.run.collect``: probe every device,
   judge every channel, store the run in SQLite) with the default settings (on a 2-core
   machine: the measuring process and one helper process polling), in a fresh process so
   one poll's peak memory is not the next one's, and prints its wall time, CPU ms per
   channel (user + system of that process and its helpers) and peak RSS (that process
   plus its helpers).  ``VIDAUDIT_COLLECTOR_PROCESSES=1`` measures one process alone.
   A vendor-API fleet is polled twice: the first poll reads every channel in full (day
   calendars, every file of the window); the second is what ``collect --every 5m`` does
   from then on, building on what the first settled (``collector.settled``: new footage
   and the oldest footage only, each channel read in full again once a day).
3. With the ONVIF fleet still up, a naive baseline on a subset: sequential, a fresh
   synchronous ``onvif-zeep`` client per device (the old library, which parses the WSDLs
   per camera and does network I/O in its constructor), the same calls per device.  It
   runs in its own virtualenv (.cache/bench-onvif-zeep) because onvif-zeep and
   onvif-zeep-async both install a package named ``onvif``.  Prints the per-channel ratio.
   Each vendor-API poll is also given as a ratio of the ONVIF poll (the baseline the
   vendor readers must match) and of its own first poll, both measured in this run.

Targets (2-core machine), for each fleet's scheduled poll: <= 60 s wall, <= 3 ms
collector CPU per channel, <= 400 MB RSS; ONVIF >= 20x the naive baseline per channel.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidaudit import aio  # noqa: E402
from vidaudit.collector.run import collect  # noqa: E402
from vidaudit.db.engine import make_engine, make_sessionmaker  # noqa: E402
from vidaudit.db.migrate import upgrade  # noqa: E402
from vidaudit.db.models import CollectionRunRow  # noqa: E402
from vidaudit.inventory import load_inventory  # noqa: E402
from vidaudit.settings import Settings  # noqa: E402

BASELINE_VENV = REPO / ".cache" / "bench-onvif-zeep"
BASELINE_SCRIPT = Path(__file__).with_name("naive_onvif_zeep.py")


def start_fleet(
    tmp: Path, nvrs: int, channels: int, api: str
) -> tuple[subprocess.Popen[str], Path]:
    inventory = tmp / f"cameras.sim.{api}.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vidaudit.sim",
            "--nvrs",
            str(nvrs),
            "--channels",
            str(channels),
            "--seed",
            "1",
            "--api",
            api,
            "--inventory-out",
            str(inventory),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            return process, inventory
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit("the simulated fleet did not start")


def cpu_s() -> float:
    """CPU of this process and of its finished children: the collector's helper
    processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class TreeMemory:
    """Peak RSS of this process plus its collector helpers, sampled every 20 ms.

    ``ru_maxrss`` cannot give it: a child's counts its parent's pages from before it
    exec'd (the helper would report the whole bench process), and RUSAGE_CHILDREN gives
    the largest child, not a sum.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, self._sample())

    def _sample(self) -> int:
        total = 0
        for pid in [os.getpid(), *self._children(os.getpid())]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # ended between listing and reading
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def _children(self, pid: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.extend([child, *self._children(child)])
        return found


def measure_collector(data_dir: Path, inventory_path: Path) -> dict[str, float]:
    """One full collection in this process (``--measure``): its figures."""
    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings)
    upgrade(engine)
    inventory = load_inventory(inventory_path)
    sessions = make_sessionmaker(engine)
    cpu0, wall0 = cpu_s(), time.perf_counter()
    with TreeMemory() as memory:
        # As `vidaudit collect` runs it: each device stored as it finishes, nothing held.
        result = aio.run(collect(settings, inventory, inventory_path, sessions, keep_report=False))
    wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
    with sessions() as session:
        run = session.get(CollectionRunRow, result.run_id)
        assert run is not None and run.status == "completed"
        devices, channels, down = run.devices, run.channels, run.devices_down
    own_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "devices": devices,
        "devices_down": down,
        "channels": channels,
        "wall_s": wall,
        "cpu_ms_per_channel": cpu * 1000 / channels,
        "wall_ms_per_channel": wall * 1000 / channels,
        "peak_rss_mb": max(own_peak_kb, memory.peak_kb) / 1024,
        "own_peak_rss_mb": own_peak_kb / 1024,
    }


def run_collector(
    tmp: Path, inventory_path: Path, api: str, env: dict[str, str] | None = None
) -> dict[str, float]:
    """``measure_collector`` in a fresh process: each poll's peak RSS is its own (polls
    of one fleet share its database).  ``env``: settings for that poll only."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            str(inventory_path),
            "--data-dir",
            str(tmp / f"data-{api}"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, **(env or {})},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ensure_baseline_venv() -> Path:
    python = BASELINE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "onvif-zeep==0.2.12", "pyyaml"],
            check=True,
            timeout=600,
        )
    return python


def run_baseline(inventory_path: Path, devices: int) -> dict[str, float]:
    import onvif  # the async library's package: its WSDL folder is the same ONVIF set

    wsdl_dir = Path(onvif.__file__).parent / "wsdl"
    python = ensure_baseline_venv()
    out = subprocess.run(
        [str(python), str(BASELINE_SCRIPT), str(inventory_path), str(devices), str(wsdl_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(name: str, ours: dict[str, float]) -> None:
    print(
        f"collector.{name}: {ours['wall_s']:.1f} s wall for {ours['devices']:.0f} "
        f"devices ({ours['devices_down']:.0f} down by scenario), {ours['channels']:.0f} "
        "channels (target <= 60 s)"
    )
    print(f"collector.{name}.cpu_per_channel: {ours['cpu_ms_per_channel']:.2f} ms (target <= 3 ms)")
    print(
        f"collector.{name}.peak_rss: {ours['peak_rss_mb']:.0f} MB, helper processes included "
        f"({ours['own_peak_rss_mb']:.0f} MB in the main process; target <= 400 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvrs", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--baseline-devices", type=int, default=50)
    parser.add_argument("--apis", default="onvif,isapi,dahua", help="fleets to poll, in order")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_collector(args.data_dir, args.measure)))
        return
    apis = [api.strip() for api in args.apis.split(",") if api.strip()]
    results: dict[str, dict[str, float]] = {}
    firsts: dict[str, dict[str, float]] = {}
    base: dict[str, float] | None = None
    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-") as name:
        tmp = Path(name)
        for api in apis:
            started = time.perf_counter()
            fleet, inventory = start_fleet(tmp, args.nvrs, args.channels, api)
            print(
                f"fleet ({api}): {args.nvrs} NVRs x {args.channels} channels ready in "
                f"{time.perf_counter() - started:.1f} s"
            )
            try:
                if api == "onvif":
                    results[api] = run_collector(tmp, inventory, api)
                    report(f"{api}.full_poll", results[api])
                else:
                    # The first read of a fleet asks every file of the window (ISAPI:
                    # ~25 requests a channel, 200,000 for the fleet), all served by one
                    # simulator process (~3 ms a search page): requests queue there past
                    # the default 10 s call timeout and 60 s device deadline, where real
                    # NVRs each serve their own.  So this one poll waits longer.
                    patient = {
                        "VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S": "1800",
                        "VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S": "120",
                    }
                    first = run_collector(tmp, inventory, api, patient)
                    report(f"{api}.first_poll (call timeout 120 s, deadline 1800 s)", first)
                    results[api] = run_collector(tmp, inventory, api)
                    report(f"{api}.scheduled_poll", results[api])
                    firsts[api] = first
                if api == "onvif" and args.baseline_devices > 0:
                    base = run_baseline(inventory, args.baseline_devices)
            finally:
                fleet.terminate()
                fleet.wait(timeout=30)
    onvif = results.get("onvif")
    if onvif is not None and base is not None:
        print(
            f"baseline.naive_onvif_zeep: {base['wall_s']:.1f} s wall for {base['devices']:.0f} "
            f"devices, {base['channels']:.0f} channels, sequential, fresh client per device "
            f"({base['failed']:.0f} devices failed)"
        )
        ratio = base["wall_ms_per_channel"] / onvif["wall_ms_per_channel"]
        print(
            f"collector.vs_naive: {onvif['wall_ms_per_channel']:.2f} ms vs "
            f"{base['wall_ms_per_channel']:.1f} ms wall per channel: {ratio:.0f}x "
            "(target >= 20x)"
        )
    for api, ours in results.items():
        first = firsts.get(api)
        if first is not None:
            print(
                f"collector.{api}_scheduled_vs_first: CPU per channel "
                f"{ours['cpu_ms_per_channel']:.2f} vs {first['cpu_ms_per_channel']:.2f} ms "
                f"({first['cpu_ms_per_channel'] / ours['cpu_ms_per_channel']:.1f}x less), wall "
                f"{ours['wall_s']:.1f} vs {first['wall_s']:.1f} s"
            )
        if api != "onvif" and onvif is not None:
            print(
                f"collector.{api}_vs_onvif (scheduled polls): CPU per channel "
                f"{ours['cpu_ms_per_channel']:.2f} "
                f"vs {onvif['cpu_ms_per_channel']:.2f} ms "
                f"({ours['cpu_ms_per_channel'] / onvif['cpu_ms_per_channel']:.2f}x), wall "
                f"{ours['wall_s']:.1f} vs {onvif['wall_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
