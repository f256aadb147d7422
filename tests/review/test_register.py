"""The review register: append-only, hash-chained, tamper-evident, safe under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.review.register import Entry, append, verify
from vidaudit.settings import Settings

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def entry(n: int) -> Entry:
    return Entry(
        actor=f"reviewer{n}",
        actor_role="administrator",
        action="frame_pull",
        reason="每周调阅检查",
        branch_id="FY001",
        channel_id="FY001-C01",
        range_start=T0 + dt.timedelta(minutes=n),
        range_end=T0 + dt.timedelta(minutes=n + 1),
        details={"frames": n, "note": "柜台"},
    )


def filled(db_url: str, count: int = 5) -> tuple[sessionmaker[Session], object]:
    engine = make_engine(Settings(), db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    for n in range(count):
        with sessions.begin() as s:
            append(s, entry(n), T0 + dt.timedelta(seconds=n))
    return sessions, engine


def drop_guard(engine: object) -> None:
    """What someone with database access could do to get around the triggers."""
    with engine.begin() as conn:  # type: ignore[attr-defined]
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER register_no_update"))
            conn.execute(text("DROP TRIGGER register_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER register_append_only ON register_entries"))


def test_appended_chain_verifies(db_url: str) -> None:
    sessions, _ = filled(db_url)
    with sessions() as s:
        report = verify(s)
    assert report.ok and report.entries == 5 and report.head_hash != "0" * 64


def test_update_and_delete_refused_by_database(db_url: str) -> None:
    _sessions, engine = filled(db_url, 2)
    for sql in (
        "UPDATE register_entries SET reason = 'x' WHERE seq = 1",
        "DELETE FROM register_entries WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text(sql))


def test_altered_entry_detected(db_url: str) -> None:
    sessions, engine = filled(db_url)
    drop_guard(engine)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE register_entries SET reason = '私人原因' WHERE seq = 3"))
    with sessions() as s:
        [problem] = verify(s).problems
    assert str(problem) == "entry 3: content does not match its hash (altered)"
    assert (problem.code, problem.params) == ("register_altered", {"seq": 3})


def test_deleted_entries_detected_in_middle_and_at_end(db_url: str) -> None:
    sessions, engine = filled(db_url)
    drop_guard(engine)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM register_entries WHERE seq = 2"))
    with sessions() as s:
        problems = [str(p) for p in verify(s).problems]
    assert problems[:2] == [
        "entries 2..2 are missing (deleted)",
        "entry 3: does not follow its predecessor's hash",
    ]
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM register_entries WHERE seq >= 4"))
    with sessions() as s:
        assert "entries were deleted from the end" in str(verify(s).problems[-1])
        assert verify(s).problems[-1].code == "register_tail_deleted"


def test_twenty_concurrent_appends_lose_nothing(db_url: str) -> None:
    sessions, _ = filled(db_url, 0)
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            with sessions.begin() as s:
                append(s, entry(n), dt.datetime.now(dt.UTC))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with sessions() as s:
        report = verify(s)
    assert report.ok and report.entries == 20


def test_naive_time_refused(db_url: str) -> None:
    sessions, _ = filled(db_url, 0)
    with sessions.begin() as s, pytest.raises(ValueError, match="aware"):
        append(s, entry(1), dt.datetime(2026, 1, 1))
