"""Issue 15, problem 1: two collections of the demo fleet five minutes apart
(``vidaudit collect --snapshots``) leave the live pictures normal - the demo's cameras show
still scenes whose only change is the on-screen clock, one at night, one in IR - and the
one camera the scenario freezes (``picture: frozen``) is caught.

The wall clock is frozen for the simulated fleet and the collector alike and moved by five
minutes between the runs (time-machine), so the simulator's pictures carry the clock the
devices would show then.

Live pictures come through ONVIF snapshots only.  The demo reads FY001-NVR1 by ISAPI and
FY003-NVR1 by Dahua's API (issue 14) with no ONVIF address, so ``make demo`` takes no live
picture of their channels - the very channels carrying the picture looks below.  Here
those two recorders are read over ONVIF, everything else as in the demo; the cameras, their
scenes and clocks are the demo's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from tests.collector.test_collect_golden import FROZEN_AT, fleet_in_thread
from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import ChannelObservationRow, FaultTicketRow, SnapshotRow
from vidaudit.settings import Settings
from vidaudit.sim.scenario import Scenario, parse_scenario

__all__ = ["fleet_in_thread"]  # the fixture, imported to be used here

pytestmark = pytest.mark.timeout(180)

#: the demo scenario's picture faults (vidaudit/demo_scenario.yaml)
FROZEN_CHANNEL = "FY003-C08"
NIGHT_LOOKS = {"FY001-C08": "ir", "FY001-C05": "night"}
#: the demo's recorders read by a vendor API, which gives no live picture (no snapshots)
VENDOR_API_RECORDERS = ("FY001-NVR1", "FY003-NVR1")
DEMO = Path(__file__).resolve().parents[2] / "vidaudit" / "demo_scenario.yaml"


def demo_with_live_pictures() -> Scenario:
    """The demo fleet, its vendor-API recorders answering ONVIF (their other faults kept)."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    for device in VENDOR_API_RECORDERS:
        override = data["devices"][device]
        assert override.pop("api") in ("isapi", "dahua"), override  # the demo changed
        override.pop("vendor_api", None)  # disk states: ISAPI/Dahua only
    return parse_scenario(data, str(DEMO))


def test_two_demo_collections_minutes_apart_leave_live_pictures_normal(
    fleet_in_thread: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "2")
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CONNECT_TIMEOUT_S", "1")
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_DEVICE_DEADLINE_S", "10")
    monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
    runner = CliRunner()
    inventory = tmp_path / "cameras.sim.yaml"
    command = ["collect", "--config", str(inventory), "--snapshots", "--format", "json"]
    with time_machine.travel(FROZEN_AT, tick=False):
        assert callable(fleet_in_thread)
        # the database first: the GB/T 28181 service (the demo's FY004) keeps its
        # registrations there
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        fleet_in_thread(demo_with_live_pictures(), inventory)
        first = runner.invoke(app, command)
        assert first.exit_code == 0, first.output
    with time_machine.travel(FROZEN_AT + dt.timedelta(minutes=5), tick=False):
        second = runner.invoke(app, command)
        assert second.exit_code == 0, second.output

    engine = make_engine(Settings(data_dir=tmp_path / "data"))
    with make_sessionmaker(engine)() as db:
        rows = list(db.scalars(select(SnapshotRow).order_by(SnapshotRow.taken_at)))
        latest = {row.channel_id: row for row in rows}
        pictures = {cid: row for cid, row in latest.items() if row.error is None}
        # the second run judged every picture it got against the first run's
        assert len(pictures) >= 12, sorted(latest)
        assert {row.run_id for row in latest.values()} == {max(r.run_id or 0 for r in rows)}
        frozen = pictures.pop(FROZEN_CHANNEL)
        assert frozen.diagnostics["checks"]["frozen"]["verdict"] == "fail", frozen.diagnostics
        assert frozen.diagnostics["primary"] == "frozen"
        wrong = {
            cid: row.diagnostics
            for cid, row in pictures.items()
            if row.diagnostics["verdict"] != "pass"
            or row.diagnostics["checks"]["frozen"]["verdict"] != "pass"
        }
        assert not wrong, wrong
        assert set(NIGHT_LOOKS) <= set(pictures)
        # R4 in the observations and the tickets: the frozen camera only
        last_run = frozen.run_id
        r4 = {
            o.channel_id
            for o in db.scalars(
                select(ChannelObservationRow).where(ChannelObservationRow.run_id == last_run)
            )
            if any(v["rule"] == "R4.picture" for v in o.violations)
        }
        assert r4 == {FROZEN_CHANNEL}
        tickets = db.scalars(
            select(FaultTicketRow.subject_id).where(FaultTicketRow.rule == "R4.picture")
        )
        assert set(tickets) == {FROZEN_CHANNEL}
    engine.dispose()
