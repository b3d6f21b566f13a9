"""Pause Python's cyclic garbage collector around bulk object construction."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause automatic collection while building millions of small objects.

    A large tenant's snapshot holds millions of dicts; every automatic collection walks them all, which
    made loading and evaluating several times slower. Nothing built meanwhile forms cycles that must be
    freed early; the previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
