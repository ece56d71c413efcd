"""The (desired, live) case table: every action and every reason code of the planner."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lagosync.planner import ACTIONS, REASONS, make_plan


@dataclass
class Case:
    id: str
    build: Callable[[Any], tuple[dict, Any]]  # builders -> (desired, live)
    expect: list[tuple[str, str, tuple[str, ...]]]  # (action, "kind:key", reasons) in plan order
    details: dict[str, dict] = field(default_factory=dict)  # "kind:key" -> expected detail items
    paths: dict[str, list[str]] = field(default_factory=dict)  # "kind:key" -> change paths
    unmanaged: list[tuple[str, str]] = field(default_factory=list)
    prune: bool = False
    live_mutate: Callable[[Any, dict], None] | None = None  # applied to the live state after build
    directives: Any = None  # planner.versions.Directives (price-change policies, pins, migrations)


def same_both(b):
    s = b.full_state()
    return s, b.live(b.full_state())


def with_desired(mutate, **facts):
    """desired = full state changed by ``mutate(b, desired)``, live = full state with facts."""

    def build(b):
        desired = b.full_state()
        mutate(b, desired)
        return desired, b.live(b.full_state(), **facts)

    return build


def with_live(mutate, **facts):
    def build(b):
        live_state = b.full_state()
        mutate(b, live_state)
        return b.full_state(), b.live(live_state, **facts)

    return build


def set_(kind, key, **changes):
    return lambda b, s: s[kind].__setitem__(key, b.canon(kind, key, **changes))


def drop(kind, key):
    return lambda b, s: s[kind].pop(key)


def absent(kind, key):
    from lagosync.kinds import kind as _kind

    return lambda b, s: s[kind].__setitem__(key, {"ensure": "absent", _kind(kind).key_field: key})


def extra(kind, key, raw):
    from lagosync import model

    return lambda b, s: s[kind].__setitem__(key, model.from_yaml(kind, raw))


PRO_CHARGES = copy.deepcopy([
    {"billable_metric_code": "api_calls", "charge_model": "standard", "properties": {"amount": "0.001"}},
    {"billable_metric_code": "storage", "charge_model": "standard", "properties": {"amount": "0.5"}},
])


def pro_charges(i, **changes):
    charges = copy.deepcopy(PRO_CHARGES)
    charges[i].update(changes)
    return charges


def _applied_coupon(**overrides):
    from lagosync import model

    return model.from_yaml("applied_coupon", {"external_customer_id": "acme", "coupon_code": "welcome", **overrides})


def applied_coupon_removed(b):
    """An org that declares `coupons:` dropped one (live.py marks it managed): terminated."""
    live_state = b.full_state()
    live_state.setdefault("applied_coupon", {})["acme/welcome"] = _applied_coupon()
    return b.full_state(), b.live(live_state, managed={"applied_coupon": {"acme/welcome"}})


def applied_coupon_not_reusable(b):
    """lago-behaviour#coupon-reusable: a non-reusable coupon applied (then terminated) once cannot be applied again."""
    desired = b.full_state()
    desired.setdefault("applied_coupon", {})["acme/welcome"] = _applied_coupon()
    live_state = b.full_state()
    live_state["coupon"]["welcome"] = {**live_state["coupon"]["welcome"], "reusable": False}
    desired["coupon"]["welcome"] = dict(live_state["coupon"]["welcome"])
    live = b.live(live_state)
    live.facts.applied_coupons_ever = {"acme/welcome"}
    return desired, live


def new_org_with_timezone(b):
    """lago-behaviour#premium-ignored-fields: a customer's timezone needs a premium license."""
    desired, live_state = b.full_state(), b.full_state()
    desired["customer"]["acme"] = b.canon("customer", "acme", timezone="Europe/Paris")
    live_state["customer"].pop("acme")
    return desired, b.live(live_state)


def _versions(**kw):
    from lagosync.planner.versions import Directives, Migration

    migrations = tuple(Migration(**m) for m in kw.pop("migrations", ()))
    return Directives(migrations=migrations, **kw)


