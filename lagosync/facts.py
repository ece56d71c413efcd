"""What the live reader hands the planner: ``LiveState`` (canonical and raw objects) and ``LiveFacts``.

Plain dataclasses, no I/O: ``lagosync.live`` fills them from Lago, tests build them by hand, and
``lagosync.planner.make_plan`` reads them (typed: a renamed fact is a type error, never silently empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import State as State


@dataclass
class LiveFacts:
    # plan code -> active subscriptions
    plan_active_subscriptions: dict[str, int] = field(default_factory=dict)
    # plans that have had a subscription, any status (lago-behaviour#plan-locked-fields)
    plan_has_had_subscriptions: set[str] = field(default_factory=set)
    # metrics used by a charge of a non-deleted plan (lago-behaviour#metric-locked-fields)
    metrics_in_use: set[str] = field(default_factory=set)
    # coupons applied at least once, any status (lago-behaviour#coupon-locked-fields)
    coupons_applied: set[str] = field(default_factory=set)
    # kind -> keys carrying lagosync's marker (plans, customers; subscriptions of marked customers;
    # applied coupons of orgs that declare `coupons:`)
    managed: dict[str, set[str]] = field(default_factory=dict)
    # subscription external_id -> the plan code of its scheduled downgrade (lago-behaviour#pending-downgrade)
    pending_downgrades: dict[str, str] = field(default_factory=dict)
    # declared plan code -> live code of its current version (X -> X for version 1)
    plan_versions: dict[str, str] = field(default_factory=dict)
    # user id -> org external_id, from orgs.yaml `migrate_from`
    migrate_from: dict[str, str] = field(default_factory=dict)
    # customer external_id -> its active subscriptions (canonical), for every existing customer named
    # by `migrate_from` or matching `user_id_prefix` (read wide)
    user_subscriptions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # superseded plan version, as subscriptions read it (``X__v<N>``) -> its yearly base amount
    # (lago-behaviour#plan-change-upgrade-downgrade), so moving off an old version is an upgrade or a downgrade
    superseded_yearly_amounts: dict[str, int] = field(default_factory=dict)
    # declared plan code -> version number -> live code, for every version of the plan in Lago
    versions: dict[str, dict[int, str]] = field(default_factory=dict)
    # migration code -> the day it was first applied (its record in the plan's metadata, lagosync_migration_<code>)
    migration_first_seen: dict[str, str] = field(default_factory=dict)
    # declared plan code -> live code of a version lagosync made that no subscription ever used (left by
    # a failed apply): the next new version reuses it (lago-behaviour#plan-version-reuse)
    unused_versions: dict[str, str] = field(default_factory=dict)
    # "<org>/<coupon_code>" of every applied coupon read, any status (lago-behaviour#coupon-reusable)
    applied_coupons_ever: set[str] = field(default_factory=set)
    # a superseded plan version as subscriptions read it (``X__v<N>``, ``X__v1`` for the original) -> its
    # code in Lago (``X`` for version 1), so the plan names the plans that exist
    superseded_codes: dict[str, str] = field(default_factory=dict)
    # the name of the organization the API key belongs to (None when Lago does not say)
    organization: str | None = None
    # the Lago server has a premium license (lagosync.yaml `premium:`; lago-behaviour#premium-not-reported):
    # without one it ignores or refuses the premium-only inputs (lago-behaviour#premium-ignored-fields)
    premium: bool = False


@dataclass
class LiveState:
    state: State
    raw: dict[str, dict[str, dict[str, Any]]]
    facts: LiveFacts
