"""Live snapshots (R4) against the simulated fleet: real GetSnapshotUri, real HTTP digest,
the simulator's pictures per channel scenario."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from vidaudit.collector.run import collect
from vidaudit.collector.snapshots import (
    SnapshotError,
    SnapshotOptions,
    fetch_jpeg,
    take_snapshots,
)
from vidaudit.compliance.picture import evaluate_picture, failed_checks
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import (
    ChannelObservationRow,
    EvidenceRow,
    FaultTicketRow,
    SnapshotRow,
)
from vidaudit.evidence.store import EvidenceStore
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import ChannelRef, ChannelRole, Credentials
from vidaudit.onvif.client import OnvifPool
from vidaudit.onvif.models import Profile, VideoSource
from vidaudit.onvif.topology import profile_for
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

pytestmark = pytest.mark.timeout(120)

HOURS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

SCENARIO: dict[str, Any] = {
    "seed": 5,
    "branches": [
        {
            "id": "SNAP01",
            "name": "快照网点",
            "hours": HOURS,
            "devices": [
                {
                    "id": "SNAP-NVR",
                    "vendor": "hikvision",
                    "channels": [
                        {"id": "SNAP-C1", "role": "counter", "picture": "normal"},
                        {"id": "SNAP-C2", "role": "vault", "picture": "black"},
                        {"id": "SNAP-C3", "role": "cash_area", "picture": "frozen"},
                        {"id": "SNAP-C4", "role": "lobby", "picture": "normal"},
                    ],
                },
                {
                    "id": "SNAP-CAM",
                    "kind": "camera",
                    "vendor": "dahua",
                    "wrong_password": True,
                    "channels": [{"id": "SNAP-CAM-C1", "role": "atm"}],
                },
            ],
        }
    ],
}


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        collector_call_timeout_s=3,
        collector_connect_timeout_s=1.0,
        collector_device_deadline_s=15,
    )


def by_channel(rows: list[SnapshotRow]) -> dict[str, SnapshotRow]:
    return {row.channel_id: row for row in rows}


async def test_collect_with_snapshots_flags_black_passes_normal_and_records_errors(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        result = await collect(
            settings, load_inventory(path), path, sessions, snapshots=SnapshotOptions()
        )
    with sessions() as db:
        rows = by_channel(list(db.scalars(select(SnapshotRow))))
        # Only priority roles by default: the lobby camera is not snapshotted.
        assert set(rows) == {"SNAP-C1", "SNAP-C2", "SNAP-C3", "SNAP-CAM-C1"}
        assert all(row.run_id == result.run_id for row in rows.values())

        normal = rows["SNAP-C1"]
        assert normal.error is None and normal.evidence_sha256
        assert normal.diagnostics["verdict"] == "pass", normal.diagnostics
        evidence = db.get(EvidenceRow, normal.evidence_sha256)
        assert evidence is not None and evidence.media_type == "image/jpeg"
        stored = EvidenceStore(settings.data_dir / "evidence").path_of(evidence)
        assert stored.read_bytes()[:2] == b"\xff\xd8"

        black = rows["SNAP-C2"]
        assert black.diagnostics["verdict"] == "fail"
        assert black.diagnostics["primary"] == "no_signal"
        assert failed_checks(black.diagnostics) == ["no_signal"]

        wrong = rows["SNAP-CAM-C1"]
        assert wrong.evidence_sha256 is None and wrong.diagnostics == {}
        assert wrong.error is not None and "auth" in wrong.error
        assert "rotated" not in wrong.error  # the simulator's password never leaks

        # The R4 violation is part of the channel's observation and opens a ticket.
        observed = {
            o.channel_id: o
            for o in db.scalars(
                select(ChannelObservationRow).where(ChannelObservationRow.run_id == result.run_id)
            )
        }
        rules = [v["rule"] for v in observed["SNAP-C2"].violations]
        assert "R4.picture" in rules
        r4 = next(v for v in observed["SNAP-C2"].violations if v["rule"] == "R4.picture")
        assert r4["severity"] == "major" and "no_signal" in r4["detail"]
        assert r4["evidence"]["evidence_sha256"] == black.evidence_sha256
        assert "R4.picture" not in [v["rule"] for v in observed["SNAP-C1"].violations]
        tickets = list(
            db.scalars(select(FaultTicketRow).where(FaultTicketRow.rule == "R4.picture"))
        )
        assert [t.subject_id for t in tickets] == ["SNAP-C2"]
    engine.dispose()


async def test_wrong_password_is_an_auth_error_row_when_asked_directly(tmp_path: Path) -> None:
    """Without a poll before it, take_snapshots contacts the device itself."""
    settings = settings_for(tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        # the inventory rows the snapshots point at
        from vidaudit.inventory.sync import sync_inventory

        with sessions.begin() as db:
            sync_inventory(db, inventory, source=str(path), now=dt.datetime.now(dt.UTC))
        async with OnvifPool() as pool:
            taken = await take_snapshots(
                pool,
                inventory,
                SecretResolver(inventory, path),
                sessions,
                EvidenceStore(settings.data_dir / "evidence"),
                options=SnapshotOptions(roles=frozenset({ChannelRole.ATM})),
                clock=lambda: dt.datetime.now(dt.UTC),
            )
        assert [(s.channel_id, (s.error or "").split(":")[0]) for s in taken] == [
            ("SNAP-CAM-C1", "auth")
        ]

        # The HTTP leg on its own: digest with the right password, 401 -> auth otherwise.
        dev = fleet.device("SNAP-NVR")
        url = dev.snapshot_url(dev.channels[0])
        right = Credentials(username=dev.plan.username, password=SecretStr(dev.plan.password))
        wrong = Credentials(username=dev.plan.username, password=SecretStr("nope"))
        async with aiohttp.ClientSession() as http:
            jpeg = await fetch_jpeg(http, url, right, timeout_s=5, connect_timeout_s=1)
            assert jpeg[:2] == b"\xff\xd8"
            with pytest.raises(SnapshotError) as refused:
                await fetch_jpeg(http, url, wrong, timeout_s=5, connect_timeout_s=1)
            assert refused.value.kind == "auth" and "nope" not in str(refused.value)
            with pytest.raises(SnapshotError) as too_big:
                await fetch_jpeg(http, url, right, timeout_s=5, connect_timeout_s=1, max_bytes=100)
            assert too_big.value.kind == "malformed"
    engine.dispose()


async def test_a_frozen_picture_is_flagged_against_the_previous_snapshot(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    now = dt.datetime.now(dt.UTC)
    options = SnapshotOptions(roles=frozenset({ChannelRole.CASH_AREA}))
    async with running_fleet(parse_scenario(SCENARIO), inventory_out=path):
        inventory = load_inventory(path)
        from vidaudit.inventory.sync import sync_inventory

        with sessions.begin() as db:
            sync_inventory(db, inventory, source=str(path), now=now)
        store = EvidenceStore(settings.data_dir / "evidence")
        resolver = SecretResolver(inventory, path)
        async with OnvifPool() as pool:
            first = await take_snapshots(
                pool, inventory, resolver, sessions, store, options=options, clock=lambda: now
            )
            # Seconds later the same picture proves nothing: the frozen check is skipped.
            again = await take_snapshots(
                pool,
                inventory,
                resolver,
                sessions,
                store,
                options=options,
                clock=lambda: now + dt.timedelta(seconds=20),
            )
            later = await take_snapshots(
                pool,
                inventory,
                resolver,
                sessions,
                store,
                options=options,
                clock=lambda: now + dt.timedelta(minutes=5),
            )
    assert first[0].diagnostics["checks"]["frozen"]["verdict"] == "skipped"
    assert again[0].diagnostics["checks"]["frozen"]["verdict"] == "skipped"
    assert later[0].diagnostics["checks"]["frozen"]["verdict"] == "fail"
    assert [v.rule for v in later[0].violations] == ["R4.picture"]
    assert "frozen" in later[0].violations[0].detail
    engine.dispose()


#: Recorders read through their vendor's API (issue 14): one with its ONVIF address too.
VENDOR_API_SCENARIO: dict[str, Any] = {
    "seed": 6,
    "branches": [
        {
            "id": "VAPI01",
            "name": "厂商接口网点",
            "hours": HOURS,
            "devices": [
                {
                    "id": "VAPI-HIK",
                    "vendor": "hikvision",
                    "api": "isapi",
                    "onvif": True,
                    "channels": [
                        {"id": "VAPI-HIK-C1", "role": "counter", "picture": "normal"},
                        {"id": "VAPI-HIK-C2", "role": "vault", "picture": "black"},
                    ],
                },
                {
                    "id": "VAPI-DAH",
                    "vendor": "dahua",
                    "api": "dahua",
                    "channels": [{"id": "VAPI-DAH-C1", "role": "atm", "picture": "black"}],
                },
            ],
        }
    ],
}


async def test_vendor_api_recorders_are_snapshotted_through_their_onvif_address(
    tmp_path: Path,
) -> None:
    """A recorder read by ISAPI that has ``onvif:`` too gets live pictures like an ONVIF
    one; one without says why it has none, per channel, and R4 stays unjudged there."""
    settings = settings_for(tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    path = tmp_path / "cameras.sim.yaml"
    async with running_fleet(parse_scenario(VENDOR_API_SCENARIO), inventory_out=path) as fleet:
        inventory = load_inventory(path)
        devices = {d.id: d for _, d in inventory.devices()}
        hik, dah = devices["VAPI-HIK"], devices["VAPI-DAH"]
        assert hik.api.value == "isapi" and hik.url is not None
        assert str(hik.onvif) == fleet.device("VAPI-HIK").device_url
        assert dah.api.value == "dahua" and dah.onvif is None
        truth = fleet.truth["devices"]
        assert truth["VAPI-HIK"]["onvif_configured"] is True
        assert truth["VAPI-DAH"]["onvif_configured"] is False
        result = await collect(settings, inventory, path, sessions, snapshots=SnapshotOptions())
    assert {d.device_id for d in result.report.devices if d.status.online} == {
        "VAPI-HIK",
        "VAPI-DAH",
    }
    with sessions() as db:
        rows = by_channel(list(db.scalars(select(SnapshotRow))))
        assert set(rows) == {"VAPI-HIK-C1", "VAPI-HIK-C2", "VAPI-DAH-C1"}
        assert rows["VAPI-HIK-C1"].error is None and rows["VAPI-HIK-C1"].evidence_sha256
        assert rows["VAPI-HIK-C1"].diagnostics["verdict"] == "pass"
        assert rows["VAPI-HIK-C2"].diagnostics["primary"] == "no_signal"
        hole = rows["VAPI-DAH-C1"]
        assert hole.error == "unsupported: live snapshots need onvif:"
        assert hole.diagnostics == {} and hole.evidence_sha256 is None
        observed = {
            o.channel_id: [v["rule"] for v in o.violations]
            for o in db.scalars(
                select(ChannelObservationRow).where(ChannelObservationRow.run_id == result.run_id)
            )
        }
        # the black ATM picture is not seen, so it is no violation (nor a pass)
        assert "R4.picture" in observed["VAPI-HIK-C2"]
        assert "R4.picture" not in observed["VAPI-DAH-C1"]
        assert "R4.picture" not in observed["VAPI-HIK-C1"]
    assert result.report.pictures_checked == {"VAPI-HIK-C1", "VAPI-HIK-C2"}
    engine.dispose()


def test_profile_for_finds_the_channel_by_profile_source_or_number() -> None:
    def profile(token: str, source: str | None) -> Profile:
        return Profile(token, token, source, None, None, "H264", 1920, 1080, 25.0, False)

    profiles = [profile("main1", "vs1"), profile("sub1", "vs1"), profile("main2", "vs2")]
    sources = [VideoSource("vs1", 1920, 1080, 25.0), VideoSource("vs2", 1920, 1080, 25.0)]
    assert profile_for(ChannelRef(channel=2), profiles, sources) == profiles[2]
    assert profile_for(ChannelRef(channel=1), profiles, []) == profiles[0]
    assert profile_for(ChannelRef(profile="sub1"), profiles, sources) == profiles[1]
    assert profile_for(ChannelRef(source="vs2"), profiles, sources) == profiles[2]
    assert profile_for(ChannelRef(channel=3), profiles, sources) is None


def test_the_r4_rule_names_the_failed_checks() -> None:
    failing = {
        "verdict": "fail",
        "primary": "frozen",
        "checks": {
            "no_signal": {"verdict": "pass", "score": 6.1},
            "blur": {"verdict": "fail", "score": 0.001},
            "frozen": {"verdict": "fail", "score": 0.0},
        },
    }
    [violation] = evaluate_picture(
        failing, taken_at="2026-11-19T02:00:00+00:00", evidence_sha256="ab"
    )
    assert violation.rule == "R4.picture" and violation.severity.value == "major"
    assert violation.detail == "live picture abnormal: frozen, blur"
    assert violation.evidence["failed"] == ["frozen", "blur"]
    passing = {"verdict": "pass", "primary": None, "checks": {"blur": {"verdict": "pass"}}}
    assert evaluate_picture(passing, taken_at="x", evidence_sha256=None) == []
    assert evaluate_picture({}, taken_at="x", evidence_sha256=None) == []
