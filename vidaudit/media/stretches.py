"""Grouping requested instants so that close ones share one PLAY (or one playback URL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def plan_stretches(
    instants: Sequence[datetime], reuse_within: timedelta
) -> list[list[tuple[int, datetime]]]:
    """Instants in time order, grouped so that each group is served by one PLAY."""
    ordered = sorted(enumerate(instants), key=lambda pair: pair[1])
    stretches: list[list[tuple[int, datetime]]] = []
    for index, instant in ordered:
        if stretches and instant - stretches[-1][-1][1] <= reuse_within:
            stretches[-1].append((index, instant))
        else:
            stretches.append([(index, instant)])
    return stretches
