"""Registrations in the database, so that the service's restart does not forget them."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import delete, select
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


def save_registration(session: Session, registration: Registration) -> None:
    row = session.get(GbRegistrationRow, registration.gb_id)
    if row is None:
        row = GbRegistrationRow(gb_id=registration.gb_id)
        session.add(row)
    row.transport = registration.transport
    row.host = registration.host[:64]
    row.port = registration.port
    row.contact = registration.contact[:256]
    row.registered_at = registration.registered_at
    row.expires_at = registration.expires_at
    row.last_seen_at = registration.last_seen_at


def remove_registration(session: Session, gb_id: str) -> None:
    session.execute(delete(GbRegistrationRow).where(GbRegistrationRow.gb_id == gb_id))


class DatabaseSink:
    """The platform's ``RegistrationSink``: writes in a worker thread, in arrival order
    per device (a Keepalive's write must not overtake the REGISTER's)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = asyncio.Lock()

    def _save(self, registration: Registration) -> None:
        with self._sessions.begin() as session:
            save_registration(session, registration)

    def _remove(self, gb_id: str) -> None:
        with self._sessions.begin() as session:
            remove_registration(session, gb_id)

    async def saved(self, registration: Registration) -> None:
        async with self._lock:
            await asyncio.to_thread(self._save, registration)

    async def removed(self, gb_id: str, reason: str) -> None:
        async with self._lock:
            await asyncio.to_thread(self._remove, gb_id)

    def load(self) -> list[Registration]:
        with self._sessions() as session:
            return load_registrations(session)


def prune(session: Session, now: dt.datetime) -> int:
    """Drop registrations that expired (the service does so at start)."""
    result = session.execute(delete(GbRegistrationRow).where(GbRegistrationRow.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
