"""Process-level helpers shared by the stages (nothing here knows Lago or the workspace)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a stage builds many objects that live on (reading a
    workspace, reading Lago, planning): each automatic collection would walk all of them again (a
    100,000-org file took 3x longer to read; at 10,000 orgs, a read of Lago spent a quarter of its CPU
    in collections). Nothing these stages build is cyclic garbage: reference counting frees it. Nested
    uses keep it paused; it runs again as before afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects that exist now left out of the cyclic collector's work while a stage runs (gc.freeze),
    then handed back to it (gc.unfreeze). For a stage that makes short-lived cyclic garbage (HTTP
    responses) next to a large heap it does not change: collections go on, but a full one no longer
    walks the workspace already read."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