def on_old_version(b, s):
    """Lago has versions 1 and 2 of 'pro'; sub_acme is still on version 1 (grandfathered)."""
    s["subscription"]["sub_acme"] = b.canon("subscription", "sub_acme", plan_code="pro__v1")


VERSIONED = {"versions": {"pro": {1: "pro", 2: "pro__v2"}}, "plan_versions": {"pro": "pro__v2"},
             "superseded_yearly_amounts": {"pro__v1": 58800}, "superseded_codes": {"pro__v1": "pro"},
             "plan_has_had_subscriptions": {"pro"}, "plan_active_subscriptions": {"pro": 1}}

CASES = [
    Case("applied coupon dropped from a managed org's list is terminated", applied_coupon_removed,
         [("delete", "applied_coupon:acme/welcome", ("removed", "terminates_coupon"))]),
    Case("non-reusable coupon applied before cannot be applied again", applied_coupon_not_reusable,
         [("create", "applied_coupon:acme/welcome", ("new", "coupon_not_reusable"))],
         details={"applied_coupon:acme/welcome": {"blocked": True}}),
    Case("no-op: identical", same_both, []),
    Case("no-op: decimals equal as decimals", with_desired(set_("tax", "vat", rate="20.0000")), []),
    Case("create tax", with_live(drop("tax", "vat")), [("create", "tax:vat", ("new",))]),
    Case("create metric", with_live(drop("billable_metric", "storage")),
         [("create", "billable_metric:storage", ("new",))]),
    Case("create add-on", with_live(drop("add_on", "setup")), [("create", "add_on:setup", ("new",))]),
    Case("create plan", with_live(drop("plan", "basic")), [("create", "plan:basic", ("new",))]),
    Case("create coupon", with_live(drop("coupon", "welcome")), [("create", "coupon:welcome", ("new",))]),
    Case("create customer", with_live(drop("customer", "acme")), [("create", "customer:acme", ("new",))]),
    Case("create subscription", with_live(drop("subscription", "sub_acme")),
         [("create", "subscription:sub_acme", ("new",))]),
    Case("update tax rate re-prices the subscribers of the plans carrying it",
         with_desired(set_("tax", "vat", rate="21")),
         [("update", "tax:vat", ("changed", "reprices_subscribers"))], paths={"tax:vat": ["rate"]},
         details={"tax:vat": {"active_subscriptions": 1}}),
    Case("update tax name changes no price", with_desired(set_("tax", "vat", name="Value added tax")),
         [("update", "tax:vat", ("changed",))], paths={"tax:vat": ["name"]}),
    Case("update add-on amount", with_desired(set_("add_on", "setup", amount_cents=12000)),
         [("update", "add_on:setup", ("changed",))], paths={"add_on:setup": ["amount_cents"]}),
    Case("update metric not in use",
         with_desired(set_("billable_metric", "storage", aggregation_type="sum_agg")),
         [("update", "billable_metric:storage", ("changed",))]),
    Case("update metric in use, editable field only",
         with_desired(set_("billable_metric", "storage", name="Disk"), metrics_in_use={"storage"}),
         [("update", "billable_metric:storage", ("changed",))], paths={"billable_metric:storage": ["name"]}),
    Case("metric in use, locked field -> blocked replace",
         with_desired(set_("billable_metric", "storage", aggregation_type="sum_agg"), metrics_in_use={"storage"}),
         [("replace", "billable_metric:storage", ("metric_locked",))],
         details={"billable_metric:storage": {"blocked": True, "locked_paths": ["aggregation_type"],
                                              "used_by_plans": ["pro"]}}),
    Case("plan name change with subscribers does not re-price",
         with_desired(set_("plan", "pro", name="Professional"), plan_active_subscriptions={"pro": 37},
                      plan_has_had_subscriptions={"pro"}),
         [("update", "plan:pro", ("changed",))], paths={"plan:pro": ["name"]}),
    Case("plan price change re-prices active subscriptions",
         with_desired(set_("plan", "pro", amount_cents=5900), plan_active_subscriptions={"pro": 37},
                      plan_has_had_subscriptions={"pro"}),
         [("update", "plan:pro", ("changed", "reprices_subscribers"))],
         details={"plan:pro": {"active_subscriptions": 37}}, paths={"plan:pro": ["amount_cents"]}),
    Case("plan charge price change re-prices",
         with_desired(set_("plan", "pro", charges=pro_charges(0, properties={"amount": "0.002"})),
                      plan_active_subscriptions={"pro": 2}, plan_has_had_subscriptions={"pro"}),
         [("update", "plan:pro", ("changed", "reprices_subscribers"))],
         paths={"plan:pro": ["charges.api_calls.properties.amount"]}),
    Case("plan price change without subscribers",
         with_desired(set_("plan", "basic", amount_cents=2900)),
         [("update", "plan:basic", ("changed",))]),
    Case("charge dropped from a plan",
         with_desired(set_("plan", "pro", charges=PRO_CHARGES[:1])),
         [("update", "plan:pro", ("changed", "charge_removed", "reprices_subscribers"))],
         details={"plan:pro": {"removed_charges": ["storage"]}}),
    Case("locked plan field after subscription -> new version and migration",
         with_desired(set_("plan", "pro", interval="yearly", amount_cents=58800),
                      plan_has_had_subscriptions={"pro"}, plan_active_subscriptions={"pro": 1}),
         [("replace", "plan:pro", ("locked_after_subscription", "upgrade_immediate"))],
         details={"plan:pro": {"new_code": "pro__v2", "migrate": ["sub_acme"],
                               "locked_paths": ["bill_charges_monthly", "interval"]}}),
    Case("premium-only charge input without a license -> blocked, no new version named",
         with_desired(set_("plan", "pro", charges=pro_charges(0, min_amount_cents=500)),
                      plan_has_had_subscriptions={"pro"}, plan_active_subscriptions={"pro": 1}),
         [("replace", "plan:pro", ("premium_only",))],
         details={"plan:pro": {"blocked": True, "new_code": None,
                               "locked_paths": ["charges.api_calls.min_amount_cents"]}}),
    Case("premium-only input with a license is planned like any change",
         with_desired(set_("plan", "pro", charges=pro_charges(0, min_amount_cents=500)),
                      plan_has_had_subscriptions={"pro"}, plan_active_subscriptions={"pro": 1}, premium=True),
         [("replace", "plan:pro", ("locked_after_subscription", "upgrade_immediate"))],
         details={"plan:pro": {"blocked": False, "new_code": "pro__v2"}}),
    Case("premium-only customer field on a new org without a license -> blocked create", new_org_with_timezone,
         [("create", "customer:acme", ("new", "premium_only"))],
         details={"customer:acme": {"blocked": True, "locked_paths": ["timezone"]}}),
    Case("locked plan field, cheaper new version moves subscriptions at period end",
         with_desired(set_("plan", "pro", interval="yearly", amount_cents=10000),
                      plan_has_had_subscriptions={"pro"}, plan_versions={"pro": "pro__v2"}),
         [("replace", "plan:pro", ("locked_after_subscription", "downgrade_at_period_end"))],
         details={"plan:pro": {"new_code": "pro__v3", "live_code": "pro__v2"}}),
    Case("second locked change while subscriptions wait for the first version: they move too",
         with_desired(set_("plan", "pro", interval="yearly", amount_cents=10000),
                      plan_has_had_subscriptions={"pro"}, plan_versions={"pro": "pro__v2"},
                      pending_downgrades={"sub_acme": "pro"}),
         [("replace", "plan:pro", ("locked_after_subscription", "downgrade_at_period_end"))],
         details={"plan:pro": {"new_code": "pro__v3", "migrate": ["sub_acme"], "active_subscriptions": 1}},
         live_mutate=set_("subscription", "sub_acme", plan_code="pro__v1")),
    Case("price change counts subscriptions waiting for a downgrade to the plan",
         with_desired(set_("plan", "pro", amount_cents=3900), plan_has_had_subscriptions={"pro"},
                      pending_downgrades={"sub_acme": "pro"}),
         [("update", "plan:pro", ("changed", "reprices_subscribers"))],
         details={"plan:pro": {"active_subscriptions": 1}},
         live_mutate=set_("subscription", "sub_acme", plan_code="pro__v1")),
    Case("locked charge field after subscription",
         with_desired(set_("plan", "pro", charges=pro_charges(1, charge_model="package")),
                      plan_has_had_subscriptions={"pro"}),
         [("replace", "plan:pro", ("locked_after_subscription", "upgrade_immediate"))],
         details={"plan:pro": {"locked_paths": ["charges.storage.charge_model"]}}),
    Case("locked plan field before any subscription is a plain update",
         with_desired(set_("plan", "basic", pay_in_advance=True)),
         [("update", "plan:basic", ("changed",))]),
    Case("coupon not applied: update", with_desired(set_("coupon", "welcome", amount_cents=2000)),
         [("update", "coupon:welcome", ("changed",))]),
    Case("coupon applied: name stays editable",
         with_desired(set_("coupon", "welcome", name="Hello"), coupons_applied={"welcome"}),
         [("update", "coupon:welcome", ("changed",))]),
    Case("coupon applied: amount is locked",
         with_desired(set_("coupon", "welcome", amount_cents=2000), coupons_applied={"welcome"}),
         [("replace", "coupon:welcome", ("coupon_locked",))],
         details={"coupon:welcome": {"blocked": True, "locked_paths": ["amount_cents"]}}),
    Case("customer metadata entry changes by key",
         with_desired(set_("customer", "acme", metadata={"region": "us", "tier": "gold"})),
         [("update", "customer:acme", ("changed",))],
         paths={"customer:acme": ["metadata.region.value", "metadata.tier"]}),
    Case("subscription upgrade",
         with_live(set_("subscription", "sub_acme", plan_code="basic")),
         [("migrate", "subscription:sub_acme", ("upgrade_immediate",))],
         details={"subscription:sub_acme": {"from_plan": "basic", "to_plan": "pro",
                                            "from_yearly_amount_cents": 22800, "to_yearly_amount_cents": 58800}}),
    Case("subscription downgrade",
         with_desired(set_("subscription", "sub_acme", plan_code="basic")),
         [("migrate", "subscription:sub_acme", ("downgrade_at_period_end",))]),
    Case("subscription left on a superseded version moves to a cheaper plan: still a downgrade",
         with_desired(set_("subscription", "sub_acme", plan_code="basic"),
                      superseded_yearly_amounts={"pro__v1": 70800}),
         [("migrate", "subscription:sub_acme", ("downgrade_at_period_end",))],
         details={"subscription:sub_acme": {"from_plan": "pro__v1", "to_plan": "basic",
                                            "from_yearly_amount_cents": 70800, "to_yearly_amount_cents": 22800}},
         live_mutate=set_("subscription", "sub_acme", plan_code="pro__v1")),
    Case("interrupted replace: the subscription on the old version moves to the current one",
         with_desired(lambda b, s: None, superseded_yearly_amounts={"pro__v1": 22800}),
         [("migrate", "subscription:sub_acme", ("upgrade_immediate",))],
         details={"subscription:sub_acme": {"from_plan": "pro__v1", "to_plan": "pro"}},
         live_mutate=set_("subscription", "sub_acme", plan_code="pro__v1")),
    Case("pending downgrade to the desired plan is not a change",
         with_desired(set_("subscription", "sub_acme", plan_code="basic"),
                      pending_downgrades={"sub_acme": "basic"}), []),
    Case("pending downgrade elsewhere is cancelled",
         with_desired(lambda b, s: None, pending_downgrades={"sub_acme": "basic"}),
         [("update", "subscription:sub_acme", ("changed",))],
         details={"subscription:sub_acme": {"cancel_pending_downgrade": "basic"}}),
    Case("subscription name change", with_desired(set_("subscription", "sub_acme", name="Acme")),
         [("update", "subscription:sub_acme", ("changed",))], paths={"subscription:sub_acme": ["name"]}),
    Case("subscription moves customer",
         with_desired(lambda b, s: (extra("customer", "beta", {"external_id": "beta", "name": "Beta"})(b, s),
                                    set_("subscription", "sub_acme", external_customer_id="beta")(b, s))),
         [("create", "customer:beta", ("new",)),
          ("update", "subscription:sub_acme", ("changed", "customer_move"))],
         details={"subscription:sub_acme": {"blocked": True, "locked_paths": ["external_customer_id"]}}),
    Case("price_change new_version: a price change makes a version, subscribers stay (grandfathered)",
         with_desired(set_("plan", "pro", amount_cents=5900), plan_has_had_subscriptions={"pro"},
                      plan_active_subscriptions={"pro": 1}),
         [("replace", "plan:pro", ("new_version",))],
         details={"plan:pro": {"new_code": "pro__v2", "migrate": [], "grandfathered": 1}},
         directives=_versions(price_change={"pro": "new_version"})),
    Case("price_change new_version: a subscription on an old version stays there",
         with_live(on_old_version, **VERSIONED), [],
         directives=_versions(price_change={"pro": "new_version"})),
    Case("a migration moves the old version's subscription (now) and is recorded",
         lambda b: (dict(b.full_state(), migration={"m1": {"code": "m1", "plan_code": "pro"}}),
                    with_live(on_old_version, **VERSIONED)(b)[1]),
         [("migrate", "subscription:sub_acme", ("upgrade_immediate", "migration")),
          ("create", "migration:m1", ("new",))],
         details={"subscription:sub_acme": {"migration": "m1", "to_plan": "pro__v2"}},
         directives=_versions(price_change={"pro": "new_version"}, migrations=[{"code": "m1", "plan_code": "pro",
                                                                               "at": "now"}])),
    Case("--prune deletes an older plan version nobody is on any more",
         with_desired(lambda b, s: None, versions={"pro": {1: "pro", 2: "pro__v2"}}, plan_versions={"pro": "pro__v2"}),
         [("delete", "plan:pro__v1", ("removed", "unused_version"))], prune=True),
    Case("billing_time change is blocked (Lago keeps it)",
         with_desired(set_("subscription", "sub_acme", billing_time="anniversary")),
         [("update", "subscription:sub_acme", ("changed", "subscription_locked"))],
         details={"subscription:sub_acme": {"blocked": True, "locked_paths": ["billing_time"]}},
         paths={"subscription:sub_acme": ["billing_time"]}),
    Case("user-to-org move (migrate_from) terminates the user's subscription and starts the org's",
         with_desired(lambda b, s: None, migrate_from={"usr_1": "acme"},
                      user_subscriptions={"usr_1": [{"external_id": "sub_usr_1", "external_customer_id": "usr_1",
                                                     "plan_code": "pro", "name": None,
                                                     "billing_time": "calendar"}]}),
         [("move", "subscription:sub_usr_1", ("customer_move", "terminates_subscriptions"))],
         paths={"subscription:sub_usr_1": ["external_customer_id", "external_id"]}),
    Case("ensure absent metric -> delete destroys events",
         with_desired(lambda b, s: (absent("billable_metric", "storage")(b, s),
                                    set_("plan", "pro", charges=PRO_CHARGES[:1])(b, s))),
         [("update", "plan:pro", ("changed", "charge_removed", "reprices_subscribers")),
          ("delete", "billable_metric:storage", ("removed", "destroys_events"))],
         details={"billable_metric:storage": {"used_by_plans": ["pro"]}}),
    Case("ensure absent plan with subscribers terminates them",
         with_desired(absent("plan", "basic"), plan_active_subscriptions={"basic": 3}),
         [("delete", "plan:basic", ("removed", "terminates_subscriptions"))],
         details={"plan:basic": {"active_subscriptions": 3}}),
    Case("plan deleted after its subscriber upgrades away: terminates nothing",
         with_desired(lambda b, s: (absent("plan", "basic")(b, s),
                                    set_("subscription", "sub_acme", plan_code="pro")(b, s)),
                      plan_active_subscriptions={"basic": 1}),
         [("migrate", "subscription:sub_acme", ("upgrade_immediate",)),
          ("delete", "plan:basic", ("removed",))],
         details={"plan:basic": {"active_subscriptions": 0, "subscriptions_gone_first": ["sub_acme"]}},
         live_mutate=set_("subscription", "sub_acme", plan_code="basic")),
    Case("plan deleted while its subscriber downgrades away: the delete still terminates it",
         with_desired(lambda b, s: (absent("plan", "pro")(b, s),
                                    set_("subscription", "sub_acme", plan_code="basic")(b, s)),
                      plan_active_subscriptions={"pro": 1}),
         [("migrate", "subscription:sub_acme", ("downgrade_at_period_end",)),
          ("delete", "plan:pro", ("removed", "terminates_subscriptions"))],
         details={"plan:pro": {"active_subscriptions": 1}}),
    Case("ensure absent on an object that does not exist is nothing",
         with_desired(absent("tax", "gst")), []),
    Case("ensure absent subscription terminates it",
         with_desired(absent("subscription", "sub_acme")),
         [("delete", "subscription:sub_acme", ("removed", "terminates_subscriptions"))]),
    Case("ensure absent customer terminates its subscriptions",
         with_desired(lambda b, s: (absent("customer", "acme")(b, s), absent("subscription", "sub_acme")(b, s))),
         [("delete", "subscription:sub_acme", ("removed", "terminates_subscriptions")),
          ("delete", "customer:acme", ("removed", "terminates_subscriptions"))]),
    Case("undeclared objects are unmanaged, never deleted by default",
         with_desired(lambda b, s: (drop("plan", "basic")(b, s), drop("tax", "vat")(b, s)),
                      managed={"plan": {"basic", "pro"}}),
         [], unmanaged=[("tax", "vat"), ("plan", "basic")]),
    Case("prune deletes only marked objects",
         with_desired(lambda b, s: (drop("plan", "basic")(b, s), drop("tax", "vat")(b, s)),
                      managed={"plan": {"basic", "pro"}}),
         [("delete", "plan:basic", ("removed",))], unmanaged=[("tax", "vat")], prune=True),
]


