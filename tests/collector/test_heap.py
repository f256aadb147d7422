"""The run's garbage-collector policy is in force during the run and undone after it."""

from __future__ import annotations

import gc
import weakref

import pytest

from vidaudit.collector.heap import YOUNG_THRESHOLD, run_heap, settle, worker_heap


def test_run_heap_freezes_and_restores_even_when_the_run_fails() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), run_heap():
        assert gc.get_freeze_count() > frozen_before  # the long-lived heap is set aside
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        raise RuntimeError("run failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


def test_cycles_made_during_a_run_are_still_collected() -> None:
    with run_heap():
        node = _Node()
        alive = weakref.ref(node)
        del node
        assert alive() is not None  # reference counting alone cannot free it
        gc.collect()
        assert alive() is None


def test_a_worker_settles_each_round_without_freezing_garbage() -> None:
    """``settle`` (at each new round) freezes what lives, but a cycle that is garbage by
    then is collected first, not kept in the permanent generation for the worker's life."""
    before = gc.get_threshold()
    with worker_heap():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        node = _Node()
        garbage = weakref.ref(node)
        del node
        kept = _Node()
        frozen = gc.get_freeze_count()
        settle()
        assert garbage() is None
        assert gc.get_freeze_count() > frozen  # what lives now, ``kept`` among it
        del kept
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
