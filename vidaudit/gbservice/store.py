"""Registrations in the database, so that the service's restart does not forget them."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.db.models import GbRegistrationRow
from vidaudit.gb28181.platform import Registration

logger = logging.getLogger(__name__)


def load_registrations(session: Session) -> list[Registration]:
    rows = session.scalars(select(GbRegistrationRow)).all()
    return [
        Registration(
            gb_id=row.gb_id,
            transport="tcp" if row.transport == "tcp" else "udp",
            host=row.host,
            port=row.port,
            contact=row.contact,
            registered_at=row.registered_at,
            expires_at=row.expires_at,
            last_seen_at=row.last_seen_at,
        )
        for row in rows
    ]


#: bound parameters per DELETE (SQLite allows 32,766 in one statement)
_IDS_PER_STATEMENT = 500


def _row(registration: Registration) -> dict[str, object]:
    return {
        "gb_id": registration.gb_id,
        "transport": registration.transport,
        "host": registration.host[:64],
        "port": registration.port,
        "contact": registration.contact[:256],
        "registered_at": registration.registered_at,
        "expires_at": registration.expires_at,
        "last_seen_at": registration.last_seen_at,
    }


def store_batch(session: Session, batch: Mapping[str, Registration | None]) -> None:
    """Each device's row becomes its latest state (None: no row): the rows are replaced,
    a DELETE per 500 devices and one INSERT, on SQLite and PostgreSQL alike."""
    ids = list(batch)
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[start : start + _IDS_PER_STATEMENT]
        session.execute(delete(GbRegistrationRow).where(GbRegistrationRow.gb_id.in_(chunk)))
    rows = [_row(r) for r in batch.values() if r is not None]
    if rows:
        session.execute(insert(GbRegistrationRow), rows)


class DatabaseSink:
    """The platform's ``RegistrationSink``: writes in a worker thread, in batches.

    A registration or a keepalive is a device's newer state of one row, so only the latest
    per device is written; what arrives while a batch is being committed goes into the
    next batch (one transaction each).  A write cannot overtake an earlier one of the same
    device, and a burst of REGISTERs (every recorder after a power cut) costs a few
    transactions instead of one each (``bench/gb28181.py``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        #: gb_id -> its latest state to write; None: remove the row
        self._pending: dict[str, Registration | None] = {}
        self._draining: asyncio.Future[None] | None = None

    def _commit(self, batch: dict[str, Registration | None]) -> None:
        with self._sessions.begin() as session:
            store_batch(session, batch)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            await asyncio.to_thread(self._commit, batch)

    async def _write(self, gb_id: str, registration: Registration | None) -> None:
        """Returns once a batch holding this write is committed (raises if it failed)."""
        self._pending[gb_id] = registration
        if self._draining is None or self._draining.done():
            self._draining = asyncio.ensure_future(self._drain())
        # shielded: one caller's cancellation must not stop the others' writes
        await asyncio.shield(self._draining)

    async def saved(self, registration: Registration) -> None:
        await self._write(registration.gb_id, registration)

    async def removed(self, gb_id: str, reason: str) -> None:
        await self._write(gb_id, None)

    def load(self) -> list[Registration]:
        with self._sessions() as session:
            return load_registrations(session)


def prune(session: Session, now: dt.datetime) -> int:
    """Drop registrations that expired (the service does so at start)."""
    result = session.execute(delete(GbRegistrationRow).where(GbRegistrationRow.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
