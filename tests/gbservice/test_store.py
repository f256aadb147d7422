"""The registrations store writes in batches: whatever arrives while a batch is being
committed goes into the next, and each device's row ends as its latest state -- a burst of
REGISTERs, keepalives and an unregistration land as they were sent (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.gb28181.platform import Registration
from vidaudit.gbservice.store import DatabaseSink, load_registrations
from vidaudit.settings import Settings

pytestmark = pytest.mark.timeout(60)

T0 = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)


def registration(index: int, seen: dt.datetime, port: int = 5060) -> Registration:
    return Registration(
        gb_id=f"3402000000118{index:07d}",
        transport="udp",
        host="192.0.2.7",
        port=port,
        contact=f"sip:3402000000118{index:07d}@192.0.2.7:{port}",
        registered_at=T0,
        expires_at=T0 + dt.timedelta(hours=1),
        last_seen_at=seen,
    )


async def test_a_burst_lands_as_each_devices_latest_state(db_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    sink = DatabaseSink(sessions)
    devices = 1200  # more than one DELETE's worth of ids
    # every device registers, then keeps alive twice; device 0 moves port; device 1 leaves
    writes = [sink.saved(registration(i, T0)) for i in range(devices)]
    writes += [
        sink.saved(registration(i, T0 + dt.timedelta(seconds=60 * k)))
        for k in (1, 2)
        for i in range(devices)
    ]
    writes.append(sink.saved(registration(0, T0 + dt.timedelta(seconds=200), port=5070)))
    writes.append(sink.removed(registration(1, T0).gb_id, "unregistered"))
    await asyncio.gather(*writes)

    with sessions() as session:
        stored = {r.gb_id: r for r in load_registrations(session)}
    assert len(stored) == devices - 1
    assert registration(1, T0).gb_id not in stored
    first = stored[registration(0, T0).gb_id]
    assert (first.port, first.last_seen_at) == (5070, T0 + dt.timedelta(seconds=200))
    assert {r.last_seen_at for gb_id, r in stored.items() if gb_id != first.gb_id} == {
        T0 + dt.timedelta(seconds=120)
    }
    engine.dispose()


async def test_a_device_registering_again_after_leaving_is_stored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    sink = DatabaseSink(sessions)
    await sink.saved(registration(5, T0))
    await asyncio.gather(
        sink.removed(registration(5, T0).gb_id, "expired"),
        sink.saved(registration(5, T0 + dt.timedelta(minutes=5), port=6000)),
    )
    with sessions() as session:
        (stored,) = load_registrations(session)
    assert stored.port == 6000
    engine.dispose()


async def test_a_failed_batch_raises_to_its_callers_and_later_writes_still_land(
    tmp_path: Path,
) -> None:
    """The first batch meets a database without its tables (a real failure, not a mock):
    its callers see the error; once the schema is there the same sink writes again."""
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    sink = DatabaseSink(sessions)
    with pytest.raises(OperationalError):
        await sink.saved(registration(1, T0))
    upgrade(engine)
    await sink.saved(registration(2, T0))
    with sessions() as session:
        assert [r.gb_id for r in load_registrations(session)] == [registration(2, T0).gb_id]
    engine.dispose()
