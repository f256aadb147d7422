"""Benchmark loading a large cameras.yaml: time and memory, against PyYAML's classic loader.

    python bench/inventory.py [--nvrs 3125] [--channels 16] [--files 1]

Writes an inventory shaped as ``vidaudit sim`` writes one (3,125 NVRs x 16 = 50,000
channels by default; Chinese names, ${ENV} password references, hours) and loads it in a
fresh interpreter each way, so each peak is its own:

- ``classic``: the strict loader on PyYAML's node graph (``yaml.load``), then pydantic,
  as ``load_inventory`` did before the event reader (the baseline);
- ``events``: ``load_inventory`` as it is (``inventory/yaml_events.py``).

Prints wall time, CPU time, peak RSS (VmHWM) and RSS once loaded, for each, and the
ratios.  Every collector worker and one-process ``collect`` pays this once at start.

With ``--files N`` (N > 1) the branches are split over N files that a main cameras.yaml
names with ``include:`` (how a provincial inventory past one file's 8 MiB is written:
``--nvrs 31250 --files 12`` is 500,000 channels) and the loader is measured on the
whole (the scheduler's load) and on a main file including one of them (a regional
worker's).  The classic loader reads one file only, so there is no baseline then.
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
started, cpu = time.perf_counter(), time.process_time()
if way == 'classic':
    data = yaml.load(path.read_text(encoding='utf-8'), Loader=L._SAFE_LOADER)
    inventory = L.Inventory.model_validate(data)
    del data
else:
    inventory = L.load_inventory(path)
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
channels = sum(len(d.channels) for _b, d in inventory.devices())
print(json.dumps({'wall_s': wall, 'cpu_s': cpu, 'peak_mb': status('VmHWM:') - base,
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


def dump(data: object, path: Path) -> None:
    # libyaml's emitter where the wheel has it: 77 MB of YAML in seconds, not minutes
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=120)
    path.write_text(text, "utf-8")


def split(nvrs: int, channels: int, files: int, folder: Path) -> None:
    """The document's branches in ``files`` region files under ``folder``/regions, a
    main.yaml including them all and a region.yaml including the first."""
    data = document(nvrs, channels)
    branches: list[object] = data.pop("branches")  # type: ignore[assignment]
    per = -(-len(branches) // files)
    (folder / "regions").mkdir()
    for i in range(files):
        dump({"branches": branches[i * per : (i + 1) * per]}, folder / "regions" / f"r{i:03d}.yaml")
    dump({**data, "include": ["regions/*.yaml"]}, folder / "main.yaml")
    dump({**data, "include": ["regions/r000.yaml"]}, folder / "region.yaml")


def say(what: str, got: dict[str, float], size: str) -> None:
    print(
        f"inventory.{what}: {got['channels']:.0f} channels ({size}) in {got['wall_s']:.1f} s "
        f"({got['cpu_s']:.1f} s CPU); peak {got['peak_mb']:.0f} MB above the interpreter, "
        f"{got['held_mb']:.0f} MB held once loaded"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvrs", type=int, default=3125)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--files", type=int, default=1, help="split over this many files")
    args = parser.parse_args()
    if args.files > 1:
        with tempfile.TemporaryDirectory(prefix="vidaudit-inventory-") as name:
            folder = Path(name)
            split(args.nvrs, args.channels, args.files, folder)
            size = sum(f.stat().st_size for f in (folder / "regions").iterdir()) / 2**20
            one = (folder / "regions" / "r000.yaml").stat().st_size / 2**20
            say(
                "split",
                measure(folder / "main.yaml", "events"),
                f"{args.files} files, {size:.1f} MiB",
            )
            say("region", measure(folder / "region.yaml", "events"), f"1 file, {one:.1f} MiB")
        return
    with tempfile.TemporaryDirectory(prefix="vidaudit-inventory-") as name:
        path = Path(name) / "cameras.yaml"
        text = yaml.dump(
            document(args.nvrs, args.channels), allow_unicode=True, sort_keys=False, width=120
        )
        path.write_text(text, encoding="utf-8")
        size_mb = path.stat().st_size / 2**20
        figures = {way: measure(path, way) for way in ("classic", "events")}
    for way, got in figures.items():
        say(way, got, f"{size_mb:.1f} MiB of YAML")
    classic, events = figures["classic"], figures["events"]
    print(
        f"inventory.events_vs_classic: {classic['wall_s'] / events['wall_s']:.1f}x faster, "
        f"peak {events['peak_mb'] / classic['peak_mb']:.2f}x, "
        f"held {events['held_mb'] / classic['held_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
