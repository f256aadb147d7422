"""A round's channel terms: a worker judges each channel by the role, required retention,
audio requirement and off-site mark the scheduler's inventory holds, not by its own
cameras.yaml.

Like the branch calendars (``round_hours``): the scheduler syncs its cameras.yaml into the
``channels`` table before it opens a round.  A regional machine's copy not updated when a
counter camera became a vault camera (retention 90 days instead of 30), or when a channel
was given an override, would judge that channel by the old terms -- a missed or false
retention violation, and a verdict depending on which worker took the device.

Pure: the worker reads the rows (``rounds.stored_channels``) and hands them here.  The
comparison is in the stored form (``sync.stored_terms``); a differing channel is rebuilt
through the schema with the stored terms, its required retention as the channel's own
(the number the scheduler's policy gave it), so data the schema refuses fails loudly.
What is compared is only what a channel is judged by: which channels a recorder has and
how they are found on it stay the worker's (a channel the worker does not know is not
polled by it; ``vidaudit inventory show`` lists what the database holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from vidaudit.collector.round_hours import first_error_line
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory
from vidaudit.inventory.sync import stored_terms


@dataclass(frozen=True)
class StoredChannel:
    """A ``channels`` row's terms as the database holds them (``sync.stored_terms``)."""

    role: str
    required_days: int
    audio: str
    offsite: bool


@dataclass(frozen=True)
class RoundChannels:
    """An inventory under the stored channel terms, and what differed."""

    inventory: Inventory
    #: branches holding a channel now judged by the stored terms, by id (inventory
    #: order), as they are in ``inventory``; usually none
    replaced: dict[str, Branch] = field(default_factory=dict)
    #: the channels judged by the stored terms, in inventory order
    channels: list[str] = field(default_factory=list)
    #: channels whose stored terms differ but cannot be read: judged by the inventory's
    #: own; why, by id
    unreadable: dict[str, str] = field(default_factory=dict)


def with_stored_terms(channel: Channel, stored: StoredChannel) -> Channel:
    """``channel`` judged by the stored terms, validated as cameras.yaml's channels are:
    ``ValueError`` (a pydantic ``ValidationError`` among them) on terms the schema
    refuses (an unknown role, an off-site camera that is not an ATM's)."""
    return Channel.model_validate(
        {
            **dict(channel),
            "role": stored.role,
            "retention_days": stored.required_days,
            "audio": stored.audio,
            "offsite": stored.offsite,
        }
    )


def under_stored_terms(inventory: Inventory, stored: Mapping[str, StoredChannel]) -> RoundChannels:
    """``inventory`` with each channel whose stored terms differ replaced by one judged by
    them (its device and branch copied around it).  A channel absent from ``stored`` (not
    synced, or retired) keeps its own terms; so does one whose stored terms cannot be
    read.  When nothing differs, the inventory itself is answered, not a copy."""
    changed: list[str] = []
    unreadable: dict[str, str] = {}
    branches: list[Branch] = []
    replaced: dict[str, Branch] = {}
    for branch in inventory.branches:
        devices: list[Device] = []
        for device in branch.devices:
            channels = [_judged(inventory, c, stored, changed, unreadable) for c in device.channels]
            same = all(new is old for new, old in zip(channels, device.channels, strict=True))
            devices.append(device if same else device.model_copy(update={"channels": channels}))
        if all(new is old for new, old in zip(devices, branch.devices, strict=True)):
            branches.append(branch)
            continue
        replaced[branch.id] = branch.model_copy(update={"devices": devices})
        branches.append(replaced[branch.id])
    if not replaced:
        return RoundChannels(inventory, unreadable=unreadable)
    return RoundChannels(
        inventory.model_copy(update={"branches": branches}), replaced, changed, unreadable
    )


def _judged(
    inventory: Inventory,
    channel: Channel,
    stored: Mapping[str, StoredChannel],
    changed: list[str],
    unreadable: dict[str, str],
) -> Channel:
    row = stored.get(channel.id)
    if row is None or row == StoredChannel(**stored_terms(inventory, channel)):
        return channel
    try:
        judged = with_stored_terms(channel, row)
    except (ValidationError, ValueError, TypeError) as exc:
        unreadable[channel.id] = first_error_line(exc)
        return channel
    changed.append(channel.id)
    return judged
