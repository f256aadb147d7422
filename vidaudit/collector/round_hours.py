"""A round's branch calendars: a worker judges a branch by the hours, closed dates, special
days and time zone the scheduler's inventory holds, not by its own cameras.yaml.

The scheduler syncs its cameras.yaml into the ``branches`` table before it opens a round
(``inventory.sync``).  A worker reads with its own file, which may be a region's only, or
a copy not updated when the security department added the Spring Festival closed dates:
it would then count those days as business days and find their recordings missing --
false violations, and a round's verdicts would depend on which worker took a device.

Pure: the worker reads the rows (``rounds.stored_branches``) and hands them here.  The
comparison is in the stored form (``sync.stored_hours``), so it agrees with what sync
counts as a change; a differing row is parsed back through the schema's own types, so
stored data the schema refuses fails loudly rather than judging by something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from vidaudit.inventory.schema import Branch, Inventory
from vidaudit.inventory.sync import stored_hours, stored_timezone

#: The keys of a stored ``hours`` value (``sync.stored_hours``).
HOURS_KEYS = frozenset({"week", "closed_dates", "special_days"})


@dataclass(frozen=True)
class StoredBranch:
    """A ``branches`` row's calendar as the database holds it."""

    timezone: str
    hours: Any


@dataclass(frozen=True)
class RoundHours:
    """An inventory under the stored calendars, and what differed."""

    inventory: Inventory
    #: branches now judged by the stored calendar, by id (inventory order); usually none
    replaced: dict[str, Branch] = field(default_factory=dict)
    #: branches whose stored calendar differs but cannot be read: judged by the
    #: inventory's own; why, by id
    unreadable: dict[str, str] = field(default_factory=dict)


def same_calendar(inventory: Inventory, branch: Branch, stored: StoredBranch) -> bool:
    """Whether ``branch`` (of ``inventory``) has the stored time zone and hours."""
    return stored.timezone == stored_timezone(inventory, branch) and stored.hours == stored_hours(
        branch
    )


def with_stored_calendar(branch: Branch, stored: StoredBranch) -> Branch:
    """``branch`` with the stored time zone and hours; its devices unchanged (the same
    objects: they are not validated again).  Validated as cameras.yaml's branches are,
    so ``ValueError`` (a pydantic ``ValidationError`` among them) on data the schema
    refuses: an unknown time zone, ``"25:00-26:00"``, a special day that is closed."""
    hours = stored.hours
    if not isinstance(hours, dict) or hours.keys() != HOURS_KEYS:
        given = sorted(hours) if isinstance(hours, dict) else type(hours).__name__
        raise ValueError(f"stored hours: expected keys {sorted(HOURS_KEYS)}, got {given}")
    return Branch.model_validate(
        {
            **dict(branch),
            "timezone": stored.timezone,
            "hours": hours["week"],
            "closed_dates": hours["closed_dates"],
            "special_days": hours["special_days"],
        }
    )


def under_stored_calendars(inventory: Inventory, stored: Mapping[str, StoredBranch]) -> RoundHours:
    """``inventory`` with each branch whose stored calendar differs replaced by one with
    the stored calendar.  A branch absent from ``stored`` (not synced, or retired) keeps
    its own; so does one whose stored calendar cannot be read (``unreadable``).  When
    nothing differs, the inventory itself is answered, not a copy (the usual case; a
    provincial inventory is tens of thousands of models)."""
    replaced: dict[str, Branch] = {}
    unreadable: dict[str, str] = {}
    for branch in inventory.branches:
        row = stored.get(branch.id)
        if row is None or same_calendar(inventory, branch, row):
            continue
        try:
            replaced[branch.id] = with_stored_calendar(branch, row)
        except (ValidationError, ValueError, TypeError) as exc:
            unreadable[branch.id] = first_error_line(exc)
    if not replaced:
        return RoundHours(inventory, unreadable=unreadable)
    branches = [replaced.get(branch.id, branch) for branch in inventory.branches]
    return RoundHours(inventory.model_copy(update={"branches": branches}), replaced, unreadable)


def first_error_line(exc: Exception) -> str:
    """Why stored data was refused, in one line (for the worker's log)."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
