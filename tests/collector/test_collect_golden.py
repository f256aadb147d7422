"""`vidaudit collect --format json` gives the same document, byte for byte, as it did before
the code was moved about (issue 13's refactor was to change where things live, not what
the collector concludes).

The golden files were written by this test (``VIDAUDIT_WRITE_GOLDEN=1``) on the code
before the refactor; issue 10 added each device's and channel's ``unknown`` and the
``optional_faults`` fleet, whose broken optional calls pin how unknown facts read.  The
wall clock is frozen at one instant for the simulated fleet and the collector alike
(time-machine patches the wall clock only; asyncio's timeouts run on the monotonic
clock, which keeps moving), so the scenario, the device clocks, business hours and drift
are the same on every run.  Normalised: the loopback port each simulated
device happened to get, and the wording of a timeout (two equal deadlines race).

The demo fleet's GB/T 28181 recorder (FY004, issue 17) is read through the GB/T 28181
service, started beside the fleet; its part of ``collect_demo.json`` was added then, the
rest left as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import difflib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.gbservice.follow import allowed_devices
from vidaudit.gbservice.service import running_service
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import GenerateSpec, Scenario, load_scenario, parse_scenario, running_fleet
from vidaudit.sim.fleet import Fleet

pytestmark = pytest.mark.timeout(120)

GOLDEN = Path(__file__).parent / "golden"
# A Wednesday, mid-morning in the branches' zone: business hours are under way.
FROZEN_AT = dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# "127.0.0.1:41965" in URLs, "('127.0.0.1', 41965)" in aiohttp's connection errors.
PORT = re.compile(r"(127\.0\.0\.1(?::|', ))\d+")
# A call's own deadline and the HTTP read's deadline are equal; which one fires first is
# a race, and the two say it in different words.
TIMED_OUT = re.compile(
    r"(no complete answer|http://127\.0\.0\.1:PORT/onvif/device_service did not answer) within"
)

FLEETS = {
    "generated_faults": lambda: Scenario(
        seed=7, generate=GenerateSpec(nvrs=6, channels=4, cameras=2, with_faults=True)
    ),
    "demo": lambda: load_scenario(
        Path(__file__).resolve().parents[2] / "vidaudit" / "demo_scenario.yaml"
    ),
    # Optional calls broken on purpose (issue 10): the devices stay online, the facts
    # those calls give are "unknown" with the reason, R2/R6.unverifiable name the call.
    "optional_faults": lambda: parse_scenario(
        {
            "seed": 3,
            "branches": [
                {
                    "id": "OPT",
                    "name": "可选网点",
                    "hours": {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                    "devices": [
                        {
                            "id": device,
                            "vendor": "onvif",
                            **({"fault": {"kind": "malformed", "operations": ops}} if ops else {}),
                            "channels": [
                                {"id": f"{device}-C1", "role": "counter"},
                                {"id": f"{device}-C2", "role": "vault", "stopped_days_ago": 1.5},
                            ],
                        }
                        for device, ops in (
                            ("TWIN", []),
                            ("EVENTS", ["FindEvents"]),
                            ("JOBS", ["GetRecordingJobs"]),
                            ("NOMATCH", ["GetProfiles", "GetRecordingJobs"]),
                        )
                    ],
                }
            ],
        }
    ),
}


async def _gb_service(stack: contextlib.AsyncExitStack, inventory: Path, fleet: Fleet) -> None:
    """The GB/T 28181 service beside the fleet when its inventory has recorders that
    register (the demo's FY004), every one of them registered before the run."""
    loaded = load_inventory(inventory)
    if loaded.gb28181 is None:
        return
    settings = Settings()
    engine = make_engine(settings)
    stack.callback(engine.dispose)
    service = await stack.enter_async_context(
        running_service(
            settings,
            loaded,
            inventory,
            make_sessionmaker(engine),
            sip_sockets=fleet.gb_sip_sockets,
        )
    )
    wanted = allowed_devices(loaded)
    async with asyncio.timeout(30):
        while not all(service.platform.registration(i) for i in wanted):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
def fleet_in_thread(tmp_path: Path) -> Iterator[object]:
    """Start a fleet (and the GB/T 28181 service, if its inventory has a platform) in its
    own thread and event loop (the CLI runs ``asyncio.run`` itself)."""
    stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread]] = []

    def start(scenario: Scenario, inventory: Path) -> None:
        ready = threading.Event()
        holder: dict[str, object] = {}

        async def serve() -> None:
            stop = asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            holder["stop"] = stop
            try:
                async with (
                    running_fleet(scenario, inventory_out=inventory) as fleet,
                    contextlib.AsyncExitStack() as stack,
                ):
                    await _gb_service(stack, inventory, fleet)
                    ready.set()
                    await stop.wait()
            except BaseException as exc:
                holder["error"] = exc
                ready.set()
                raise

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        assert ready.wait(60), "the simulated fleet did not start within 60 s"
        assert "error" not in holder, holder.get("error")
        loop, stop = holder["loop"], holder["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        stops.append((loop, stop, thread))

    yield start
    for loop, stop, thread in stops:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_collect_json_unchanged(
    fleet: str, fleet_in_thread: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "1")
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CONNECT_TIMEOUT_S", "1")
    # The demo's ISAPI and Dahua recorders are read in full on a first run (~300 and ~150
    # requests, day calendars and file pages, served by the simulator in this process):
    # a deadline short enough for ONVIF's few calls would time them out on a busy machine.
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S", "60")
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    runner = CliRunner()
    inventory = tmp_path / "cameras.sim.yaml"
    with time_machine.travel(FROZEN_AT, tick=False):
        assert callable(fleet_in_thread)
        # the database first: the GB/T 28181 service keeps its registrations there
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        fleet_in_thread(FLEETS[fleet](), inventory)
        result = runner.invoke(app, ["collect", "--config", str(inventory), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["collected_at"] == FROZEN_AT.isoformat()
    text = PORT.sub(r"\1PORT", json.dumps(document, ensure_ascii=False, indent=1))
    text = TIMED_OUT.sub("TIMED OUT within", text)
    golden = GOLDEN / f"collect_{fleet}.json"
    if os.environ.get("VIDAUDIT_WRITE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text + "\n", encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            (text + "\n").splitlines(keepends=True),
            "golden",
            "now",
        )
    )
    assert not diff, diff
