"""The ground truth agrees with what the devices answer, and with itself."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.sim.conftest import camera, lab_scenario, topic_filter
from vidaudit.inventory import check_secrets, load_inventory
from vidaudit.sim import GenerateSpec, Scenario, running_fleet
from vidaudit.sim.device import SimDevice
from vidaudit.sim.timeline import complement, intersect
from vidaudit.sim.vendors import MILESIGHT_BOGUS_EARLIEST, UNIVIEW_BOGUS_DATA_FROM

pytestmark = pytest.mark.timeout(90)


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def answering(truth: dict[str, Any]) -> list[str]:
    return [
        d
        for d, t in truth["devices"].items()
        if t["expected_error"] is None and t["search_supported"]
    ]


async def device_view(dev: SimDevice) -> dict[str, Any]:
    """What onvif-zeep-async reads from a device: per recording, track DataFrom, the
    FindEvents intervals of its video track, and the summary."""
    drift = abs(dev.plan.clock_drift_s) > 240
    out: dict[str, Any] = {"recordings": {}, "events": {}}
    async with camera(dev, adjust_time=drift) as cam:
        await cam.update_xaddrs()
        search = await cam.create_search_service()
        out["summary"] = await search.GetRecordingSummary()
        token = await search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT10S"})
        while True:
            page = await search.GetRecordingSearchResults({"SearchToken": token})
            for info in page.RecordingInformation:
                out["recordings"][info.RecordingToken] = info
            if page.SearchState == "Completed":
                break
        await search.EndSearch({"SearchToken": token})
        for ch in dev.channels:
            token = await search.FindEvents(
                {
                    "StartPoint": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                    "Scope": {"IncludedRecordings": [ch.tokens.recording]},
                    "SearchFilter": topic_filter("RecordingHistory/Track/State"),
                    "IncludeStartState": True,
                    "KeepAliveTime": "PT10S",
                }
            )
            events = []
            while True:
                page = await search.GetEventSearchResults({"SearchToken": token})
                events.extend(page.Result)
                if page.SearchState == "Completed":
                    break
            await search.EndSearch({"SearchToken": token})
            video = ch.tokens.video_track
            changes = []
            for r in events:
                if r.TrackToken != video:
                    continue
                data = {i.Name: i.Value for i in r.Event.Message._value_1.Data.SimpleItem}
                changes.append((r.Time, data["IsDataPresent"] == "true", r.StartStateEvent))
            out["events"][ch.plan.id] = changes
    return out


def intervals_from(changes: list[tuple[dt.datetime, bool, bool]]) -> tuple[list, bool]:
    spans, opened = [], None
    for t, present, _start in changes:
        if present and opened is None:
            opened = t
        elif not present and opened is not None:
            spans.append((opened, t))
            opened = None
    ongoing = opened is not None
    if ongoing:
        spans.append((opened, dt.datetime.max.replace(tzinfo=dt.UTC)))
    return spans, ongoing


def check_channel(truth: dict[str, Any], view: dict[str, Any], channel_id: str) -> None:
    ch = truth["channels"][channel_id]
    info = view["recordings"][ch["recording_token"]]
    spans, ongoing = intervals_from(view["events"][channel_id])
    assert view["events"][channel_id][0][2] is True  # IncludeStartState honoured
    assert spans, channel_id
    assert spans[0][0] == when(ch["earliest"]), channel_id
    assert ongoing == (ch["latest"] == "now"), channel_id
    if not ongoing:
        assert spans[-1][1] == when(ch["latest"]), channel_id
    event_gaps = [(spans[i][1], spans[i + 1][0]) for i in range(len(spans) - 1)]
    assert event_gaps == [(when(g["start"]), when(g["end"])) for g in ch["gaps"]], channel_id
    data_from = {t.DataFrom for t in info.Track}
    if ch["search_earliest_bogus"]:
        assert data_from == {MILESIGHT_BOGUS_EARLIEST}
        assert info.EarliestRecording == MILESIGHT_BOGUS_EARLIEST
    else:
        assert data_from == {when(ch["earliest"])}, channel_id
        assert info.EarliestRecording == when(ch["earliest"])
    assert [t.TrackToken for t in info.Track] == ch["track_tokens"]
    assert info.RecordingStatus == ("Recording" if ch["recording"] else "Stopped")


def check_business_days(truth: dict[str, Any], channel_id: str) -> None:
    ch = truth["channels"][channel_id]
    if ch["earliest"] is None:
        return
    end = dt.datetime.max.replace(tzinfo=dt.UTC) if ch["latest"] == "now" else when(ch["latest"])
    footage = complement(
        [(when(g["start"]), when(g["end"])) for g in ch["gaps"]], (when(ch["earliest"]), end)
    )
    assert ch["business_days"], channel_id
    for day, entry in ch["business_days"].items():
        window = (when(entry["required"]["start"]), when(entry["required"]["end"]))
        gaps = complement(intersect(footage, window), window)
        assert entry["gaps"] == [
            {
                "start": s.isoformat().replace("+00:00", "Z"),
                "end": e.isoformat().replace("+00:00", "Z"),
            }
            for s, e in gaps
        ], (channel_id, day)
        assert entry["covered"] is (not gaps)


async def check_fleet(scenario: Scenario, tmp_path: Path) -> dict[str, Any]:
    async with running_fleet(
        scenario, inventory_out=tmp_path / "cameras.sim.yaml", truth_out=tmp_path / "truth.json"
    ) as fleet:
        truth = fleet.truth
        ids = answering(truth)
        async with asyncio.timeout(60):
            views = await asyncio.gather(*(device_view(fleet.device(d)) for d in ids))
        for device_id, view in zip(ids, views, strict=True):
            dev_truth = truth["devices"][device_id]
            earliest = min(when(truth["channels"][c]["earliest"]) for c in dev_truth["channels"])
            expected_from = (
                UNIVIEW_BOGUS_DATA_FROM if dev_truth["summary_data_from_bogus"] else earliest
            )
            assert view["summary"].DataFrom == expected_from
            for channel_id in dev_truth["channels"]:
                check_channel(truth, view, channel_id)
        for channel_id, ch in truth["channels"].items():
            check_business_days(truth, channel_id)
            device_now = when(truth["generated_at"]) + dt.timedelta(
                seconds=truth["devices"][ch["device"]]["clock_drift_s"]
            )
            if ch["earliest"]:
                held = (device_now - when(ch["earliest"])).total_seconds() / 86400
                assert ch["retention_days"] == pytest.approx(held, abs=1e-3)
        inventory = load_inventory(tmp_path / "cameras.sim.yaml")
        assert check_secrets(inventory, tmp_path / "cameras.sim.yaml", environ={}) == []
        assert {c.id for _, _, c in inventory.channels()} == set(truth["channels"])
        assert (tmp_path / "truth.json").stat().st_size > 0
        return truth


async def test_lab_fleet_truth_matches_devices(tmp_path: Path) -> None:
    truth = await check_fleet(lab_scenario(), tmp_path)
    channels = truth["channels"]
    # The lab's deliberate problems are visible in the truth.
    yesterday_gap = [d for d in channels["HIK-C1"]["business_days"].values() if d["gaps"]]
    assert len(yesterday_gap) == 1 and not yesterday_gap[0]["covered"]
    assert all(d["covered"] for d in channels["HIK-C2"]["business_days"].values())
    assert not any(d["covered"] for d in channels["HIK-C3"]["business_days"].values())
    assert channels["HIK-C4"]["recording"] is False and channels["HIK-C4"]["latest"] != "now"
    assert channels["DAH-C2"]["retention_days"] == pytest.approx(12, abs=0.01)
    assert channels["DAH-C2"]["retention_days"] < channels["DAH-C2"]["required_retention_days"]
    assert len(channels["DAH-C1"]["gaps"]) == 3


async def test_generated_fleet_truth_matches_devices(tmp_path: Path) -> None:
    scenario = Scenario(seed=3, generate=GenerateSpec(nvrs=6, channels=8, cameras=3))
    truth = await check_fleet(scenario, tmp_path)
    errors = [t["expected_error"] for t in truth["devices"].values()]
    assert errors.count(None) > len(errors) / 2  # mostly healthy
    assert {"unreachable", "auth"} <= set(errors)
    covered = [
        d["covered"] for c in truth["channels"].values() for d in c["business_days"].values()
    ]
    assert any(covered) and not all(covered)


async def test_same_seed_same_fleet() -> None:
    now = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
    scenario = Scenario(seed=9, generate=GenerateSpec(nvrs=3, channels=4, cameras=1))
    runs = []
    for _ in range(2):
        async with running_fleet(scenario, now=now) as fleet:
            runs.append(
                {
                    c: (t["earliest"], t["gaps"], t["business_days"], t["recording_token"])
                    for c, t in fleet.truth["channels"].items()
                }
            )
    assert runs[0] == runs[1]
