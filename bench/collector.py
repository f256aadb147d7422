"""Benchmark the collector: a full poll of a simulated fleet, and a naive baseline.

    python bench/collector.py [--nvrs 500] [--channels 16] [--baseline-devices 50]

1. Starts the simulated fleet (``python -m vidaudit.sim``) as its own process.
2. Runs one full collection (``vidaudit.collector.run.collect``: probe every device,
   judge every channel, store the run in SQLite) with the default settings (on a 2-core
   machine: this process and one helper process polling) and prints its wall time, CPU ms
   per channel (user + system of this process and its helpers) and peak RSS (this process
   plus its helpers).  ``VIDAUDIT_COLLECTOR_PROCESSES=1`` measures one process alone.
3. In the same run, a naive baseline on a subset: sequential, a fresh synchronous
   ``onvif-zeep`` client per device (the old library, which parses the WSDLs per camera
   and does network I/O in its constructor), the same calls per device.  It runs in its
   own virtualenv (.cache/bench-onvif-zeep) because onvif-zeep and onvif-zeep-async both
   install a package named ``onvif``.  Prints the per-channel ratio.

Targets (2-core machine): full poll <= 60 s wall, <= 3 ms collector CPU per channel,
<= 400 MB RSS, >= 20x the naive baseline per channel.
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


def start_fleet(tmp: Path, nvrs: int, channels: int) -> tuple[subprocess.Popen[str], Path]:
    inventory = tmp / "cameras.sim.yaml"
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
    processes (the simulator is a child too, but still running, so not counted)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class TreeMemory:
    """Peak RSS of this process plus its collector helpers, sampled every 20 ms.

    ``ru_maxrss`` cannot give it: a child's counts its parent's pages from before it
    exec'd (the helper would report the whole bench process), and RUSAGE_CHILDREN gives
    the largest child, not a sum.  The simulator (also a child) is left out.
    """

    def __init__(self, exclude: int) -> None:
        self.exclude = exclude
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
                if child != self.exclude:
                    found.extend([child, *self._children(child)])
        return found


def run_collector(tmp: Path, inventory_path: Path, fleet_pid: int) -> dict[str, float]:
    settings = Settings(data_dir=tmp / "data")
    engine = make_engine(settings)
    upgrade(engine)
    inventory = load_inventory(inventory_path)
    sessions = make_sessionmaker(engine)
    cpu0, wall0 = cpu_s(), time.perf_counter()
    with TreeMemory(exclude=fleet_pid) as memory:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvrs", type=int, default=500)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--baseline-devices", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidaudit-bench-") as name:
        tmp = Path(name)
        started = time.perf_counter()
        fleet, inventory = start_fleet(tmp, args.nvrs, args.channels)
        print(
            f"fleet: {args.nvrs} NVRs x {args.channels} channels ready in "
            f"{time.perf_counter() - started:.1f} s"
        )
        try:
            ours = run_collector(tmp, inventory, fleet.pid)
            base = run_baseline(inventory, args.baseline_devices)
        finally:
            fleet.terminate()
            fleet.wait(timeout=30)
    print(
        f"collector.full_poll: {ours['wall_s']:.1f} s wall for {ours['devices']:.0f} devices "
        f"({ours['devices_down']:.0f} down by scenario), {ours['channels']:.0f} channels "
        "(target <= 60 s)"
    )
    print(f"collector.cpu_per_channel: {ours['cpu_ms_per_channel']:.2f} ms (target <= 3 ms)")
    print(
        f"collector.peak_rss: {ours['peak_rss_mb']:.0f} MB, helper processes included "
        f"({ours['own_peak_rss_mb']:.0f} MB in the main process; target <= 400 MB)"
    )
    print(
        f"baseline.naive_onvif_zeep: {base['wall_s']:.1f} s wall for {base['devices']:.0f} "
        f"devices, {base['channels']:.0f} channels, sequential, fresh client per device "
        f"({base['failed']:.0f} devices failed)"
    )
    ratio = base["wall_ms_per_channel"] / ours["wall_ms_per_channel"]
    print(
        f"collector.vs_naive: {ours['wall_ms_per_channel']:.2f} ms vs "
        f"{base['wall_ms_per_channel']:.1f} ms wall per channel: {ratio:.0f}x (target >= 20x)"
    )


if __name__ == "__main__":
    main()
