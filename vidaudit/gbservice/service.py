"""Run the GB/T 28181 service: the SIP platform, its registrations in the database, and
the local control channel.  ``running_service`` is what ``gb serve``, ``serve`` and
``demo`` start."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from vidaudit.aio import beside
from vidaudit.gb28181.platform import Platform, PlatformIdentity, PlatformTimers
from vidaudit.gb28181.transport import EndpointLimits, SipSockets
from vidaudit.gbservice.control import ControlServer
from vidaudit.gbservice.follow import allowed_devices, every, follow_inventory
from vidaudit.gbservice.store import DatabaseSink, prune
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.watch import InventoryWatch, looks
from vidaudit.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class GbService:
    platform: Platform
    control: ControlServer

    @property
    def port(self) -> int:
        return self.platform.port


@asynccontextmanager
async def running_service(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    sessions: sessionmaker[Session],
    *,
    sip_sockets: SipSockets | None = None,
    current: Callable[[], Inventory | None] | None = None,
) -> AsyncIterator[GbService]:
    """The service, listening, until the block ends.  ``inventory`` must have a
    ``gb28181`` section; its password must resolve (``KeyError`` otherwise).

    An edited inventory is taken up while it runs (``gbservice/follow.py``): the one
    ``current()`` returns when a caller keeps it current already (the web view in
    ``vidaudit serve``), else what the service's own watch of ``inventory_path`` reads.

    It binds the section's ``listen`` address (port 0: any free one, named in the log
    and the control file), unless given ``sip_sockets`` already bound to it: a caller
    that had to publish the port before the service started (the simulated fleet, whose
    recorders register there) reserved it by binding, and hands it over."""
    section = inventory.gb28181
    if section is None:
        raise ValueError("the inventory has no gb28181 section")
    password = SecretResolver(inventory, inventory_path).platform_password(section)
    sink = DatabaseSink(sessions)
    platform = Platform(
        PlatformIdentity(section.id, section.domain, password, inventory.timezone),
        allowed_devices(inventory),
        sink=sink,
        timers=PlatformTimers(keepalive_timeout_s=settings.gb_keepalive_timeout_s),
        limits=EndpointLimits(
            rate_per_s=settings.gb_messages_per_s, burst=settings.gb_messages_per_s * 4
        ),
    )

    def restore() -> int:
        with sessions.begin() as session:
            prune(session, dt.datetime.now(dt.UTC))
        return platform.restore(sink.load())

    looked: AsyncIterator[object]
    if current is None:
        # edits from now on; one made between the caller's load and this line is missed
        # until the files change again
        watch = InventoryWatch(inventory_path, inventory)
        looked, current = looks(watch, settings.inventory_check_s), lambda: watch.inventory
    else:
        looked = every(settings.inventory_check_s)
    kept = await asyncio.to_thread(restore)
    await platform.start(section.host, section.port, sip_sockets)
    control = ControlServer(platform, settings.gb_control_file)
    try:
        await control.start()
        logger.info(
            "GB/T 28181 service %s listening on %s (UDP and TCP), %d device(s) allowed, "
            "%d registration(s) kept from before",
            section.id,
            platform.listen,
            len(platform.devices),
            kept,
        )
        async with beside(follow_inventory(platform, inventory, inventory_path, current, looked)):
            yield GbService(platform, control)
    finally:
        await control.stop()
        await platform.stop()
