"""The naive baseline for bench/collector.py, run in its own virtualenv with onvif-zeep.

Polls the first N devices of a cameras.yaml one after another, the way onvif-zeep users
write it: a fresh ``ONVIFCamera`` per device (WSDLs parsed again, GetCapabilities in the
constructor), then the same calls our collector makes: clock, device information,
services, profiles, recording search and, per recording, an event search.  Prints one
JSON line: devices, channels, wall_s, wall_ms_per_channel, failed.

Usage: naive_onvif_zeep.py INVENTORY N WSDL_DIR
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml
from onvif import ONVIFCamera  # onvif-zeep (synchronous), not onvif-zeep-async

SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"


def env_values(inventory: dict, base: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    name = inventory.get("env_file")
    if name:
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def poll(device: dict, password: str, wsdl_dir: str) -> None:
    url = urlparse(device["onvif"])
    camera = ONVIFCamera(url.hostname, url.port, device["username"], password, wsdl_dir)
    mgmt = camera.devicemgmt
    mgmt.GetSystemDateAndTime()
    mgmt.GetDeviceInformation()
    services = mgmt.GetServices({"IncludeCapability": False})
    media = camera.create_media_service()
    media.GetProfiles()
    search_xaddr = next((s.XAddr for s in services if s.Namespace == SEARCH_NS), None)
    if search_xaddr is None:
        return
    camera.xaddrs[SEARCH_NS] = search_xaddr  # GetCapabilities leaves search in Extension
    search = camera.create_search_service()
    token = search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT10S"})
    results = search.GetRecordingSearchResults({"SearchToken": token, "MaxResults": 100})
    search.EndSearch({"SearchToken": token})
    now = dt.datetime.now(dt.UTC)
    for info in results.RecordingInformation or []:
        token = search.FindEvents(
            {
                "StartPoint": now - dt.timedelta(days=31),
                "EndPoint": now,
                "Scope": {"IncludedRecordings": [info.RecordingToken]},
                "SearchFilter": {},
                "IncludeStartState": True,
                "KeepAliveTime": "PT10S",
            }
        )
        for _ in range(100):
            page = search.GetEventSearchResults({"SearchToken": token, "MaxResults": 100})
            if page.SearchState == "Completed":
                break
        search.EndSearch({"SearchToken": token})


def main() -> None:
    path, count, wsdl_dir = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    inventory = yaml.safe_load(path.read_text(encoding="utf-8"))
    secrets = env_values(inventory, path.parent)
    devices = [d for b in inventory["branches"] for d in b["devices"]][:count]
    channels = sum(len(d["channels"]) for d in devices)
    failed = 0
    started = time.perf_counter()
    for device in devices:
        password = secrets.get(device["password"].strip("${}"), "")
        try:
            poll(device, password, wsdl_dir)
        except Exception:  # noqa: BLE001 - a baseline counts failures, it does not sort them
            failed += 1
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "devices": len(devices),
                "channels": channels,
                "wall_s": wall,
                "wall_ms_per_channel": wall * 1000 / channels,
                "failed": failed,
            }
        )
    )


if __name__ == "__main__":
    main()
