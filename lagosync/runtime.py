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
    in collections). Nothing these stages build is cyclic garbage (reference counting frees it) but
    for a little per HTTP request (1.3 KiB, collected afterwards). Nested uses keep it paused; it
    runs again as before afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class SharedKeys:
    """Dicts of one shape (the objects of one list, the entries of one nested list) that share their
    key table, as the attribute dicts of one class's instances do (CPython's key-sharing dictionaries,
    PEP 412): a dict of 13 keys then holds about 190 bytes instead of 460, which matters for what a
    read of 100,000 orgs keeps. They are plain ``dict``\\ s in every other respect; one changed later
    (a key deleted, many new keys) only stops sharing, and another Python merely shares less.

    ``new()`` gives an empty dict of the shape, to be filled by item assignment in a stable order
    (``dict.update`` on it would give up the sharing for the whole shape)."""

    __slots__ = ("_cls",)

    def __init__(self, name: str) -> None:
        self._cls = type(name, (), {})  # one class per shape: its instances' dicts share the keys

    def new(self) -> dict:
        return self._cls().__dict__


class Shapes:
    """The ``SharedKeys`` of the shapes one builder meets, found by a name of the builder's choosing
    (a path of field names, which may be any text: the class made for it is named by a number). Past
    ``limit`` shapes (field names that are data, such as metadata keys) new ones are plain dicts."""

    __slots__ = ("_by_name", "_prefix", "_limit")

    def __init__(self, prefix: str, limit: int = 256) -> None:
        self._by_name: dict[str, SharedKeys | None] = {}
        self._prefix = prefix
        self._limit = limit

    def new(self, name: str) -> dict:
        """An empty dict of shape ``name``, filled by item assignment."""
        try:
            keys = self._by_name[name]
        except KeyError:
            count = len(self._by_name)
            keys = self._by_name[name] = SharedKeys(f"{self._prefix}{count}") if count < self._limit else None
        return {} if keys is None else keys.new()
