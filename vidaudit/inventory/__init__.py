"""The bank's inventory of branches, devices and channels (cameras.yaml)."""

from vidaudit.inventory.load import (
    InventoryError,
    Problem,
    SecretResolver,
    check_secrets,
    load_inventory,
    parse_inventory,
)
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory, Role

__all__ = [
    "Branch",
    "Channel",
    "Device",
    "Inventory",
    "InventoryError",
    "Problem",
    "Role",
    "SecretResolver",
    "check_secrets",
    "load_inventory",
    "parse_inventory",
]
