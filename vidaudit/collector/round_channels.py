"""A round's channels: a worker judges each of its recorders' channels as the scheduler's
inventory lists them -- which channels, how each is found on the recorder, its role,
required retention, audio requirement and off-site mark -- not as its own cameras.yaml
does.  The worker's file still says how to reach each recorder (address, account,
password reference), which is a property of the machine's network.

Like the branch calendars (``round_hours``): the scheduler syncs its cameras.yaml into the
``channels`` table before it opens a round.  A regional machine's copy not updated when a
counter camera became a vault camera (retention 90 days instead of 30), when a channel
was given an override, or when a camera was added to a recorder, would judge by the old
list: a missed or false retention violation, a new camera nobody checks, and a verdict
depending on which worker took the device.

Pure: the worker reads the rows (``rounds.stored_channels``) and hands them here.  The
comparison is in the stored form (``sync.stored_channel``); a recorder whose stored
channels differ gets its channel list rebuilt through the schema from the stored rows
(each channel's required retention as its own: the number the scheduler's policy gave
it), so data the schema refuses fails loudly and that recorder keeps the worker's list.
A recorder the database holds no channels for keeps the worker's list too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from vidaudit.collector.round_hours import first_error_line
from vidaudit.inventory.schema import Branch, Channel, Device, Inventory
from vidaudit.inventory.sync import stored_channel


@dataclass(frozen=True)
class StoredChannel:
    """A ``channels`` row as the database holds it (``sync.stored_channel``)."""

    device_id: str
    name: str
    ref: Any
    role: str
    required_days: int
    audio: str
    offsite: bool


@dataclass
class RoundChannels:
    """An inventory under the stored channels, and what differed (ids in inventory
    order, then the database's)."""

    inventory: Inventory
    #: branches holding a recorder whose channels are now the stored ones, by id, as
    #: they are in ``inventory``; usually none
    replaced: dict[str, Branch] = field(default_factory=dict)
    #: channels both list whose stored form differs: judged as stored
    changed: list[str] = field(default_factory=list)
    #: channels only the database lists for a recorder of this worker: polled all the same
    added: list[str] = field(default_factory=list)
    #: channels only this worker's file lists (removed from the scheduler's): not polled
    dropped: list[str] = field(default_factory=list)
    #: recorders whose stored channels differ but cannot be read: judged by the
    #: worker's own list; why, by recorder id
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def differ(self) -> int:
        return len(self.changed) + len(self.added) + len(self.dropped)


def channel_from(channel_id: str, stored: StoredChannel) -> Channel:
    """The channel the stored row describes, validated as cameras.yaml's channels are:
    ``ValueError`` (a pydantic ``ValidationError`` among them) on what the schema
    refuses (an unknown role, an off-site camera that is not an ATM's, no ref)."""
    return Channel.model_validate(
        {
            "id": channel_id,
            "name": stored.name,
            "role": stored.role,
            "ref": stored.ref,
            "retention_days": stored.required_days,
            "audio": stored.audio,
            "offsite": stored.offsite,
        }
    )


def under_stored_channels(
    inventory: Inventory, stored: Mapping[str, StoredChannel]
) -> RoundChannels:
    """``inventory`` with each recorder whose stored channels differ given the stored
    ones (its branch copied around it).  When nothing differs, the inventory itself is
    answered, not a copy (the usual case; a provincial inventory is tens of thousands
    of models)."""
    by_device: dict[str, dict[str, StoredChannel]] = {}
    for channel_id, row in stored.items():
        by_device.setdefault(row.device_id, {})[channel_id] = row
    out = RoundChannels(inventory)
    branches: list[Branch] = []
    for branch in inventory.branches:
        devices = [
            _device_under(inventory, device, by_device.get(device.id), out)
            for device in branch.devices
        ]
        if all(new is old for new, old in zip(devices, branch.devices, strict=True)):
            branches.append(branch)
            continue
        out.replaced[branch.id] = branch.model_copy(update={"devices": devices})
        branches.append(out.replaced[branch.id])
    if out.replaced:
        out.inventory = inventory.model_copy(update={"branches": branches})
    return out


def _device_under(
    inventory: Inventory,
    device: Device,
    rows: dict[str, StoredChannel] | None,
    out: RoundChannels,
) -> Device:
    if rows is None:
        return device
    changed: list[str] = []
    dropped: list[str] = []
    for channel in device.channels:
        row = rows.get(channel.id)
        if row is None:
            dropped.append(channel.id)
        elif row != StoredChannel(**stored_channel(inventory, device, channel)):
            changed.append(channel.id)
    own = {channel.id for channel in device.channels}
    added = sorted(rows.keys() - own)
    if not (changed or dropped or added):
        return device
    try:
        kept = [
            c if c.id not in changed else channel_from(c.id, rows[c.id]) for c in device.channels
        ]
        channels = [c for c in kept if c.id not in dropped]
        channels += [channel_from(channel_id, rows[channel_id]) for channel_id in added]
        # the whole recorder validated again: its API's rules on channel refs
        judged = Device.model_validate({**dict(device), "channels": channels})
    except (ValidationError, ValueError, TypeError) as exc:
        out.unreadable[device.id] = first_error_line(exc)
        return device
    out.changed += changed
    out.added += added
    out.dropped += dropped
    return judged
