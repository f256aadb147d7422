"""Opening rounds: ``vidaudit schedule --once [--wait]`` and ``--every``.

A round is opened (the inventory synced first, as every run does), one job per device is
deferred, and with ``--wait`` the scheduler keeps the round going (stalled jobs retried,
the deadline enforced) until it is finished.  A round still open when the next is due is
reported and the next is not opened (``RoundOverlap``); the database refuses a second open
round even from a scheduler on another machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.collector.queue import (
    cancel_late_jobs,
    defer_round,
    keep_rounds_once,
    log_finished,
    make_app,
    utcnow,
)
from vidaudit.collector.rounds import (
    FinishedRound,
    OpenedRound,
    finish_round,
    mark_late,
    open_round,
    set_job_ids,
)
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory
from vidaudit.settings import Settings

logger = logging.getLogger(__name__)

#: How often a waiting scheduler looks at its round.
WAIT_POLL_S = 1.0


def _open(
    sessions: sessionmaker[Session],
    inventory: Inventory,
    path: Path,
    deadline_s: float,
    branches: set[str] | None,
) -> OpenedRound:
    now = utcnow()
    with sessions.begin() as session:
        sync_inventory(session, inventory, source=str(path.resolve()), now=now)
    with sessions.begin() as session:
        return open_round(session, inventory, now, deadline_s, branches)


def _remember_jobs(
    sessions: sessionmaker[Session], run_id: int, ids: dict[str, int], blocked: list[str]
) -> None:
    with sessions.begin() as session:
        set_job_ids(session, run_id, ids)
        mark_late(session, run_id, blocked)


async def start_round(
    settings: Settings,
    inventory: Inventory,
    path: Path,
    sessions: sessionmaker[Session],
    *,
    deadline_s: float,
    branches: set[str] | None = None,
) -> OpenedRound:
    """Open a round and defer its jobs (``RoundOverlap`` while another is open)."""
    app = make_app(settings)
    async with app.open_async():
        # A round past its deadline is over: finish it before opening the next.
        await keep_rounds_once(app, sessions, settings)
        opened = await asyncio.to_thread(_open, sessions, inventory, path, deadline_s, branches)
        ids, blocked = await defer_round(app, opened)
    await asyncio.to_thread(_remember_jobs, sessions, opened.run_id, ids, blocked)
    for device in blocked:
        logger.warning(
            "%s: a job of an earlier round still waits; not queued again (late in round %d)",
            device,
            opened.run_id,
            extra={"action": "device_not_doubled", "device_id": device},
        )
    logger.info(
        "round %d opened: %d jobs deferred, deadline %s",
        opened.run_id,
        len(ids),
        opened.deadline_at.isoformat(),
        extra={"action": "round_opened", "run_id": opened.run_id, "jobs": len(ids)},
    )
    return opened


def _try_finish(sessions: sessionmaker[Session], run_id: int) -> FinishedRound | None:
    with sessions.begin() as session:
        return finish_round(session, run_id, utcnow())


async def wait_for_round(
    settings: Settings, sessions: sessionmaker[Session], run_id: int
) -> FinishedRound:
    """Keep the round going until it is finished (complete, or its deadline passed)."""
    app = make_app(settings)
    async with app.open_async():
        while True:
            await keep_rounds_once(app, sessions, settings)
            finished = await asyncio.to_thread(_try_finish, sessions, run_id)
            if finished is not None:
                log_finished(run_id, finished)
                await cancel_late_jobs(app, finished.late_jobs)
                return finished
            await asyncio.sleep(WAIT_POLL_S)


def round_deadline(settings: Settings, every_s: float | None) -> float:
    """A round must end before the next is due."""
    deadline = settings.collector_round_deadline_s
    return deadline if every_s is None else min(deadline, every_s)


def next_slot(started: float, every_s: float, now: float) -> float:
    """Seconds to wait for the next slot (slots are ``every_s`` apart from the first)."""
    missed = max(0.0, now - started) // every_s + 1
    return started + missed * every_s - now


def slot_time(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)
