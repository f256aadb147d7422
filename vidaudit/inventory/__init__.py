"""The bank's inventory of branches, devices and channels (cameras.yaml)."""

from vidaudit.inventory.load import (
    InventoryError,
    Problem,
    SecretResolver,
    check_secrets,
    inventory_digest,
    load_inventory,
    parse_inventory,
)
from vidaudit.inventory.schema import Branch, Channel, ChannelRole, Device, Inventory

__all__ = [
    "Branch",
    "Channel",
    "ChannelRole",
    "Device",
    "Inventory",
    "InventoryError",
    "Problem",
    "SecretResolver",
    "check_secrets",
    "inventory_digest",
    "load_inventory",
    "parse_inventory",
]
