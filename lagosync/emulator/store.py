"""SQLite storage for the emulator: one JSON document per object, with a write-through cache.

Every request runs in a unit of work: writes go to an overlay and reach SQLite (and the cache)
only on ``commit()``; ``rollback()`` drops them. That gives the transactional behaviour Lago has
(e.g. a failed ``PUT /plans/{code}`` changes nothing, lago-behaviour#emulator-transactions).
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


# Secondary indexes (field values -> ids), so lookups by natural key stay O(1) with 1,000s of orgs.
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {
    "subscription": ("external_id", "_previous_id", "_customer_id", "_plan_id"),
    "customer": ("external_id",),
    "applied_coupon": ("_customer_id", "_coupon_id"),
    "event": ("transaction_id", "external_subscription_id"),
    "billable_metric": ("code",),
    "plan": ("code",),
    "tax": ("code",),
    "add_on": ("code",),
    "coupon": ("code",),
}


class Store:
    """Objects by ``(kind, id)``; values are plain JSON-able dicts."""

    def __init__(self, db_path: str = ":memory:"):
        self.db_path = str(db_path)
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if self.db_path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        # a commit survives the process (what -e local needs between commands), not a power cut: no
        # fsync per write (every emulated request commits; seeding 1,000s of orgs waited on the disk)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._cache: dict[str, dict[str, dict]] = {}
        self._index: dict[tuple[str, str], dict] = {}
        for kind, oid, data in self._db.execute("SELECT kind, id, data FROM objects"):
            obj = json.loads(data)
            self._cache.setdefault(kind, {})[oid] = obj
            self._reindex(kind, oid, None, obj)
        self._pending: dict[tuple[str, str], dict] = {}
        self.generation = 0  # +1 at every commit that wrote something: what was read before may differ

    @property
    def dirty(self) -> bool:
        """The current unit of work has writes not committed yet."""
        return bool(self._pending)

    def _reindex(self, kind: str, oid: str, old: dict | None, new: dict) -> None:
        for fld in INDEXED_FIELDS.get(kind, ()):
            idx = self._index.setdefault((kind, fld), {})
            if old is not None:
                ids = idx.get(old.get(fld))
                if ids is not None:
                    ids.discard(oid)
            idx.setdefault(new.get(fld), set()).add(oid)

    def find(self, kind: str, fld: str, value) -> list[dict]:
        """Objects of ``kind`` whose indexed field ``fld`` equals ``value`` (pending writes included)."""
        ids = set(self._index.get((kind, fld), {}).get(value, ()))
        for (k, oid), obj in self._pending.items():
            if k == kind:
                if obj.get(fld) == value:
                    ids.add(oid)
                else:
                    ids.discard(oid)
        found = []
        for oid in sorted(ids):
            row = self.get(kind, oid)
            assert row is not None  # the ids come from the committed index or the pending writes
            found.append(row)
        return found

    def count(self, kind: str) -> int:
        # the committed objects plus the new ones of this unit of work (not a set of every id: a
        # customer create counts customers, which made seeding 100,000 orgs quadratic)
        base = self._cache.get(kind, {})
        return len(base) + sum(1 for k, oid in self._pending if k == kind and oid not in base)

    # -- reads (see pending writes of the current unit of work) --
    def get(self, kind: str, oid: str) -> dict | None:
        obj = self._pending.get((kind, oid))
        if obj is None:
            obj = self._cache.get(kind, {}).get(oid)
        return obj

    def all(self, kind: str) -> Iterator[dict]:
        base = self._cache.get(kind, {})
        if not any(k == kind for k, _ in self._pending):
            yield from base.values()
            return
        seen = set()
        for oid, obj in base.items():
            seen.add(oid)
            yield self._pending.get((kind, oid), obj)
        for (k, oid), obj in self._pending.items():
            if k == kind and oid not in seen:
                yield obj

    def edit(self, kind: str, oid: str) -> dict:
        """A mutable copy of an object, registered as a pending write."""
        key = (kind, oid)
        if key not in self._pending:
            self._pending[key] = copy.deepcopy(self._cache[kind][oid])
        return self._pending[key]

    def put(self, kind: str, oid: str, obj: dict) -> dict:
        self._pending[(kind, oid)] = obj
        return obj

    # -- unit of work --
    def commit(self) -> None:
        if not self._pending:
            return
        rows = [(k, oid, json.dumps(obj, separators=(",", ":"))) for (k, oid), obj in self._pending.items()]
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO objects (kind, id, data) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._pending.clear()
            raise
        for (k, oid), obj in self._pending.items():
            cache = self._cache.setdefault(k, {})
            self._reindex(k, oid, cache.get(oid), obj)
            cache[oid] = obj
        self._pending.clear()
        self.generation += 1

    def rollback(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        self._db.close()
