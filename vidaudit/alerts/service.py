"""Deciding and sending, as each process runs it.

* ``sweep``: one transaction reads what is due (``due``), claims each item against its
  throttle, and writes one outbox row per channel and recipient.  It is quick database
  work, so it can follow a collection at once.
* ``drain``: leases due outbox rows, sends each (``notify.send``), records the outcome,
  schedules a retry with back-off or gives up after ``max_attempts``.  Network time is
  spent here, never inside a collection.

Who runs them: ``vidaudit collect`` sweeps after its run and drains for at most
``send_budget_s`` (what is left goes out with the next run or the next drainer);
``collect --every`` and ``serve`` (hence ``demo``) run ``AlertService.run`` beside their
work: a loop that sweeps and drains every ``SWEEP_EVERY`` and whenever woken (after each
collection).  ``vidaudit notify send`` does one sweep and drain for cron.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.alerts import outbox
from vidaudit.alerts.compose import Texts, compose
from vidaudit.alerts.due import Due, all_due
from vidaudit.alerts.recipients import route
from vidaudit.alerts.throttle import claim
from vidaudit.db.models import AlertOutboxRow
from vidaudit.errors import ConfigError
from vidaudit.inventory.schema import Inventory
from vidaudit.notify.errors import SendError
from vidaudit.notify.send import new_http_session, send
from vidaudit.review.tickets import escalate_overdue
from vidaudit.settings import Settings

log = logging.getLogger(__name__)

#: how often a running service looks for due alerts without being woken
SWEEP_EVERY = dt.timedelta(seconds=30)
#: rows leased at a time: few, so a drainer stopping at its budget holds back little
LEASE_BATCH = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sweep(
    session: Session,
    settings: Settings,
    texts: Texts,
    inventory: Inventory | None,
    now: dt.datetime,
) -> int:
    """Decide and write what is due now, in the caller's transaction; rows written."""
    notify = settings.notify
    if not notify.enabled:
        # No channel to tell, but an overdue ticket is still escalated on its page.
        escalate_overdue(session, now)
        return 0
    times: dict[str, int] = {}
    by_event: dict[str, list[Due]] = defaultdict(list)
    for item in all_due(session, notify, inventory, now):
        number = claim(session, item.key, now, item.repeat)
        if number:
            times[item.key] = number
            by_event[item.event].append(item)
    written = 0
    for event, items in by_event.items():
        roles = notify.recipients(event)
        assert roles is not None  # all_due drops switched-off events
        for target, chosen in route(session, notify, roles, items):
            message = compose(texts, notify, target.language, event, chosen, times)
            branches = {d.branch_id for d in chosen}
            branch = branches.pop() if len(branches) == 1 else None
            outbox.add(session, target, message, branch, now)
            written += 1
    session.flush()
    return written


