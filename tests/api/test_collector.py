"""The API's collector warm-up: survivors of the first full collections are frozen, then no more."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from api.collector import freeze_warmup_survivors


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def thawed() -> Iterator[None]:
    """Nothing frozen, and no other callback (a running app's own warm-up would freeze too)."""
    others = gc.callbacks[:]
    gc.callbacks.clear()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.callbacks[:] = others


def test_the_survivors_of_the_first_full_collections_are_frozen(thawed: None) -> None:
    stop = freeze_warmup_survivors(2)
    try:
        kept = [Node() for _ in range(100)]
        gc.collect()
        first = gc.get_freeze_count()
        assert first >= len(kept)  # the survivors, `kept` among them, left the collector's sight

        gc.collect(1)  # not a full collection: nothing frozen
        assert gc.get_freeze_count() == first

        more = [Node() for _ in range(100)]
        gc.collect()
        second = gc.get_freeze_count()
        assert second >= first + len(more)

        late = [Node() for _ in range(100)]
        gc.collect()  # the third full collection: the warm-up is over
        assert gc.get_freeze_count() == second
        assert len(gc.get_objects(generation=2)) >= len(late)  # left where the collector sees them
    finally:
        stop()


def test_garbage_is_collected_not_frozen(thawed: None) -> None:
    """Frozen after the sweep: the cycles the collection found are freed, not kept forever."""
    stop = freeze_warmup_survivors(1)
    try:
        refs = [weakref.ref(Node()) for _ in range(100)]  # unreachable cycles at once
        assert all(r() is not None for r in refs)
        gc.collect()
        assert gc.get_freeze_count() > 0
        assert all(r() is None for r in refs)
    finally:
        stop()


def test_uninstalling_removes_the_callback(thawed: None) -> None:
    stop = freeze_warmup_survivors()
    assert len(gc.callbacks) >= 1
    stop()
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before
