"""Which decoded frame is nearest each requested instant (frames arrive in display
order; only the previous frame and the chosen ones are kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import av


@dataclass(frozen=True, slots=True)
class Candidate:
    frame: av.VideoFrame
    instant: datetime
    keyframe_distance: int | None


class FramePicker:
    """Nearest decoded frame for each target of one PLAY; frames arrive in display order."""

    def __init__(self, targets: list[tuple[int, datetime]]) -> None:
        self._targets = targets  # sorted by instant
        self._next = 0
        self.prev: Candidate | None = None
        self.chosen: dict[int, Candidate] = {}
        self.longest_gap = timedelta(0)

    @property
    def pending(self) -> bool:
        return self._next < len(self._targets)

    def offer(self, candidate: Candidate) -> None:
        if self.prev is not None and candidate.instant > self.prev.instant:
            self.longest_gap = max(self.longest_gap, candidate.instant - self.prev.instant)
        while self.pending:
            index, target = self._targets[self._next]
            if candidate.instant < target:
                break
            prev = self.prev
            # A tie goes to the earlier frame: evidence should not show what came after.
            if prev is not None and target - prev.instant <= candidate.instant - target:
                self.chosen[index] = prev
            else:
                self.chosen[index] = candidate
            self._next += 1
        self.prev = candidate

    def remaining(self) -> list[tuple[int, datetime]]:
        return self._targets[self._next :]

    def take_last(self, index: int) -> None:
        assert self.prev is not None
        self.chosen[index] = self.prev
        self._next += 1