@dataclass
class Drained:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class AlertService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        texts: Texts,
        *,
        inventory: Inventory | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.notify = settings.notify
        self.sessions = sessions
        self.texts = texts
        self.inventory = inventory
        self.clock = clock
        self.environ = environ
        # who holds a lease: this process (and this service, for tests with two)
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{id(self) % 10_000}"

    def sweep(self) -> int:
        with self.sessions.begin() as session:
            written = sweep(session, self.settings, self.texts, self.inventory, self.clock())
        if written:
            log.info("alerts: %d message(s) queued", written)
        return written

    def _lease(self) -> list[int]:
        with self.sessions.begin() as session:
            return outbox.lease_due(session, self.owner, self.clock(), LEASE_BATCH)

    def _load(self, row_id: int) -> AlertOutboxRow | None:
        with self.sessions() as session:
            row = session.get(AlertOutboxRow, row_id)
            if row is not None:
                session.expunge(row)
            return row

    def _record(self, row_id: int, error: str | None, retry: bool) -> outbox.Outcome:
        with self.sessions.begin() as session:
            return outbox.record(
                session, row_id, self.owner, self.clock(), self.notify, error=error, retry=retry
            )

    def _release(self, row_ids: list[int]) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(AlertOutboxRow)
                .where(AlertOutboxRow.id.in_(row_ids), AlertOutboxRow.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def _send_one(
        self, http: aiohttp.ClientSession, row: AlertOutboxRow
    ) -> tuple[str | None, bool]:
        """(error, retry) of one attempt; (None, False) when sent."""
        channel = self.notify.channels.get(row.channel)
        if channel is None:
            return f"config: channel {row.channel!r} is no longer in the settings", False
        try:
            await asyncio.wait_for(
                send(http, channel, outbox.message_of(row), row.recipient, self.environ),
                timeout=channel.timeout_s * 3 + 5,
            )
        except SendError as exc:
            return f"{exc.kind}: {exc.message}", exc.retry
        except ConfigError as exc:
            return f"{exc.kind}: {exc.message}", False
        except TimeoutError:
            return "timeout: the send did not finish", True
        return None, False

    async def drain(self, budget_s: float | None = None) -> Drained:
        """Send what is due; with ``budget_s``, stop starting new sends after that long."""
        result = Drained()
        if not self.notify.enabled:
            return result
        started = time.monotonic()
        async with new_http_session() as http:
            while True:
                ids = await asyncio.to_thread(self._lease)
                if not ids:
                    break
                for index, row_id in enumerate(ids):
                    if budget_s is not None and time.monotonic() - started > budget_s:
                        await asyncio.to_thread(self._release, ids[index:])
                        return result
                    row = await asyncio.to_thread(self._load, row_id)
                    if row is None:
                        continue
                    error, retry = await self._send_one(http, row)
                    outcome = await asyncio.to_thread(self._record, row_id, error, retry)
                    if outcome.state == outbox.SENT:
                        result.sent += 1
                    elif outcome.state == outbox.FAILED:
                        result.failed += 1
                    else:
                        result.retrying += 1
                    if error is not None:
                        result.errors.append(f"#{row_id} {row.channel}: {error}")
                        log.warning(
                            "alert #%d on %s (%s) not sent: %s%s",
                            row_id,
                            row.channel,
                            row.channel_kind,
                            error,
                            "" if outcome.state == outbox.FAILED else "; will retry",
                        )
        return result

    async def after_collection(self) -> Drained:
        """What one ``vidaudit collect`` does once its run is stored."""
        await asyncio.to_thread(self.sweep)
        return await self.drain(self.notify.send_budget_s)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Sweep and drain until ``stop``: every ``SWEEP_EVERY``, or at once on ``wake``."""
        wake = wake or asyncio.Event()
        while not stop.is_set():
            # cleared before the work, not after: a run stored while this sweep and drain
            # are busy wakes the loop again at once rather than waiting SWEEP_EVERY
            wake.clear()
            try:
                await asyncio.to_thread(self.sweep)
                await self.drain()
            except (SQLAlchemyError, OSError, ValueError) as exc:
                # a database restart or a full disk must not end alerting for good
                log.warning("alerts: sweep or drain failed, trying again later: %s", exc)
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(
                    waits, timeout=SWEEP_EVERY.total_seconds(), return_when="FIRST_COMPLETED"
                )
            finally:
                for waiter in waits:
                    waiter.cancel()


class BackgroundAlerts:
    """``AlertService.run`` in a thread of its own with its own event loop: for the
    synchronous ``collect --every`` loop, which wakes it after each run."""

    def __init__(self, service: AlertService) -> None:
        self.service = service
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="vidaudit-alerts", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop, self._wake = asyncio.Event(), asyncio.Event()
            self._ready.set()
            await self.service.run(self._stop, self._wake)

        asyncio.run(main())

    def start(self) -> BackgroundAlerts:
        self._thread.start()
        self._ready.wait(timeout=30)
        return self

    def wake(self) -> None:
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)
