"""Read the live state of a Lago organization with list endpoints, concurrently.

``read_live(client, workspace)`` returns a ``LiveState``: the canonical live objects
(``lagosync.model.from_api``), the raw API objects the applier needs (lago_ids of charges and
metadata entries) and the ``LiveFacts`` the planner's billing rules need (docs/lago-behaviour.md).

The first request is ``GET /organizations``: the key's organization, checked against the
environment's ``organization:`` pin (``lagosync.client.connect.check_organization``) before anything
else is read; its name goes into ``LiveFacts.organization``, the client's ``premium`` setting into
``LiveFacts.premium``.

Request budget: after that one request, the catalogue (taxes, metrics, add-ons, plans, coupons)
is listed, one request per page. Customers and subscriptions are read the cheaper way: every page of the list
endpoints ("wide"), or, when the workspace declares few orgs compared with the number of
pages, one GET per declared org plus one count probe per plan ("narrow"). The two size probes are
page 1 of each list, which the wide read reuses. The request count grows with pages, never with
the number of objects in a page. The plans' fixed charges and the applied coupons are read while
the customers and subscriptions are.

What needs no workspace (the organization, the catalogue, the two size probes and, when a quick
count of the declared orgs says the read will list every page, up to READ_AHEAD_PAGES more pages of
each list) is ``first_reads``, which ``workflow.opened`` starts while the workspace loads. Pages read
ahead for a workspace that then reads narrow are dropped: at most that many requests for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .client.connect import check_organization
from .facts import LiveFacts, LiveState
from .kinds import (
    KINDS,
    KINDS_BY_NAME,
    MIGRATION_RECORD_PREFIX,
    VERSION_SUFFIX,
    applied_coupon_key,
    version_code,
)
from .model import (
    MARKER_KEY,
    MARKER_VALUE,
    ApiShapeError,
    ModelError,
    State,
    canonical_fixed_charge,
    from_api,
    yearly_amount_cents,
)
from .planner.moves import is_user_customer
from .runtime import Shapes, paused_gc

log = logging.getLogger("lagosync.live")

PER_PAGE = 100  # lago-behaviour#pagination (default page size, the one LagoClient.list_all uses)
SUB_STATUSES = ("active", "pending", "terminated", "canceled", "incomplete")  # lago-behaviour#subscription-statuses
# listing also shows unmanaged orgs, so fetching one by one must save more than this many requests
NARROW_MARGIN = 5


# --------------------------------------------------------------------------- plan versions


@dataclass
class _PlanVersion:
    logical: str  # the declared code X
    version: int
    live_code: str
    raw: dict


def _plan_version(plan: Mapping[str, Any]) -> _PlanVersion:
    """ARCHITECTURE "Plan versions": ``metadata.lagosync_code`` names the declared code; a plan
    without it is version 1 of its own code."""
    code = plan["code"]
    metadata = plan.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        metadata = {}  # from_api reports the shape of the current version; an old one is read as unmarked
    logical = metadata.get("lagosync_code")
    if not logical:
        return _PlanVersion(code, 1, code, dict(plan))
    try:
        version = int(str(metadata.get("lagosync_version")))
    except ValueError:
        match = VERSION_SUFFIX.match(code)
        version = int(match.group("n")) if match and match.group("base") == logical else 1
    return _PlanVersion(str(logical), version, code, dict(plan))


class _PlanIndex:
    """Live plans grouped by declared code; maps live codes back to declared codes."""

    def __init__(self, plans: Iterable[Mapping[str, Any]]):
        self.current: dict[str, _PlanVersion] = {}
        self.by_live_code: dict[str, _PlanVersion] = {}
        for plan in plans:
            if plan.get("parent_id"):
                continue  # overridden child plans share the parent's code (lago-behaviour#plan-override-children)
            version = _plan_version(plan)
            self.by_live_code[version.live_code] = version
            if plan.get("pending_deletion"):
                continue  # being deleted (lago-behaviour#plan-delete-async): never a current version
            best = self.current.get(version.logical)
            if best is None or (version.version, version.live_code) > (best.version, best.live_code):
                self.current[version.logical] = version

    def skip_unused_versions(self, subscriptions: Iterable[Mapping[str, Any]], ever: Mapping[str, int]) -> dict[str, str]:
        """A version lagosync made that never had a subscription, while an older version still bills
        subscribers staying on it, is left over from an apply that failed before moving anyone: the
        older version stays current (its subscribers are not moved again) and the unused one is reused
        by the next new version (lago-behaviour#plan-version-reuse). ``ever``: live code -> count of
        subscriptions of any status, where the reader only counted them. Returns declared code -> the
        unused version's live code."""
        seen = {s.get("plan_code") for s in subscriptions}
        staying = {s.get("plan_code") for s in subscriptions
                   if (s.get("status") or "active") == "active" and not s.get("next_plan_code")}
        unused: dict[str, str] = {}
        for logical, current in list(self.current.items()):
            made_by_lagosync = (current.raw.get("metadata") or {}).get("lagosync_code") == logical
            if not made_by_lagosync or current.version < 2 or current.live_code in seen or ever.get(current.live_code):
                continue
            older = [v for v in self.by_live_code.values()
                     if v.logical == logical and v.version < current.version and v.live_code in staying
                     and not v.raw.get("pending_deletion")]
            # a replace that finished marked the version it replaced: then the new one is meant to be
            # unused for now (its plan grandfathers its subscribers, lago-behaviour#plan-version-reuse)
            finished = any((v.raw.get("metadata") or {}).get("lagosync_superseded_by") == current.live_code
                           for v in self.by_live_code.values() if v.logical == logical)
            if older and not finished:
                self.current[logical] = max(older, key=lambda v: (v.version, v.live_code))
                unused[logical] = current.live_code
        return unused

    def is_current(self, live_code: str) -> bool:
        version = self.by_live_code.get(live_code)
        return version is not None and self.current.get(version.logical) is version

    def declared_code(self, live_code: str | None) -> str | None:
        """Declared code for a subscription's live plan code.

        The current version maps to its declared code X. A superseded version maps to
        ``X__v<N>`` so a subscription left on it (an interrupted migration) still differs
        from the YAML and is moved by the next apply (principle 5).
        """
        if live_code is None:
            return None
        version = self.by_live_code.get(live_code)
        if version is None:
            return live_code
        if self.is_current(live_code):
            return version.logical
        return version_code(version.logical, version.version)


# --------------------------------------------------------------------------- requests


def _require_keys(kind: str, items: list[dict]) -> None:
    """Every listed object has its key (code, external_id) as a non-empty string, or the answer is
    an error naming the endpoint (the client has checked that each item is an object)."""
    info = KINDS_BY_NAME[kind]
    for index, obj in enumerate(items):
        value = obj.get(info.key_field)
        if not isinstance(value, str) or not value:
            raise ApiShapeError(f"unexpected answer from Lago to GET {info.endpoint}: item {index} has "
                                f"{'no' if value is None else 'a non-string'} '{info.key_field}' ({value!r:.60})")


async def _count(client, path: str, params: list[tuple[str, str]]) -> int:
    """``meta.total_count`` of a list, read with one request of one item (an answer without it is an
    error naming the endpoint, never "Lago has none")."""
    return await client.count(path, path.strip("/").split("/")[-1], params)


async def _get_or_none(client, path: str, root: str) -> dict | None:
    """The object, None on a 404; any other answer without it is an error (LagoClient.get_or_none)."""
    return await client.get_or_none(path, root)


async def _read_customer(client, ext: str) -> dict | None:
    """One declared org: ``GET /customers/{id}``, or, for an id with a dot (Lago's router would cut it
    there, lago-behaviour#route-segments), the customer list filtered by ``external_id``."""
    if "." not in ext:
        return await _get_or_none(client, f"/customers/{_seg(ext)}", "customer")
    found = await client.list_all("/customers", "customers", [("external_id", ext)])
    return next((c for c in found if c.get("external_id") == ext), None)


def _pages(total: int) -> int:
    return max(1, math.ceil(total / PER_PAGE))


def _statuses(statuses: Iterable[str]) -> list[tuple[str, str]]:
    return [("status[]", s) for s in statuses]


def _seg(value: str) -> str:
    return quote(str(value), safe="")


async def _empty() -> list:
    return []


# --------------------------------------------------------------------------- read_live


async def read_live(client, workspace, *, prune: bool = False, share: State | None = None,
                    first: Awaitable[FirstReads] | None = None) -> LiveState:
    """Read what ``workspace`` manages from Lago (see the module docstring for the budget).

    ``prune=True`` always lists every customer and subscription, so managed orgs removed
    from the workspace are found (in the "narrow" mode only declared orgs are read).
    ``share``: the canonical desired state; a live customer or subscription equal to its desired
    one is that same object (in sync, the usual case, one copy of each is held, not two; nothing
    mutates canonical objects once built).
    ``first``: ``first_reads(client, ...)`` started before the workspace was loaded (else it runs now).
    """
    with paused_gc():
        return await _read_live(client, workspace, prune=prune, share=share or {}, first=first)


def _shared(obj: dict, kind: str, key: str, share: State) -> dict:
    """``obj``, or the equal desired object of ``share`` (read_live's ``share``): equal as the planner
    compares (``same``: True is not 1), since the planner takes one object for no change."""
    desired = (share.get(kind) or {}).get(key)
    return desired if desired is not None and desired == obj and _same_types(desired, obj) else obj


def _same_types(a: Any, b: Any) -> bool:
    """Two values already ``==``: of the same type all the way down (so ``same`` holds too). It runs
    for every object in sync, so it loops over the members and descends only into containers."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        for key, x in a.items():
            y = b[key]
            member = type(x)
            if member is not type(y) or ((member is dict or member is list) and not _same_types(x, y)):
                return False
    elif kind is list:
        for x, y in zip(a, b, strict=True):
            member = type(x)
            if member is not type(y) or ((member is dict or member is list) and not _same_types(x, y)):
                return False
    return True


@dataclass
class FirstReads:
    """What a read of Lago asks before it needs the workspace (``first_reads``): the key's
    organization, the catalogue lists, page 1 of the customer and subscription lists (their size
    probes) and, read ahead, further pages of both: number -> the task reading it (still coming in
    when the rest is ready), kept sparse as they arrive, without the workspace's strings (``_Sparse``)."""

    organization: dict | None
    catalogue: tuple[list[dict], list[dict], list[dict], list[dict], list[dict]]  # taxes, metrics, add-ons, plans, coupons
    customers_first: tuple[list[dict], dict, int]
    subscriptions_first: tuple[list[dict], dict, int]
    customer_pages: dict[int, asyncio.Task] = field(default_factory=dict)
    subscription_pages: dict[int, asyncio.Task] = field(default_factory=dict)

    def used(self) -> None:
        """The pages read ahead go to the read (``list_all(read=...)`` awaits them)."""
        if self.customer_pages or self.subscription_pages:
            log.info("read ahead while the workspace loaded: %d pages of customers, %d of subscriptions",
                     len(self.customer_pages), len(self.subscription_pages))

    async def drop(self) -> None:
        """The pages read ahead are let go: those still coming in are cancelled (the read is narrow,
        or ended early), what they raised is left to the read that needs them, and none is held
        any longer (the read keeps what it took of them)."""
        tasks = [*self.customer_pages.values(), *self.subscription_pages.values()]
        self.customer_pages, self.subscription_pages = {}, {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# at most this many pages of each of the two lists are read ahead (first_reads): more than a
# workspace that loads apart lists (workflow.LOAD_APART_UP_TO_BYTES); the rest is read after
READ_AHEAD_PAGES = 500


def _wide(prune: bool, orgs: int, plans: int, customer_total: int, sub_total: int) -> bool:
    """Whether customers and subscriptions are listed (wide) rather than fetched one declared org at a
    time (narrow), for ``orgs`` declared orgs (and the users they replace) and ``plans`` plan codes."""
    wide_cost = (_pages(customer_total) if customer_total else 0) + (_pages(sub_total) if sub_total else 0)
    narrow_cost = 2 * orgs + 2 * plans
    return prune or not narrow_cost + NARROW_MARGIN < wide_cost


async def first_reads(client, *, read_ahead_for: int | None = None, prune: bool = False) -> FirstReads:
    """The reads that need no workspace, so they can run while it loads: the organization first
    (checked against lagosync.yaml's pin before anything else is read), then the catalogue and the two
    size probes at once. ``read_ahead_for``: at least as many orgs as the workspace declares (with
    the users they replace); when that many make the read list every page (``_wide``), the further
    pages of each list (up to READ_AHEAD_PAGES) are then read too, each in a task of its own
    (``FirstReads.customer_pages``, ``subscription_pages``), still coming in when this returns. The read
    uses them if the loaded workspace lists them as well; else they were read for nothing: no more
    pages than fetching ``read_ahead_for`` orgs one by one would have cost (``_wide``)."""
    organization = await check_organization(client)
    (taxes, metrics, add_ons, plans, coupons, customers_first, subs_first) = await asyncio.gather(
        client.list_all("/taxes", "taxes"),
        client.list_all("/billable_metrics", "billable_metrics"),
        client.list_all("/add_ons", "add_ons"),
        client.list_all("/plans", "plans"),
        client.list_all("/coupons", "coupons"),
        # size probes: page 1 of each, reused when every page is listed
        client.first_page("/customers", "customers"),
        client.first_page("/subscriptions", "subscriptions", _statuses(SUB_STATUSES)),
    )
    reads = FirstReads(organization, (taxes, metrics, add_ons, plans, coupons), customers_first, subs_first)
    if read_ahead_for is not None and _wide(prune, read_ahead_for, 0, customers_first[2], subs_first[2]):
        kept = _Sparse()  # without the workspace's strings, which only save memory
        reads.customer_pages = client.read_pages("/customers", "customers", None, _ahead(customers_first),
                                                 keep=kept)
        reads.subscription_pages = client.read_pages("/subscriptions", "subscriptions", _statuses(SUB_STATUSES),
                                                     _ahead(subs_first), keep=kept)
    return reads


def _ahead(first: tuple[list[dict], dict, int]) -> range:
    """The pages after page 1 that ``first_reads`` reads ahead: those meta.total_pages announces, when
    it agrees with meta.total_count (else none: ``list_all`` words what is wrong with the list)."""
    total, count = first[1].get("total_pages"), first[2]
    if not isinstance(total, int) or isinstance(total, bool) or total != _pages(count):
        return range(0)
    return range(2, min(total, READ_AHEAD_PAGES + 1) + 1)


async def _read_live(client, workspace, *, prune: bool, share: State,
                     first: Awaitable[FirstReads] | None) -> LiveState:
    desired: Mapping[str, Mapping[str, Mapping[str, Any]]] = workspace.desired or {}
    declared_customers: Mapping[str, Mapping[str, Any]] = desired.get("customer") or {}
    declared_coupons = sorted((desired.get("coupon") or {}).keys())
    migrate_from = migrate_from_map(declared_customers)

    # 0. and 1.: the organization, the catalogue and the size probes (read ahead while the workspace
    # loaded, or now)
    reads = await (first if first is not None else first_reads(client))
    organization = reads.organization
    taxes, metrics, add_ons, plans, coupons = reads.catalogue
    customers_first, subs_first = reads.customers_first, reads.subscriptions_first
    customer_total, sub_total = customers_first[2], subs_first[2]
    for kind, items in (("tax", taxes), ("billable_metric", metrics), ("add_on", add_ons), ("plan", plans),
                        ("coupon", coupons)):
        _require_keys(kind, items)
    for plan in plans:
        from_api("plan", plan)  # a field of an unexpected shape is one clear error (ApiShapeError) up front
    index = _PlanIndex(plans)

    # 2. customers and subscriptions: the cheaper of listing and fetching
    fact_plans = sorted(set(declared_plan_codes(desired)) | _marked_plans(index))
    narrow = not _wide(prune, len(set(declared_customers) | set(migrate_from)), len(fact_plans),
                       customer_total, sub_total)
    probes: dict[str, tuple[int, int]] = {}
    customer_pages: _CustomerPages | None = None
    # read meanwhile: the plans' fixed charges (they need only the plan list) and the applied coupons
    fixed_charges = asyncio.ensure_future(_fixed_charge_bodies(client, desired, index))
    # lago-behaviour#coupon-locked-fields: a coupon is locked once applied (any status), so only declared coupons matter
    applied_coupons = asyncio.ensure_future(
        client.list_all("/applied_coupons", "applied_coupons", [("coupon_code[]", c) for c in declared_coupons])
        if declared_coupons else _empty())
    try:
        if narrow:
            await reads.drop()
            # the users an org replaces are read with the orgs (issue 6)
            to_read = {**{u: {} for u in migrate_from}, **declared_customers}
            customers, subscriptions, probes = await _read_narrow(client, to_read, index, fact_plans)
        else:
            reads.used()
            # subscriptions are made canonical after the read: their plan's declared code depends on
            # the versions found unused (skip_unused_versions), which needs every row
            strings: dict[str, str] = {}
            subscription_pages = _Sparse(desired.get("subscription") or {}, strings)
            customer_pages = _CustomerPages(declared_customers, strings, share)
            customers, subscriptions = await asyncio.gather(
                client.list_all("/customers", "customers", keep=customer_pages, first=customers_first,
                                read=reads.customer_pages, adopt=customer_pages.adopt) if customer_total else _empty(),
                client.list_all("/subscriptions", "subscriptions", _statuses(SUB_STATUSES),
                                keep=subscription_pages, first=subs_first, read=reads.subscription_pages)
                if sub_total else _empty(),
            )
        fixed_bodies = await fixed_charges
        applied = await applied_coupons
    finally:
        await reads.drop()
        for pending in (fixed_charges, applied_coupons):
            pending.cancel()
        # collected even when done: a read that failed while another one raised first is not reported twice
        await asyncio.gather(fixed_charges, applied_coupons, return_exceptions=True)
    _require_keys("customer", customers)
    _require_keys("subscription", subscriptions)

    unused = index.skip_unused_versions(
        subscriptions, {index.current[p].live_code: ever for p, (_, ever) in probes.items() if p in index.current})
    state: State = {kind: {} for kind in KINDS}
    raw: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    facts = LiveFacts(managed={kind: set() for kind in KINDS},
                      organization=(organization or {}).get("name"), premium=bool(client.premium))

    for kind, items in (("tax", taxes), ("billable_metric", metrics), ("add_on", add_ons), ("coupon", coupons)):
        for obj in items:
            state[kind][obj["code"]] = from_api(kind, obj)
            raw[kind][obj["code"]] = obj
    for coupon in state["coupon"].values():
        # a coupon targets plan versions by their live codes: the current version reads as its declared
        # code, an older one as <code>__v<N> (it does not apply to the current version's subscribers)
        targets = coupon["applies_to"]
        targets["plan_codes"] = sorted({index.declared_code(c) or c for c in targets["plan_codes"]})

    _plans_into(index, plans, state, raw, facts)
    facts.unused_versions = unused
    _fixed_charges_into(fixed_bodies, state, raw)
    _customers_into(customers, declared_customers, state, raw, facts,
                    customer_pages.canonical if customer_pages is not None else {}, share)
    if customer_pages is not None:
        customer_pages.canonical.clear()  # used: the state holds what is kept of them
    _subscriptions_into(subscriptions, index, state, raw, facts, count_facts=not narrow,
                        declared=desired.get("subscription") or {}, share=share)
    if narrow:
        for logical, (active, ever) in probes.items():
            if active:
                facts.plan_active_subscriptions[logical] = active
            if ever:
                facts.plan_has_had_subscriptions.add(logical)

    facts.coupons_applied = {a["coupon_code"] for a in applied if a.get("coupon_code")}
    raw["applied_coupon"] = {a["lago_id"]: a for a in applied if a.get("lago_id")}
    _applied_coupons_into(applied, desired, state, facts)
    # subscriptions of managed customers are managed too (ARCHITECTURE "Plan versions and markers")
    for key, sub in state["subscription"].items():
        if sub["external_customer_id"] in facts.managed["customer"]:
            facts.managed["subscription"].add(key)
    settings = getattr(workspace, "settings", None)
    _user_subscriptions_into(migrate_from, getattr(settings, "user_id_prefix", None), state, raw, facts,
                             org_prefix=getattr(settings, "org_id_prefix", None), declared=declared_customers)
    return LiveState(state=state, raw=raw, facts=facts)


class _Sparse:
    """What is kept of each listed customer and subscription (one per org: most of what a large read
    holds): the object without its null fields and without the fields no part of lagosync reads
    (``NOT_READ``), its short strings shared. Every reader of raw objects asks ``obj.get(field)``,
    which answers None for a null field and for a missing one alike."""

    SHORT = 32  # timestamps, enums, currencies, plan codes repeat across objects; ids do not
    # Lago's fields of a customer or subscription that lagosync never reads (tests/live/test_live.py
    # checks that no module outside the emulator names them)
    NOT_READ = frozenset({
        "sequential_id", "slug", "updated_at", "applicable_timezone", "account_type", "billing_entity_code",
        "skip_invoice_custom_sections", "integration_customers", "lago_customer_id", "activated_at",
        "subscription_at", "trial_ended_at", "canceled_at", "cancellation_reason", "payment_method",
        "activation_rules", "progressive_billing_disabled", "consolidate_invoice", "plan_amount_cents",
        "plan_amount_currency", "previous_plan_code",
    })

    def __init__(self, declared: Mapping[str, Mapping[str, Any]] | None = None,
                 strings: dict[str, str] | None = None) -> None:
        """``declared``: the workspace's objects of this list by external_id; a kept object's text
        equal to its declared one's is held once (an org's name, email, plan code: the same text read
        from the YAML and from Lago). ``strings``: the shared short strings (one set for both lists)."""
        self._strings: dict[str, str] = strings if strings is not None else {}
        self.declared = declared or {}
        # the kept objects' shapes: the listed objects, and the entries of each nested field (metadata...)
        self._shapes = Shapes("_Kept")

    def __call__(self, obj: dict) -> dict:
        return self.sparse(obj, self.declared.get(obj.get("external_id")))  # type: ignore[arg-type]

    def sparse(self, obj: dict, declared: Mapping[str, Any] | None = None, shape: str = "") -> dict:
        """``obj`` kept sparse; a text equal to the ``declared`` object's (the workspace's) is its str.
        ``shape``: the field the object is found in ("" for a listed object); the objects of one shape
        share their key table (``runtime.Shapes``)."""
        strings, short, not_read, sparse = self._strings, self.SHORT, self.NOT_READ, self.sparse
        out = self._shapes.new(shape)
        for key, value in obj.items():
            if value is None or key in not_read:
                continue
            kind = type(value)
            if kind is str:
                mine = declared.get(key) if declared is not None else None
                if mine == value:
                    value = mine
                elif len(value) <= short:
                    value = strings.setdefault(value, value)
            elif kind is dict:
                value = sparse(value, None, key)
            elif kind is list:
                entries = declared.get(key) if declared is not None else None
                if type(entries) is list:  # an org's metadata: its entries by key
                    by_key = {e.get("key"): e for e in entries if type(e) is dict}
                    value = [sparse(item, by_key.get(item.get("key")), key) if type(item) is dict else item
                             for item in value]
                else:
                    value = [sparse(item, None, key) if type(item) is dict else item for item in value]
            out[key] = value
        return out


class _CustomerPages(_Sparse):
    """Listed customers kept sparse and also made canonical as each page arrives, so that work runs
    while the next pages are on their way rather than after the last one (``_customers_into`` uses it)."""

    def __init__(self, declared: Mapping[str, Mapping[str, Any]], strings: dict[str, str], share: State) -> None:
        super().__init__(declared, strings)
        self.share = share
        # id() of a kept customer -> (that customer, its canonical form): holding the customer keeps
        # the id its own, even for a duplicate the list drops
        self.canonical: dict[int, tuple[dict, dict]] = {}

    def __call__(self, obj: dict) -> dict:
        return self.adopt(super().__call__(obj))

    def adopt(self, kept: dict) -> dict:
        """``kept`` (a customer kept sparse already, as ``first_reads`` keeps those it reads ahead)
        made canonical too."""
        ext = kept.get("external_id")
        if isinstance(ext, str) and ext:  # else _require_keys words it
            canonical = from_api("customer", kept, declared=_template(self.declared, ext))
            self.canonical[id(kept)] = (kept, _shared(canonical, "customer", ext, self.share))
        return kept


def _applied_coupons_into(applied, desired, state: State, facts: LiveFacts) -> None:
    """Active applied coupons (of declared coupons) as ``applied_coupon`` "<org>/<coupon_code>".

    An org that declares ``coupons:`` in orgs.yaml manages them: its active applied coupons are in
    ``facts.managed["applied_coupon"]`` (one the list drops is terminated); an org without the key,
    or an undeclared org, leaves them unmanaged."""
    declared_orgs = desired.get("customer") or {}
    declared_items = desired.get("applied_coupon") or {}
    # oldest first, so with two active rows of one coupon the newest is the state (lago-behaviour#list-order)
    for a in sorted(applied, key=lambda a: (str(a.get("created_at") or ""), str(a.get("lago_id") or ""))):
        org, code = a.get("external_customer_id"), a.get("coupon_code")
        if not org or not code:
            continue
        key = applied_coupon_key(org, code)
        facts.applied_coupons_ever.add(key)
        if a.get("status", "active") != "active":
            continue
        template = declared_items.get(key)
        state["applied_coupon"][key] = from_api("applied_coupon", a, declared=template)
        org_obj = declared_orgs.get(org)
        if isinstance(org_obj, Mapping) and org_obj.get("ensure") != "absent" and "coupons" in org_obj:
            facts.managed.setdefault("applied_coupon", set()).add(key)


def migrate_from_map(declared_customers: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """user id -> org external_id from the orgs' ``migrate_from`` lists (issue 6)."""
    out: dict[str, str] = {}
    for org, obj in sorted(declared_customers.items()):
        if not isinstance(obj, Mapping) or obj.get("ensure") == "absent":
            continue
        for user in obj.get("migrate_from") or []:
            out.setdefault(str(user), org)
    return out


def _user_subscriptions_into(migrate_from: Mapping[str, str], user_prefix: str | None, state: State, raw,
                             facts: LiveFacts, *, org_prefix: str | None = None, declared=()) -> None:
    """Active subscriptions of the user-based customers (named by migrate_from or by the prefixes of
    lagosync.yaml: ``lagosync.migration.is_user_customer``)."""
    facts.migrate_from = dict(migrate_from)
    users = {ext for ext in raw["customer"]
             if is_user_customer(ext, migrate_from=migrate_from, user_id_prefix=user_prefix,
                                 org_id_prefix=org_prefix, declared=declared)}
    facts.user_subscriptions = {u: [] for u in sorted(users)}
    for key, sub in sorted(state["subscription"].items()):
        owner = sub.get("external_customer_id")
        if owner in facts.user_subscriptions and (raw["subscription"].get(key) or {}).get("status", "active") == "active":
            facts.user_subscriptions[owner].append(dict(sub))


def declared_plan_codes(desired: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted((desired.get("plan") or {}).keys())


def _marked_plans(index: _PlanIndex) -> set[str]:
    return {
        logical for logical, version in index.current.items()
        if (version.raw.get("metadata") or {}).get(MARKER_KEY) == MARKER_VALUE
    }


async def _read_narrow(client, declared_customers, index: _PlanIndex, fact_plans: list[str]):
    """One GET per declared org, its subscriptions by customer, and two count probes per plan."""
    ext_ids = sorted(declared_customers)
    live_codes = [(p, index.current[p].live_code) for p in fact_plans if p in index.current]
    results = await asyncio.gather(
        *(_read_customer(client, ext) for ext in ext_ids),
        *(client.list_all("/subscriptions", "subscriptions",
                          [*_statuses(SUB_STATUSES), ("external_customer_id", ext)]) for ext in ext_ids),
        *(_count(client, "/subscriptions", [*_statuses(["active"]), ("plan_code", code)])
          for _, code in live_codes),
        *(_count(client, "/subscriptions", [*_statuses(SUB_STATUSES), ("plan_code", code)])
          for _, code in live_codes),
    )
    n, m = len(ext_ids), len(live_codes)
    customers = [c for c in results[:n] if c]
    subscriptions = [s for subs in results[n:2 * n] for s in subs]
    actives = results[2 * n:2 * n + m]
    evers = results[2 * n + m:]
    probes = {logical: (actives[i], evers[i]) for i, (logical, _) in enumerate(live_codes)}
    return customers, subscriptions, probes


def _plans_into(index: _PlanIndex, plans, state: State, raw, facts: LiveFacts) -> None:
    for logical, version in sorted(index.current.items()):
        canonical = from_api("plan", version.raw)
        canonical["code"] = logical
        state["plan"][logical] = canonical
        raw["plan"][logical] = version.raw
        facts.plan_versions[logical] = version.live_code
        if (version.raw.get("metadata") or {}).get(MARKER_KEY) == MARKER_VALUE:
            facts.managed["plan"].add(logical)
    for live_code, version in sorted(index.by_live_code.items()):
        if not version.raw.get("pending_deletion"):
            facts.versions.setdefault(version.logical, {})[version.version] = live_code
        for key, value in sorted((version.raw.get("metadata") or {}).items()):
            # a migration's record (lagosync.planner.migrations): the day it was first applied
            if key.startswith(MIGRATION_RECORD_PREFIX) and value:
                code = key[len(MIGRATION_RECORD_PREFIX):]
                first = min(str(value), facts.migration_first_seen.get(code, str(value)))
                facts.migration_first_seen[code] = first
                state["migration"][code] = {"code": code, "plan_code": version.logical}
        if not index.is_current(live_code):
            facts.superseded_codes[index.declared_code(live_code) or live_code] = live_code
            try:
                yearly = yearly_amount_cents(version.raw)
            except (ModelError, TypeError, ValueError):
                continue  # an unreadable old version: the move then has no upgrade/downgrade reason
            facts.superseded_yearly_amounts[index.declared_code(live_code) or live_code] = yearly
    for plan in plans:
        # lago-behaviour#metric-locked-fields: Lago locks a metric used by any charge of a plan that is not deleted
        # (plans pending deletion included: they are not deleted yet)
        for charge in plan.get("charges") if isinstance(plan.get("charges"), list) else []:
            if not isinstance(charge, Mapping):
                continue  # from_api has refused a current plan of this shape; an old version is skipped
            if charge.get("billable_metric_code"):
                facts.metrics_in_use.add(charge["billable_metric_code"])


async def _fixed_charge_bodies(client, desired, index: _PlanIndex) -> list[tuple[str, dict | None]]:
    """lago-behaviour#plan-list-no-fixed-charges: the plan LIST has no fixed_charges. Only when the workspace declares fixed charges
    (a plan with a ``fixed_charges`` key), one GET /plans/{code} per such plan present in Lago
    (``_fixed_charges_into`` then fills them in); a plan without the key leaves its fixed charges
    unmanaged, so nothing is read for it and the canonical live plan carries ``fixed_charges: {}``
    like the YAML."""
    plans = desired.get("plan") or {}
    logicals = [c for c in declared_plan_codes(desired)
                if c in index.current and isinstance(plans.get(c), Mapping) and "fixed_charges" in plans[c]]
    bodies = await asyncio.gather(*(
        _get_or_none(client, f"/plans/{_seg(index.current[c].live_code)}", "plan") for c in logicals))
    return list(zip(logicals, bodies, strict=True))


def _fixed_charges_into(bodies: list[tuple[str, dict | None]], state: State, raw) -> None:
    """The fixed charges read by ``_fixed_charge_bodies``, canonical and raw. A raw plan holding a
    ``fixed_charges`` key tells the applier they were read (it only then sends that key)."""
    for logical, body in bodies:
        if body is None:
            continue
        items = body.get("fixed_charges") or []
        canon = (canonical_fixed_charge(item, api=True, what=f"plan {logical!r}: fixed charge") for item in items)
        state["plan"][logical]["fixed_charges"] = {fc["code"]: fc for fc in canon}
        raw["plan"][logical] = {**raw["plan"][logical], "fixed_charges": items}


def _template(declared: Mapping[str, Mapping[str, Any]], ext: str) -> Mapping[str, Any] | None:
    """The declared object that selects the fields of live customer or subscription ``ext``
    (from_api's ``declared``); none for one to delete or terminate: it is shown whole."""
    template = declared.get(ext)
    if template is not None and template.get("ensure") == "absent":
        return None
    return template


def _customers_into(customers, declared, state: State, raw, facts: LiveFacts,
                    canonical: Mapping[int, tuple[dict, dict]], share: State) -> None:
    """``canonical``: what ``_CustomerPages`` made of each listed customer already (by id())."""
    for obj in customers:
        ext = obj.get("external_id")
        if not ext:
            continue
        kept, done = canonical.get(id(obj), (None, None))
        state["customer"][ext] = done if kept is obj and done is not None else _shared(from_api(
            "customer", obj, declared=_template(declared, ext)), "customer", ext, share)
        raw["customer"][ext] = obj
        for entry in obj.get("metadata") if isinstance(obj.get("metadata"), list) else []:
            if not isinstance(entry, Mapping):
                continue
            if entry.get("key") == MARKER_KEY and entry.get("value") == MARKER_VALUE:
                facts.managed["customer"].add(ext)


def _subscription_canonical(row: dict, ext: str, declared: Mapping[str, Mapping[str, Any]], index: _PlanIndex,
                            share: State) -> dict:
    """The canonical form of a live subscription row (its plan as the declared code), shared with the
    desired one when equal."""
    canonical = from_api("subscription", row, declared=_template(declared, ext))
    canonical["plan_code"] = index.declared_code(row.get("plan_code"))
    return _shared(canonical, "subscription", ext, share)


def _subscriptions_into(subscriptions, index: _PlanIndex, state: State, raw, facts: LiveFacts,
                        *, count_facts: bool, declared: Mapping[str, Mapping[str, Any]],
                        share: State) -> None:
    active: dict[str, dict] = {}  # external_id -> its active row
    pending: dict[str, dict] = {}  # external_id -> its pending row
    for sub in subscriptions:
        status = sub.get("status") or "active"
        code = sub.get("plan_code")
        if count_facts and code is not None and index.is_current(code):
            logical = index.by_live_code[code].logical
            facts.plan_has_had_subscriptions.add(logical)  # any status locks the plan (lago-behaviour#plan-locked-fields)
            if status == "active":
                facts.plan_active_subscriptions[logical] = facts.plan_active_subscriptions.get(logical, 0) + 1
        if status == "active":
            active[sub["external_id"]] = sub
        elif status == "pending":
            pending[sub["external_id"]] = sub
    for ext in sorted(active.keys() | pending.keys()):
        # lago-behaviour#subscription-shared-external-id: a downgraded subscription and its pending successor share the external_id;
        # the active row is the state, the pending one is the scheduled downgrade
        row = active.get(ext) or pending[ext]
        state["subscription"][ext] = _subscription_canonical(row, ext, declared, index, share)
        raw["subscription"][ext] = row
        if ext in active:
            next_code = row.get("next_plan_code") or (pending.get(ext) or {}).get("plan_code")
            declared_next = index.declared_code(next_code) if next_code else None
            if declared_next:
                facts.pending_downgrades[ext] = declared_next
