"""Issue 15, problem 1: two collections of the demo fleet five minutes apart
(``vidaudit collect --snapshots``) leave the live pictures normal - the demo's cameras show
still scenes whose only change is the on-screen clock, one at night, one in IR - and the
one camera the scenario freezes (``picture: frozen``) is caught.

The wall clock is frozen for the simulated fleet and the collector alike and moved by five
minutes between the runs (time-machine), so the simulator's pictures carry the clock the
devices would show then.

The demo scenario runs as ``make demo`` runs it: its picture looks are on the channels of
FY001-NVR1 (read by ISAPI) and FY003-NVR1 (Dahua's API), whose live pictures come through
the ONVIF address the scenario gives them as well (``onvif: true``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

from tests.collector.test_collect_golden import FROZEN_AT, fleet_in_thread
from vidaudit.cli import app
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.models import ChannelObservationRow, FaultTicketRow, SnapshotRow
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import load_scenario

__all__ = ["fleet_in_thread"]  # the fixture, imported to be used here

pytestmark = pytest.mark.timeout(180)

#: the demo scenario's picture faults (vidaudit/demo_scenario.yaml)
FROZEN_CHANNEL = "FY003-C08"
NIGHT_LOOKS = {"FY001-C08": "ir", "FY001-C05": "night"}
#: the demo's recorders read by a vendor API, snapshotted through their ONVIF address
VENDOR_API_RECORDERS = {"FY001-NVR1": "isapi", "FY003-NVR1": "dahua"}
DEMO = Path(__file__).resolve().parents[2] / "vidaudit" / "demo_scenario.yaml"


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
        fleet_in_thread(load_scenario(DEMO), inventory)
        devices = {d.id: d for _, d in load_inventory(inventory).devices()}
        for device, api in VENDOR_API_RECORDERS.items():
            assert devices[device].api.value == api and devices[device].onvif is not None
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
        # the second run judged every picture it got against the first run's; the only
        # holes are the channels of recorders the poll found down (the demo's faults)
        assert len(pictures) >= 12, sorted(latest)
        holes = {cid: row.error for cid, row in latest.items() if row.error is not None}
        assert all(why.startswith("device down:") for why in holes.values()), holes
        assert set(NIGHT_LOOKS) | {FROZEN_CHANNEL} <= set(pictures)
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
