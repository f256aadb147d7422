"""Benchmark loading a large cameras.yaml: time and memory, against PyYAML's classic loader.

    python bench/inventory.py [--nvrs 3125] [--channels 16]

Writes an inventory shaped as ``vidaudit sim`` writes one (3,125 NVRs x 16 = 50,000
channels by default; Chinese names, ${ENV} password references, hours) and loads it in a
fresh interpreter each way, so each peak is its own:

- ``classic``: the strict loader on PyYAML's node graph (``yaml.load``), then pydantic,
  as ``load_inventory`` did before the event reader (the baseline);
- ``events``: ``load_inventory`` as it is (``inventory/yaml_events.py``).

Prints wall time, peak RSS (VmHWM) and RSS once loaded, for each, and the ratios.  Every
collector worker and one-process ``collect`` pays this once at start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HOURS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": "09:00-16:00",
    "sun": "closed",
}
ROLES = ("counter", "counter", "counter", "cash_area", "vault", "atm", "entrance", "lobby")

MEASURE = """
import json, sys, time
from pathlib import Path
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
import yaml
from vidaudit.inventory import load as L
path, way = Path(sys.argv[1]), sys.argv[2]
base = status('VmRSS:')
started = time.perf_counter()
if way == 'classic':
    data = yaml.load(path.read_text(encoding='utf-8'), Loader=L._SAFE_LOADER)
    inventory = L.Inventory.model_validate(data)
    del data
else:
    inventory = L.load_inventory(path)
wall = time.perf_counter() - started
channels = sum(len(d.channels) for _b, d in inventory.devices())
print(json.dumps({'wall_s': wall, 'peak_mb': status('VmHWM:') - base,
                  'held_mb': status('VmRSS:') - base, 'channels': channels}))
"""


def document(nvrs: int, channels: int) -> dict[str, object]:
    branches = []
    for b in range(1, nvrs + 1):
        devices = [
            {
                "id": f"FY{b:04d}-NVR1",
                "name": "营业部主录像机",
                "kind": "nvr",
                "vendor": "hikvision",
                "onvif": f"http://127.0.0.1:{20000 + b % 40000}/onvif/device_service",
                "username": "audit",
                "password": f"${{VIDAUDIT_PW_FY{b:04d}_NVR1}}",
                "playback": "onvif-replay",
                "rtsp_port": 554,
                "channels": [
                    {
                        "id": f"FY{b:04d}-C{c:02d}",
                        "name": f"{c}号柜台",
                        "role": ROLES[c % len(ROLES)],
                        "ref": {"profile": f"media_profile{c}"},
                        "audio": "required" if ROLES[c % len(ROLES)] == "counter" else "optional",
                    }
                    for c in range(1, channels + 1)
                ],
            }
        ]
        branches.append(
            {"id": f"FY{b:04d}", "name": f"第{b}支行", "hours": HOURS, "devices": devices}
        )
    return {"timezone": "Asia/Shanghai", "policy": {"retention_days": 30}, "branches": branches}


def measure(path: Path, way: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), way],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvrs", type=int, default=3125)
    parser.add_argument("--channels", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidaudit-inventory-") as name:
        path = Path(name) / "cameras.yaml"
        text = yaml.dump(
            document(args.nvrs, args.channels), allow_unicode=True, sort_keys=False, width=120
        )
        path.write_text(text, encoding="utf-8")
        size_mb = path.stat().st_size / 2**20
        figures = {way: measure(path, way) for way in ("classic", "events")}
    for way, got in figures.items():
        print(
            f"inventory.{way}: {got['channels']:.0f} channels ({size_mb:.1f} MiB of YAML) in "
            f"{got['wall_s']:.1f} s; peak {got['peak_mb']:.0f} MB above the interpreter, "
            f"{got['held_mb']:.0f} MB held once loaded"
        )
    classic, events = figures["classic"], figures["events"]
    print(
        f"inventory.events_vs_classic: {classic['wall_s'] / events['wall_s']:.1f}x faster, "
        f"peak {events['peak_mb'] / classic['peak_mb']:.2f}x, "
        f"held {events['held_mb'] / classic['held_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
