"""A server process freezes its long-lived heap; freeing a model unfreezes it, so the
model's reference cycles are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from easel.engines.backends._common import free_accelerator_memory
from easel.heap import freeze_long_lived


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's heap is not a server's


def test_freezing_collects_garbage_first_and_hides_the_rest_from_later_collections() -> None:
    garbage = Node()
    dead = weakref.ref(garbage)
    del garbage
    survivor = Node()
    kept = weakref.ref(survivor)
    freeze_long_lived()
    assert dead() is None  # collected, not frozen
    assert gc.get_freeze_count() > 0
    del survivor  # now garbage, but frozen: collections no longer look at it
    gc.collect()
    assert kept() is not None


def test_freeing_a_model_unfreezes_so_its_cycles_are_collected() -> None:
    model = Node()
    freed = weakref.ref(model)
    freeze_long_lived()
    del model
    gc.collect()
    assert freed() is not None
    free_accelerator_memory()
    assert freed() is None
    assert gc.get_freeze_count() == 0
