"""The registry of object kinds: the one place that says what a kind is called and what it refers to.

Every module that names, orders, labels, parses or links kinds imports from here: the workspace
loader and its checks, the canonical model, the live reader, the planner, the renderers, the
applier, drift (ignore rules) and import (``--select``). docs/ARCHITECTURE.md "Kinds" lists it.

A kind has:

* ``name``: the identifier used in plan JSON, ``depends_on`` ids (``kind:key``) and code;
* ``label``: the one word people read, in every output and message (plan, apply, drift, errors);
* ``key_field``: the identity field (``code`` or ``external_id``; applied coupons are keyed by
  ``<org external_id>/<coupon_code>``, see ``applied_coupon_key``);
* ``section``: where the workspace declares it (``plans/*.yaml`` section, or ``orgs.yaml``);
* ``endpoint`` and ``root``: its Lago collection path and JSON envelope key;
* ``aliases``: the other spellings accepted where a user names a kind (``--select``, ignore rules);
* ``references``: the ids of the objects a canonical object of this kind refers to by code.

``KINDS`` is in dependency order: an object only refers to objects of kinds before its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Refs = Callable[[Mapping[str, Any]], set[str]]


def _ids(kind: str, codes: Iterable[Any] | None) -> set[str]:
    return {f"{kind}:{code}" for code in (codes or ()) if code}


def _taxes(obj: Mapping[str, Any]) -> set[str]:
    return _ids("tax", obj.get("tax_codes"))


def _plan_refs(obj: Mapping[str, Any]) -> set[str]:
    refs = _taxes(obj)
    for charge in (obj.get("charges") or {}).values():
        refs |= _ids("billable_metric", [charge.get("billable_metric_code")]) | _taxes(charge)
    for fixed in (obj.get("fixed_charges") or {}).values():  # lago-behaviour#fixed-charges: an add-on priced on the plan
        refs |= _ids("add_on", [fixed.get("add_on_code")]) | _taxes(fixed)
    return refs


def _coupon_refs(obj: Mapping[str, Any]) -> set[str]:
    applies = obj.get("applies_to") or {}
    return _ids("plan", applies.get("plan_codes")) | _ids("billable_metric", applies.get("billable_metric_codes"))


def _subscription_refs(obj: Mapping[str, Any]) -> set[str]:
    return _ids("plan", [obj.get("plan_code")]) | _ids("customer", [obj.get("external_customer_id")])


def _applied_coupon_refs(obj: Mapping[str, Any]) -> set[str]:
    return _ids("coupon", [obj.get("coupon_code")]) | _ids("customer", [obj.get("external_customer_id")])


def _migration_refs(obj: Mapping[str, Any]) -> set[str]:
    return _ids("plan", [obj.get("plan_code")])


def _no_refs(obj: Mapping[str, Any]) -> set[str]:
    return set()


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    key_field: str
    section: str
    endpoint: str | None
    root: str | None
    aliases: tuple[str, ...]
    references: Refs
    marker: bool = False  # carries lagosync's managed_by marker (only these are ever pruned)


KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in (
    Kind("tax", "tax", "code", "taxes", "/taxes", "tax", ("taxes",), _no_refs),
    Kind("billable_metric", "metric", "code", "billable_metrics", "/billable_metrics", "billable_metric",
         ("billable_metric", "billable_metrics", "metrics"), _no_refs),
    Kind("add_on", "add-on", "code", "add_ons", "/add_ons", "add_on", ("add_on", "add_ons", "add-ons"), _taxes),
    Kind("plan", "plan", "code", "plans", "/plans", "plan", ("plans",), _plan_refs, marker=True),
    Kind("coupon", "coupon", "code", "coupons", "/coupons", "coupon", ("coupons",), _coupon_refs),
    Kind("customer", "customer", "external_id", "orgs", "/customers", "customer",
         ("customers", "org", "orgs"), _taxes, marker=True),
    Kind("subscription", "subscription", "external_id", "orgs[].subscriptions", "/subscriptions", "subscription",
         ("subscriptions",), _subscription_refs),
    # an org's coupon (orgs.yaml `coupons`): Lago's applied coupon, created with POST /applied_coupons and
    # terminated under its customer, so it has no collection of its own to PUT or DELETE
    Kind("applied_coupon", "applied coupon", "external_customer_id/coupon_code", "orgs[].coupons", None, None,
         ("applied_coupons", "applied-coupon", "applied coupon"), _applied_coupon_refs),
    # a price migration (plans/*.yaml `migrations`): lagosync's own object, recorded in Lago as metadata of
    # the plan it moves subscriptions of (the day it was first applied: its notice window counts from it)
    Kind("migration", "migration", "code", "migrations", None, None, ("migrations",), _migration_refs),
)}

KINDS: tuple[str, ...] = tuple(KINDS_BY_NAME)
"""Kind names in dependency order."""

CATALOG_KINDS: tuple[str, ...] = ("tax", "billable_metric", "add_on", "plan", "coupon", "migration")
"""The kinds declared in ``plans/*.yaml`` (the others live in ``orgs.yaml``)."""

LAGO_KINDS: tuple[str, ...] = tuple(k for k in KINDS_BY_NAME if k != "migration")
"""The kinds that are Lago objects (a migration is lagosync's, recorded in plan metadata)."""

MIGRATION_RECORD_PREFIX = "lagosync_migration_"
"""Plan metadata key prefix of a migration's record: ``lagosync_migration_<code>: <YYYY-MM-DD first applied>``."""

RANK: dict[str, int] = {name: i for i, name in enumerate(KINDS)}


def kind(name: str) -> Kind:
    return KINDS_BY_NAME[name]


def label(name: str) -> str:
    """The word for a kind in every output: ``metric``, ``add-on``, ``applied coupon``..."""
    found = KINDS_BY_NAME.get(name)
    return found.label if found else name


def describe(name: str, key: str) -> str:
    """``plan 'pro'``, ``metric 'api_calls'``: how every output names one object."""
    return f"{label(name)} '{key}'"


def parse_kind(text: str) -> str | None:
    """A kind name from what a user wrote (its name, label or an alias; case and ``-``/``_`` free)."""
    wanted = str(text).strip().lower()
    for k in KINDS_BY_NAME.values():
        if wanted in (k.name, k.label, *k.aliases):
            return k.name
    return None


def kind_choices() -> str:
    """The kinds as a user may write them, for error messages."""
    return ", ".join(KINDS)


def references(kind_name: str, obj: Mapping[str, Any] | None) -> set[str]:
    """Ids (``kind:key``) of the objects a canonical object refers to by code."""
    if not obj:
        return set()
    return KINDS_BY_NAME[kind_name].references(obj)


def key_of(kind_name: str, obj: Mapping[str, Any]) -> str:
    """The identity key of an object of ``kind_name``."""
    if kind_name == "applied_coupon":
        return applied_coupon_key(obj["external_customer_id"], obj["coupon_code"])
    return str(obj[KINDS_BY_NAME[kind_name].key_field])


def applied_coupon_key(external_customer_id: str, coupon_code: str) -> str:
    """``<org external_id>/<coupon_code>``: an org holds a coupon at most once (active)."""
    return f"{external_customer_id}/{coupon_code}"


# --------------------------------------------------------------------------- codes Lago derives

def charge_code(charge: Mapping[str, Any]) -> Any:
    """A charge's code; it defaults to its metric's code (lago-behaviour#charge-code-default)."""
    return charge.get("code") or charge.get("billable_metric_code")


def fixed_charge_code(fixed: Mapping[str, Any]) -> Any:
    """A fixed charge's code; it defaults to its add-on's code (lago-behaviour#fixed-charges)."""
    return fixed.get("code") or fixed.get("add_on_code")


# --------------------------------------------------------------------------- plan versions

VERSION_SUFFIX = re.compile(r"^(?P<base>.+)__v(?P<n>[0-9]+)$")
"""A plan version's live code: ``<declared code>__v<N>`` (ARCHITECTURE "Plan versions")."""


PRICE_CHANGES: tuple[str, ...] = ("in_place", "new_version")
"""How a price change reaches a plan's existing subscribers (lagosync.yaml and a plan's ``price_change``):
``in_place`` (Lago's behaviour: all at once) or ``new_version`` (a new version; existing ones stay)."""


def version_code(code: str, version: int) -> str:
    """``<code>__v<N>``: the live code lagosync gives version N >= 2 of the declared plan ``code``, and
    the name a subscription left on a superseded version reads as (``code__v1`` for the original)."""
    return f"{code}__v{version}"


def split_version(live_code: str) -> tuple[str, int]:
    """``("pro", 3)`` for ``pro__v3``; ``(code, 1)`` for a code without the suffix."""
    match = VERSION_SUFFIX.match(live_code)
    if match is None:
        return live_code, 1
    return match.group("base"), int(match.group("n"))


def looks_versioned(code: str) -> bool:
    """True when a code ends like a lagosync plan version (so a workspace may not declare it)."""
    return re.search(r"__v[0-9]+$", code) is not None
