"""Shared ground for the resource families: kind names, the code-keyed catalogue CRUD, lookups.

Stored objects are the serialised shape plus private fields prefixed with ``_`` (ids of related
objects, soft-delete stamps, creation order); ``_public()`` strips them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

from ..common import Request, iso
from ..errors import not_found
from ..rules import Errors, blank
from ..store import Store

BM, PLAN, TAX, ADD_ON, COUPON, CUSTOMER, SUB, APPLIED, EVENT, ORG = (
    "billable_metric", "plan", "tax", "add_on", "coupon", "customer", "subscription",
    "applied_coupon", "event", "organization",
)


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _desc_created(rows: list[dict]) -> list[dict]:
    """lago-behaviour#list-order: default order created_at DESC, id ASC (ties broken by id)."""
    rows = sorted(rows, key=lambda r: r["lago_id"])
    return sorted(rows, key=lambda r: r["_created"], reverse=True)


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class Host(Protocol):
    """What the resources use of the :class:`~lagosync.emulator.core.Emulator` that owns them."""

    store: Store
    premium: bool  # a server with a premium license (lago-behaviour#premium-license)

    def now(self) -> datetime: ...

    def new_id(self) -> str: ...

    def stamp(self) -> str: ...

    def enqueue(self, job: Callable[[], None]) -> None: ...

    def paginate(self, req: Request, rows: list, root: str, serialize: Callable[[dict], dict], *,
                 kept: tuple | None = None) -> Any: ...


# ==================================================================== code-keyed catalogue CRUD
@dataclass(frozen=True)
class Catalog:
    """One code-keyed catalogue resource (lago-behaviour#response-envelopes): POST /<plural>, GET /<plural> (list),
    GET/PUT/DELETE /<plural>/{code}. Each resource states only its own rules in the callables."""

    kind: str
    root: str  # singular envelope key (lago-behaviour#request-root-key)
    plural: str  # path segment and list root
    fresh: Callable[[], dict]  # the serialised defaults of a new object
    apply: Callable[..., None]  # (obj, params, errors, *, create) -> None: assign + validate
    out: Callable[[dict], dict]  # write / list responses
    out_get: Callable[[dict], dict] | None = None  # GET /<plural>/{code} if it differs
    out_list: Callable[[dict], dict] | None = None  # list items if they differ
    after_update: Callable[[dict, dict], None] | None = None  # (before, after) side effects
    delete: Callable[[dict], None] | None = None  # mark deleted + side effects (default soft-delete)


class ResourceBase:
    """State and helpers every resource family uses; the families are mixins over it (see __init__.py)."""

    def __init__(self, emu: Host):
        self.emu = emu
        self.store = emu.store
        self._due: datetime | None = None  # earliest time-driven subscription change (see SubscriptionsMixin.tick)
        self._due_scan = True  # scan once after start (state may come from a db file)
        self._lists: dict[tuple, tuple[int, list[dict]]] = {}  # see _listed

    def _listed(self, key: tuple, build: Callable[[], list[dict]]) -> list[dict]:
        """The filtered, ordered rows of a list request, kept until the next commit: a client reads
        a list page by page, and filtering and sorting 10,000 rows for each page of 100 made the
        emulator's own time dominate a benchmark's simulated latency."""
        if self.store.dirty:
            return build()
        hit = self._lists.get(key)
        if hit is not None and hit[0] == self.store.generation:
            return hit[1]
        rows = build()
        self._lists[key] = (self.store.generation, rows)
        return rows

    def _crud_routes(self, cat: Catalog):
        base, one = f"/{cat.plural}", f"/{cat.plural}/{{code}}"

        def create(req: Request):
            obj = {"lago_id": self.emu.new_id(), **cat.fresh(), "created_at": iso(self.emu.now())}
            errors = Errors()
            cat.apply(obj, req.root(cat.root), errors, create=True)
            errors.raise_if_any()
            self._new(cat.kind, obj)
            return {cat.root: cat.out(obj)}

        def list_(req: Request):
            # lago-behaviour#list-order: created_at DESC; deleted rows hidden (pending_deletion plans listed,
            # lago-behaviour#plan-delete-async)
            rows = self._listed((cat.kind,), lambda: _desc_created(self._live(cat.kind)))
            return self.emu.paginate(req, rows, cat.plural, cat.out_list or cat.out)

        def get(req: Request):
            return {cat.root: (cat.out_get or cat.out)(self._by_code(cat.kind, req.params["code"]))}

        def update(req: Request):
            obj = self._edit(cat.kind, self._by_code(cat.kind, req.params["code"]))
            before = dict(obj)
            errors = Errors()
            cat.apply(obj, req.root(cat.root), errors, create=False)
            errors.raise_if_any()  # nothing is written on error (unit of work rolled back)
            if cat.after_update:
                cat.after_update(before, obj)
            return {cat.root: cat.out(obj)}

        def delete(req: Request):
            obj = self._edit(cat.kind, self._by_code(cat.kind, req.params["code"]))
            if cat.delete:
                cat.delete(obj)
            else:
                obj["_deleted_at"] = iso(self.emu.now())
            return {cat.root: cat.out(obj)}

        return [("POST", base, create), ("GET", base, list_), ("GET", one, get), ("PUT", one, update),
                ("DELETE", one, delete)]

    def _end_subscriptions(self, field: str, value: str, now: str | None) -> None:
        """Every subscription whose ``field`` is ``value`` ends: an active one is terminated, a pending one
        canceled (lago-behaviour#customer-delete, lago-behaviour#plan-delete-async)."""
        for s in self.store.find(SUB, field, value):
            if s["status"] == "active":
                self.store.edit(SUB, s["lago_id"]).update(status="terminated", terminated_at=now)
            elif s["status"] == "pending":
                self.store.edit(SUB, s["lago_id"]).update(status="canceled", canceled_at=now)

    def _check_code(self, kind: str, obj: dict, errors: Errors) -> None:
        """code required and unique among non-deleted objects of the kind (lago-behaviour#value-already-exist)."""
        if blank(obj.get("code")):
            errors.add("code", "value_is_mandatory")
            return
        other = self._find_code(kind, obj["code"])
        if other is not None and other["lago_id"] != obj["lago_id"]:
            errors.add("code", "value_already_exist")

    # ================================================================ lookups
    def _live(self, kind: str) -> list[dict]:
        return [o for o in self.store.all(kind) if not o.get("_deleted_at")]

    def _by_code(self, kind: str, code: str, resource: str | None = None) -> dict:
        found = self._find_code(kind, code)
        if found is None:
            raise not_found(resource or kind)
        return found

    def _find_code(self, kind: str, code) -> dict | None:
        for o in self.store.find(kind, "code", code):
            if not o.get("_deleted_at"):
                return o
        return None

    def _ref(self, kind: str, lago_id: str) -> dict:
        """The row a stored reference points at (``s["_plan_id"]``, ``a["_coupon_id"]``…). Rows are
        never removed from the store, only soft-deleted, so it is there."""
        obj = self.store.get(kind, lago_id)
        assert obj is not None, f"{kind} {lago_id} is referenced but not stored"
        return obj

    def _edit(self, kind: str, obj: dict) -> dict:
        return self.store.edit(kind, obj["lago_id"])

    def _new(self, kind: str, obj: dict) -> dict:
        obj.setdefault("lago_id", self.emu.new_id())
        obj["_created"] = self.emu.stamp()
        obj.setdefault("created_at", iso(self.emu.now()))
        return self.store.put(kind, obj["lago_id"], obj)
