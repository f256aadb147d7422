"""Keep a running GB/T 28181 service in step with an edited cameras.yaml.

The service runs for months (``gb serve``, or inside ``serve``).  A security department
that adds a GB/T 28181 recorder to the inventory expects it to register at its next
attempt -- not to be refused with 403 until someone restarts the service -- and one that
removes a recorder expects it to stop counting as registered.  ``collect --every`` and
the workers take such an edit up (``inventory/watch.py``); so does the service, every
``VIDAUDIT_INVENTORY_CHECK_S``, with the same watch (a ``stat`` per file per look;
the files are parsed only when one changed, in a thread).  Inside ``vidaudit serve`` it
takes the web view's inventory instead, which that view's own watch keeps current: one
parse of an edit, one copy of it in memory.

What an edit changes here:

- the IDs allowed to register (``Platform.allow``): a new one registers at its device's
  next REGISTER; a removed one loses its registration at once (its next keepalive gets
  403) and its stored registration is deleted;
- the platform password, for REGISTERs from then on (a device already registered stays
  so until it registers again, as it would after a restart); a password that no longer
  resolves is not taken: the one in use stays, and the log says why.  A ``password_file``
  is read again at every look, since rotating it rewrites that file alone;
- the time zone of the ``Date`` a 200 to REGISTER carries.

The platform's own ID, domain and listen address are what recorders are configured to
reach; changing them needs a restart, which the log says (once per edit).  An edit the
loader rejects changes nothing (the watch logs it, with the file and key path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from vidaudit.gb28181.platform import Platform
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Gb28181Platform, Inventory

logger = logging.getLogger(__name__)


def allowed_devices(inventory: Inventory) -> dict[str, str]:
    """GB ID -> inventory device id, for every ``api: gb28181`` device."""
    return {
        device.gb_id: device.id
        for _branch, device in inventory.devices()
        if device.api is Api.GB28181 and device.gb_id is not None
    }


@dataclass(frozen=True)
class Applied:
    #: the IDs whose registration ended (no longer in the inventory)
    unregistered: list[str]
    #: why the platform password does not resolve (the one in use stays); None: it does
    password_problem: str | None


def apply_inventory(
    platform: Platform, started: Gb28181Platform, inventory: Inventory, path: Path
) -> Applied:
    """Apply an edited inventory to a running platform started with the ``started``
    section."""
    section = inventory.gb28181
    if section is None or (section.id, section.domain, section.listen) != (
        started.id,
        started.domain,
        started.listen,
    ):
        logger.warning(
            "%s: the gb28181 section's id, domain or listen address changed; the service "
            "keeps %s on %s until it is restarted",
            path,
            started.id,
            platform.listen,
            extra={"action": "gb28181_restart_needed", "inventory": str(path)},
        )
    platform.identity = replace(platform.identity, timezone=inventory.timezone)
    problem = None if section is None else take_password(platform, section, inventory, path)
    before = set(platform.devices)
    allowed = allowed_devices(inventory)
    gone = platform.allow(allowed)
    logger.info(
        "%s: GB/T 28181 service now allows %d device(s) (%d added, %d removed)",
        path,
        len(allowed),
        len(allowed.keys() - before),
        len(before - allowed.keys()),
        extra={
            "action": "gb28181_inventory_applied",
            "inventory": str(path),
            "devices": len(allowed),
            "unregistered": len(gone),
        },
    )
    return Applied(gone, problem)


def take_password(
    platform: Platform,
    section: Gb28181Platform,
    inventory: Inventory,
    path: Path,
    said: str | None = None,
) -> str | None:
    """Use the section's password for REGISTERs from now on, if it resolves and differs
    from the one in use.  Returns why it does not resolve (None: it does); that is
    logged unless it is ``said`` already."""
    resolver = SecretResolver(inventory, path)
    problem = resolver.platform_problem(section)
    if problem is not None:
        if problem != said:
            key = "password" if section.password is not None else "password_file"
            logger.warning(
                "%s: gb28181.%s: %s; registrations keep using the password in use",
                path,
                key,
                problem,
                extra={"action": "gb28181_password_kept", "inventory": str(path)},
            )
        return problem
    password = resolver.platform_password(section)
    if password.get_secret_value() != platform.identity.password.get_secret_value():
        platform.identity = replace(platform.identity, password=password)
        logger.info(
            "%s: the gb28181 password changed; REGISTERs from now on use it",
            path,
            extra={"action": "gb28181_password_changed", "inventory": str(path)},
        )
    return None


async def follow_inventory(
    platform: Platform,
    started: Inventory,
    path: Path,
    current: Callable[[], Inventory | None],
    looked: AsyncIterator[object],
) -> None:
    """Until cancelled: after each look (``looked``), apply the inventory in use
    (``current()``) if it is another than the one last applied, at first the one the
    platform was ``started`` with (not ``current()`` when this task first runs: it may
    have changed already).  Whoever keeps it
    current (the service's own ``InventoryWatch``, or the web view's beside it) has
    already refused a broken edit.  A platform ``password_file`` is read again at every
    look: a watch stats the inventory's own files, and a password is rotated by
    rewriting its file alone."""
    assert started.gb28181 is not None
    section_started, applied = started.gb28181, started
    said: str | None = None
    async for _ in looked:
        try:
            inventory = current()
            if inventory is None:
                continue
            section = inventory.gb28181
            if inventory is not applied:
                said = apply_inventory(platform, section_started, inventory, path).password_problem
                applied = inventory
            elif section is not None and section.password_file is not None:
                said = await asyncio.to_thread(
                    take_password, platform, section, inventory, path, said
                )
        except Exception:
            # The SIP service must outlive a bug here: it goes on with what it has.
            logger.exception(
                "%s: could not apply the edited inventory to the GB/T 28181 service",
                path,
                extra={"action": "gb28181_inventory_failed", "inventory": str(path)},
            )


async def every(seconds: float) -> AsyncIterator[None]:
    """A look every ``seconds``, for an inventory someone else keeps current."""
    while True:
        await asyncio.sleep(seconds)
        yield None
