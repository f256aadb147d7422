"""Garbage-collector policy for the length of one collection run.

A run allocates millions of short-lived objects (requests, replies, per-day verdicts)
while the process already holds hundreds of thousands of long-lived ones: the parsed
ONVIF WSDLs and schemas, the validated inventory, SQLAlchemy's mappers.  CPython's
cyclic collector counts allocations, not garbage: with the default threshold (700) it
runs young collections thousands of times per run, and every tenth of those promotes
into older generations whose collections traverse everything that survived, the
long-lived heap included.  Measured on the 8,000-channel benchmark, that was about a
sixth of the collector's CPU, for almost no garbage (replies and results have no cycles
and are freed by reference counting).

So, for the run only: ``gc.freeze()`` moves what exists at the start into the permanent
generation that collections skip, and young collections run every ``YOUNG_THRESHOLD``
net allocations instead of 700.  Cycles are still collected, just less often; both
settings are put back when the run ends, however it ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Net allocations between young collections during a run (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


@contextmanager
def run_heap() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def worker_heap() -> Iterator[None]:
    """The same policy for a worker process, which lives for many rounds: young
    collections every ``YOUNG_THRESHOLD`` allocations for its life, and ``settle`` at
    each new round freezes what has come to live long since (the inventory at first,
    then the parsed WSDLs, the round's standing)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    settle()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def settle() -> None:
    """Collect what is garbage now, then freeze what survives.  Collecting first keeps
    cycles that are already garbage out of the permanent generation; a frozen object
    freed by reference counting later is freed as usual."""
    gc.collect()
    gc.freeze()
