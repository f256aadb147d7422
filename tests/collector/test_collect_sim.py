"""The collector against the simulated fleet: its answers must equal the fleet's truth.json.

The simulator's truth is its own word (computed from its scenario, never from collector
code).  Truth instants are on each device's own clock (true UTC + drift); the collector
reports on its own clock, so truth times are moved back by the drift before comparing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from vidaudit.collector.run import CollectResult, collect
from vidaudit.compliance.model import BusinessDay
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import ChannelObservationRow, FaultTicketRow
from vidaudit.inventory import load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import GenerateSpec, Scenario, running_fleet

pytestmark = pytest.mark.timeout(120)

CALL_TIMEOUT_S = 1.5
DEADLINE_S = 8.0


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def on_our_clock(text: str, drift_s: float) -> dt.datetime:
    return when(text) - dt.timedelta(seconds=drift_s)


def assert_day_as_truth(
    day: BusinessDay,
    required: dict[str, str],
    gaps: list[tuple[dt.datetime, dt.datetime]],
    earliest: dt.datetime,
    where: tuple[str, str],
) -> None:
    """A business day judged as the truth has it: the truth's hours (and margins), read
    on our clock, and the verdict the truth's gaps and oldest footage (on our clock) give
    that need: covered unless a gap, or the time before the oldest footage, lies in it.
    Not truth.json's own verdict: that one is on the device's clock, and with the
    device's drift a gap at the edge of the hours is inside one need and outside the
    other."""
    need = day.need
    assert (need.start, need.end) == (when(required["start"]), when(required["end"])), where
    covered = need.start >= earliest and not any(
        start < need.end and end > need.start for start, end in gaps
    )
    assert day.covered == covered, where


async def collect_fleet(
    scenario: Scenario, tmp_path: Path
) -> tuple[CollectResult, dict[str, Any], Settings]:
    results, truth, settings = await collect_fleet_runs(scenario, tmp_path, runs=1)
    return results[0], truth, settings


async def collect_fleet_runs(
    scenario: Scenario, tmp_path: Path, *, runs: int
) -> tuple[list[CollectResult], dict[str, Any], Settings]:
    """``runs`` collections of one simulated fleet, one after the other."""
    settings = Settings(
        data_dir=tmp_path / "data",
        collector_call_timeout_s=CALL_TIMEOUT_S,
        collector_connect_timeout_s=1.0,
        collector_device_deadline_s=DEADLINE_S,
    )
    engine = make_engine(settings)
    upgrade(engine)
    inventory_path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(
        scenario, inventory_out=inventory_path, truth_out=tmp_path / "truth.json"
    ) as fleet:
        inventory = load_inventory(inventory_path)
        sessions = make_sessionmaker(engine)
        results = [
            await collect(settings, inventory, inventory_path, sessions) for _ in range(runs)
        ]
        truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
        assert fleet.truth["devices"].keys() == truth["devices"].keys()
    return results, truth, settings


@pytest.fixture(scope="module")
def faulty_fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[CollectResult, dict[str, Any]]:
    import asyncio

    scenario = Scenario(
        seed=11, generate=GenerateSpec(nvrs=13, channels=4, cameras=3, with_faults=True)
    )
    tmp = tmp_path_factory.mktemp("fleet")
    result, truth, _settings = asyncio.run(collect_fleet(scenario, tmp))
    return result, truth


def test_every_device_state_and_error_kind_matches_truth(
    faulty_fleet: tuple[CollectResult, dict[str, Any]],
) -> None:
    result, truth = faulty_fleet
    faults = {t["fault"] for t in truth["devices"].values()} - {None}
    assert faults >= {
        "hang",
        "slow",
        "http500",
        "malformed",
        "truncated",
        "xml_bomb",
        "huge",
        "reset",
    }, "the scenario must exercise every fault kind"
    seen = {d.device_id: d for d in result.report.devices}
    assert seen.keys() == truth["devices"].keys()
    for device_id, expected in truth["devices"].items():
        status = seen[device_id].status
        kind = status.error_kind.value if status.error_kind else None
        assert kind == expected["expected_error"], (device_id, expected["fault"], status)
        assert status.online == (expected["expected_error"] is None), device_id
        if status.online:
            assert status.clock_drift_s is not None
            assert abs(status.clock_drift_s - expected["clock_drift_s"]) <= 1.5, device_id


def test_run_ends_within_its_deadline_despite_hanging_devices(
    faulty_fleet: tuple[CollectResult, dict[str, Any]],
) -> None:
    result, _truth = faulty_fleet
    took = (result.report.finished_at - result.report.started_at).total_seconds()
    assert took < DEADLINE_S + 3


def test_channels_match_truth(faulty_fleet: tuple[CollectResult, dict[str, Any]]) -> None:
    result, truth = faulty_fleet
    devices = truth["devices"]
    checked = 0
    for report in result.report.channels:
        expected = truth["channels"][report.channel_id]
        device = devices[expected["device"]]
        if device["expected_error"] is not None:
            assert [v.rule for v in report.result.violations] == ["R6.offline"]
            continue
        drift = device["clock_drift_s"]
        evidence, judged = report.evidence, report.result
        assert evidence.search_supported == device["search_supported"]
        if not device["search_supported"]:
            assert judged.retention_days is None
            assert "R1.unverifiable" in [v.rule for v in judged.violations]
            continue
        checked += 1
        assert evidence.recording_found, report.channel_id
        if expected["search_earliest_bogus"]:
            assert evidence.earliest is None and judged.retention_days is None
        else:
            assert evidence.earliest is not None
            gap = abs(evidence.earliest - on_our_clock(expected["earliest"], drift))
            assert gap <= dt.timedelta(seconds=2), report.channel_id
            assert judged.retention_days == pytest.approx(expected["retention_days"], abs=0.01)
        assert (evidence.recording_state.value == "recording") == expected["recording"]
        assert evidence.audio_track == expected["audio"], report.channel_id
        # gaps inside the window equal the truth's gaps clipped to the same window
        assert judged.gaps is not None
        window_start = result.report.finished_at - dt.timedelta(days=judged.required_days)
        ours = [(g.start, g.end) for g in judged.gaps]
        theirs = []
        for g in expected["gaps"]:
            start = max(on_our_clock(g["start"], drift), window_start)
            end = on_our_clock(g["end"], drift)
            if end > start:
                theirs.append((start, end))
        if expected["latest"] != "now":
            # truth lists gaps up to the last footage; from there to now is a gap too
            theirs.append((on_our_clock(expected["latest"], drift), result.report.finished_at))
        _assert_same_spans(ours, theirs, report.channel_id)
        # business days: the same verdict for every completed day both judged
        by_date = {d.date.isoformat(): d for d in judged.business_days}
        for date, day in expected["business_days"].items():
            if date in by_date and on_our_clock(day["required"]["start"], drift) > window_start:
                earliest = on_our_clock(expected["earliest"], drift)
                where = (report.channel_id, date)
                assert_day_as_truth(by_date[date], day["required"], theirs, earliest, where)
        rules = {v.rule for v in judged.violations}
        assert ("R1.retention" in rules) == (
            not expected["search_earliest_bogus"]
            and expected["retention_days"] < expected["required_retention_days"] - 1 / 24
        ), report.channel_id
    assert checked >= 15


def _assert_same_spans(
    ours: list[tuple[dt.datetime, dt.datetime]],
    theirs: list[tuple[dt.datetime, dt.datetime]],
    channel: str,
) -> None:
    # The last gap of a stopped channel runs to "now", which moves between the truth's
    # and our reading; compare starts exactly and ends within the run's length.
    theirs = [t for t in theirs if t[1] - t[0] > dt.timedelta(seconds=2)]
    ours = [o for o in ours if o[1] - o[0] > dt.timedelta(seconds=2)]
    assert len(ours) == len(theirs), (channel, ours[-2:], theirs[-2:])
    for (a_start, a_end), (b_start, b_end) in zip(ours, theirs, strict=True):
        assert abs(a_start - b_start) <= dt.timedelta(seconds=2), channel
        assert abs(a_end - b_end) <= dt.timedelta(seconds=30), channel


def test_observations_and_tickets_stored(
    faulty_fleet: tuple[CollectResult, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    result, truth = faulty_fleet
    assert len(result.report.channels) == len(truth["channels"])
    assert result.tickets.opened > 0
    down = sum(t["expected_error"] is not None for t in truth["devices"].values())
    assert result.report.devices_down == down


async def test_second_run_closes_nothing_while_faults_persist(tmp_path: Path) -> None:
    scenario = Scenario(seed=5, generate=GenerateSpec(nvrs=2, channels=4, cameras=1))
    settings = Settings(
        data_dir=tmp_path / "data",
        collector_call_timeout_s=CALL_TIMEOUT_S,
        collector_device_deadline_s=DEADLINE_S,
    )
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(scenario, inventory_out=path):
        inventory = load_inventory(path)
        first = await collect(settings, inventory, path, sessions)
        second = await collect(settings, inventory, path, sessions)
    assert second.tickets.opened == 0 and second.tickets.closed == 0
    assert second.tickets.updated == first.tickets.opened
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(ChannelObservationRow))
        assert total == 2 * len(first.report.channels)
        assert session.scalar(select(func.count()).select_from(FaultTicketRow)) == (
            first.tickets.opened
        )
        # Stored: exactly the business days recording missed, with their missing minutes.
        stored = dict(
            session.execute(
                select(ChannelObservationRow.channel_id, ChannelObservationRow.business_days).where(
                    ChannelObservationRow.run_id == second.run_id
                )
            ).all()
        )
        missed_any = False
        for channel in second.report.channels:
            missed = [d for d in channel.result.business_days if not d.covered]
            missed_any = missed_any or bool(missed)
            assert [d["date"] for d in stored[channel.channel_id]] == [
                d.date.isoformat() for d in missed
            ], channel.channel_id
            assert all(
                not d["covered"] and d["missing_min"] > 0 for d in stored[channel.channel_id]
            )
        assert missed_any, "the scenario must have a channel that missed business hours"