def _fact(op, k: str):
    """An expected fact of an operation: its typed fields (what the applier reads), else its details."""
    locked = op.block or op.version
    typed = {
        "blocked": op.blocked,
        "locked_paths": list(locked.locked_paths) if locked else None,
        "new_code": op.version.code if op.version else None,
        "live_code": op.version.live_code if op.version else None,
        "migrate": list(op.version.migrate) if op.version else None,
        "cancel_pending_downgrade": op.cancel_pending,
    }
    return typed[k] if k in typed else op.details.get(k)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, builders):
    desired, live = case.build(builders)
    if case.live_mutate is not None:
        case.live_mutate(builders, live.state)
    plan = make_plan(desired, live, prune=case.prune, environment="test", created_at="2025-01-01T00:00:00+00:00",
                     directives=case.directives)
    got = [(op.action, op.id, op.reasons) for op in plan.operations]
    assert got == case.expect
    for op_id, expected in case.details.items():
        op = next(o for o in plan.operations if o.id == op_id)
        for k, v in expected.items():
            assert _fact(op, k) == v, (op_id, k)
    for op_id, paths in case.paths.items():
        op = next(o for o in plan.operations if o.id == op_id)
        assert [c.path for c in op.changes] == paths
    assert list(plan.unmanaged) == case.unmanaged
    assert plan.has_changes == bool(case.expect)
    assert all(op.action in ACTIONS for op in plan.operations)


def test_every_action_and_reason_is_covered(builders):
    seen_actions, seen_reasons = set(), set()
    for case in CASES:
        for action, _, reasons in case.expect:
            seen_actions.add(action)
            seen_reasons.update(reasons)
        if not case.expect:
            seen_actions.add("no-op")
    assert seen_actions == set(ACTIONS)
    assert seen_reasons == set(REASONS)
