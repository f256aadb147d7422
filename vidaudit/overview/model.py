"""The indicators the security department reports, as counts that add up.

Every indicator is a share: what passed over what was due (``Tally``).  Tallies of days,
branches and regions are summed first and divided last, so a region's rate is the share
of its devices' polls, channel-hours, channels, duties and findings, never an average of
its branches' percentages (a branch of two cameras does not weigh as much as one of
forty).  The definitions are written once here and, in the same words, in the README
and on the page (``web/locales/*.overview.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Indicator(StrEnum):
    #: 在线率: device polls answered / device polls
    ONLINE = "online"
    #: 录像完整率: required channel-minutes with footage / required channel-minutes
    #: (required: each business day from opening − margin to closing + margin)
    RECORDING = "recording"
    #: 存储合格率: channels keeping their required days (30, 90 for vaults) / channels
    #: whose retention was read, each channel counted once a day
    RETENTION = "retention"
    #: 完好率: channels whose latest live picture of the day passed every picture check /
    #: channels with a live picture that day
    PICTURE = "picture"
    #: 校时合格率: polls with the device clock within the allowed drift / polls where the
    #: clock could be read
    CLOCK = "clock"
    #: 职责履行率: duties met / duties due (D1 per business day ended, D2 and D3 per
    #: finished week or once met, D9 per off-site ATM per ended day)
    DUTIES = "duties"
    #: 整改及时率: findings whose fix was reported by the end of the deadline day /
    #: findings whose deadline fell in the week and has passed (or that were fixed)
    RECTIFICATION = "rectification"


INDICATORS: tuple[Indicator, ...] = tuple(Indicator)


@dataclass(frozen=True, slots=True)
class Tally:
    """``ok`` of ``due``; ``due`` may be a float (minutes)."""

    ok: float = 0
    due: float = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.ok + other.ok, self.due + other.due)

    @property
    def rate(self) -> float | None:
        """The share in [0, 1]; None when nothing was due (no data is not 100 %)."""
        if self.due <= 0:
            return None
        return min(1.0, max(0.0, self.ok / self.due))


Tallies = dict[Indicator, Tally]


def add(into: Tallies, other: Tallies) -> None:
    for key, tally in other.items():
        into[key] = into.get(key, Tally()) + tally


def total(parts: list[Tallies]) -> Tallies:
    out: Tallies = {}
    for part in parts:
        add(out, part)
    return out
