"""Every refusal preflight can make, each with the planner case that shows it first.

Preflight refuses exactly two things (lagosync.applier.run.preflight): operations the planner marked
blocked (each ``Blocked(...)`` the planner builds is one Lago rule) and references that cannot resolve.
So a reviewer sees every refusal in the plan and the PR comment before apply is even tried. This test
lists them all; a new ``Blocked(...)`` in the planner without a case here fails
``test_every_block_the_planner_builds_has_a_case``.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest

from lagosync import model
from lagosync.applier.run import preflight
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner import make_plan

PLANNER = Path(__file__).resolve().parents[2] / "lagosync" / "planner"

RAW = {
    "tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20"}},
    "billable_metric": {"api_calls": {"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"}},
    "plan": {"pro": {"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 4900,
                     "amount_currency": "EUR", "tax_codes": ["vat"],
                     "charges": [{"billable_metric_code": "api_calls", "charge_model": "standard",
                                  "properties": {"amount": "0.001"}}]}},
    "coupon": {"welcome": {"code": "welcome", "name": "Welcome", "coupon_type": "fixed_amount", "amount_cents": 1000,
                           "amount_currency": "EUR", "frequency": "once", "reusable": False}},
    "customer": {"acme": {"external_id": "acme", "name": "Acme", "currency": "EUR"}},
    "subscription": {"sub_acme": {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro"}},
    "applied_coupon": {},
}


def state() -> dict:
    return {kind: {key: model.from_yaml(kind, obj) for key, obj in objs.items()} for kind, objs in RAW.items()}


def _metric_in_use(desired, facts):
    desired["billable_metric"]["api_calls"]["aggregation_type"] = "sum_agg"
    desired["billable_metric"]["api_calls"]["field_name"] = "n"
    facts.metrics_in_use = {"api_calls"}


def _coupon_applied(desired, facts):
    desired["coupon"]["welcome"]["amount_cents"] = 500
    facts.coupons_applied = {"welcome"}


def _billing_time(desired, facts):
    desired["subscription"]["sub_acme"]["billing_time"] = "anniversary"


def _customer_change(desired, facts):
    desired["customer"]["beta"] = model.from_yaml("customer", {"external_id": "beta", "name": "Beta", "currency": "EUR"})
    desired["subscription"]["sub_acme"]["external_customer_id"] = "beta"


def _coupon_again(desired, facts):
    desired["applied_coupon"]["acme/welcome"] = model.from_yaml(
        "applied_coupon", {"external_customer_id": "acme", "coupon_code": "welcome"})
    facts.applied_coupons_ever = {"acme/welcome"}


def _move_without_target(desired, facts):
    desired["subscription"].pop("sub_acme")  # the org declares no subscription to take the user's over
    facts.migrate_from = {"usr_1": "acme"}
    facts.user_subscriptions = {"usr_1": [{"external_id": "sub_usr_1", "external_customer_id": "usr_1",
                                           "plan_code": "pro", "name": None, "billing_time": "calendar"}]}


def _version_in_another_currency(desired, facts):
    desired["plan"]["pro"]["amount_currency"] = "USD"
    facts.plan_has_had_subscriptions = {"pro"}
    facts.plan_active_subscriptions = {"pro": 1}


def _version_under_a_plan_limited_coupon(desired, facts):
    desired["plan"]["pro"]["interval"] = "yearly"
    coupon = {**RAW["coupon"]["welcome"], "applies_to": {"plan_codes": ["pro"]}}
    desired["coupon"]["welcome"] = model.from_yaml("coupon", coupon)
    applied = model.from_yaml("applied_coupon", {"external_customer_id": "acme", "coupon_code": "welcome"})
    desired["applied_coupon"]["acme/welcome"] = applied
    facts.plan_has_had_subscriptions = {"pro"}
    facts.plan_active_subscriptions = {"pro": 1}
    facts.managed = {"applied_coupon": {"acme/welcome"}}
    facts.coupons_applied = {"welcome"}


def _customer_currency(desired, facts):
    desired["customer"]["acme"]["currency"] = "USD"


def _premium_input(desired, facts):
    desired["plan"]["pro"]["charges"]["api_calls"]["min_amount_cents"] = 500  # LiveFacts.premium is False


# (planner function that builds the Blocked, case, operation id, preflight message start)
BLOCKS = [
    ("compare_billable_metric", _metric_in_use, "billable_metric:api_calls",
     "metric 'api_calls': cannot change aggregation_type, field_name: Lago ignores these fields once a plan"),
    ("compare_coupon", _coupon_applied, "coupon:welcome",
     "coupon 'welcome': cannot change amount_cents: Lago ignores these fields once the coupon is applied"),
    ("_subscription_block", _billing_time, "subscription:sub_acme",
     "subscription 'sub_acme': cannot change billing_time: Lago keeps the billing_time"),
    ("_subscription_block", _customer_change, "subscription:sub_acme",
     "subscription 'sub_acme': cannot change external_customer_id: a Lago subscription cannot change customer"),
    ("_coupon_blocked", _coupon_again, "applied_coupon:acme/welcome",
     "applied coupon 'acme/welcome': cannot be applied: coupon 'welcome' is not reusable"),
    ("_move_op", _move_without_target, "subscription:sub_usr_1",
     "subscription 'sub_usr_1': cannot be applied: declare a subscription for org 'acme'"),
    ("_version_block", _version_in_another_currency, "plan:pro",
     "plan 'pro': cannot change amount_currency: org 'acme' is billed in EUR"),
    ("_version_block", _version_under_a_plan_limited_coupon, "plan:pro",
     "plan 'pro': cannot change coupons.welcome.applies_to.plan_codes: coupon 'welcome' (applied to org 'acme', "
     "moving to the new version) is limited to plan 'pro'"),
    ("compare_customer", _customer_currency, "customer:acme",
     "customer 'acme': cannot change currency: Lago keeps the currency of a customer that has subscriptions"),
    ("block_premium_inputs", _premium_input, "plan:pro",
     "plan 'pro': cannot change charges.api_calls.min_amount_cents: this Lago has no premium license, so it "
     "ignores this input (remove it from the workspace, or set premium: true for environment 'local'"),
]


def _plan(mutate):
    desired, facts = state(), LiveFacts()
    mutate(desired, facts)
    live_state = state()
    if mutate is _version_under_a_plan_limited_coupon:  # the coupon is applied in Lago, limited to 'pro'
        live_state["coupon"]["welcome"] = desired["coupon"]["welcome"]
        live_state["applied_coupon"]["acme/welcome"] = desired["applied_coupon"]["acme/welcome"]
    live = LiveState(state=live_state, raw={}, facts=facts)
    return make_plan(copy.deepcopy(desired), live), live, desired


@pytest.mark.parametrize(("builder", "mutate", "op_id", "message"), BLOCKS, ids=[f"{b[0]}:{b[2]}" for b in BLOCKS])
def test_each_blocked_change_is_in_the_plan_first_then_refused_by_preflight(builder, mutate, op_id, message):
    plan, live, desired = _plan(mutate)
    op = next(o for o in plan.operations if o.id == op_id)
    # the plan (and so the PR comment) already says it cannot happen, and what to do instead
    assert op.blocked and op.block.hint
    assert op.describe().startswith(("cannot ", "move subscription"))
    assert op.impact == ()  # nothing happens to anyone's money: apply refuses it
    problems = preflight(plan, live, desired)
    assert [p for p in problems if p.startswith(message)], problems


def test_every_block_the_planner_builds_has_a_case():
    """Each function of lagosync/planner that constructs ``Blocked(...)`` is listed in BLOCKS."""
    builders: set[str] = set()
    for path in PLANNER.glob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Blocked":
                    builders.add(fn.name)
    assert builders == {b[0] for b in BLOCKS}


def test_unresolvable_references_are_the_only_other_refusal():
    # a reference to an object this plan deletes
    desired = state()
    desired["tax"]["vat"] = {"ensure": "absent", "code": "vat"}
    live = LiveState(state=state(), raw={}, facts=LiveFacts())
    plan = make_plan(desired, live)
    assert preflight(plan, live, desired) == ["plan 'pro' refers to tax 'vat', which this plan deletes"]
    # a reference to an object neither in Lago nor in the workspace
    desired = state()
    desired["plan"]["pro"]["charges"]["api_calls"]["billable_metric_code"] = "gone"
    problems = preflight(make_plan(desired, live), live, desired)
    assert "plan 'pro' refers to metric 'gone', which is neither in Lago nor in the workspace" in problems
    # a plan without blocked operations and with resolvable references passes
    assert preflight(make_plan(state(), live), live, state()) == []
