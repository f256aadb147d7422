"""How frame pulls reach the GB/T 28181 service (kept light: no PyAV, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidaudit.inventory.schema import Inventory
from vidaudit.settings import Settings


@dataclass(frozen=True)
class GbPullSettings:
    control_file: Path
    query_timeout_s: float
    #: where the media port is opened (the service's listen host: the recorder reaches us
    #: there); the wildcard opens it on every address
    media_host: str
    #: the inventory's zone, for branches that name none (recorders speak local time)
    default_timezone: str
    transport: Literal["udp", "tcp"] = "udp"


def gb_pull_settings(settings: Settings, inventory: Inventory) -> GbPullSettings | None:
    """How to pull over GB/T 28181 for this inventory; None when it has no platform."""
    if inventory.gb28181 is None:
        return None
    return GbPullSettings(
        control_file=settings.gb_control_file,
        query_timeout_s=settings.gb_query_timeout_s,
        media_host=inventory.gb28181.host,
        default_timezone=inventory.timezone,
    )
