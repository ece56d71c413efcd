"""Property: whenever what a subscription pays (price, discount, tax or timing) differs between Lago now
and the workspace, the plan lists that subscription in its money impact and its operation needs a flag;
and a subscription whose bill does not change is not listed.

The oracle below is written from Lago's billing rules (docs/lago-behaviour.md), independently of
lagosync.planner.impact: a subscription's bill is the plan it is billed by (its price fields, charges,
fixed charges), the taxes on its invoice (plan, charge and fixed-charge taxes, its customer's taxes,
organization-wide taxes), the coupons applied to its customer that apply to its plan (their terms and
overrides), a scheduled downgrade, and whether it exists at all.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lagosync import model
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner import make_plan

RUNS = 300


def _plan(code: str, cents: int, taxes: list[str], amount: str) -> dict:
    return {"code": code, "name": code.title(), "interval": "monthly", "amount_cents": cents,
            "amount_currency": "EUR", "pay_in_advance": False, "tax_codes": taxes,
            "charges": [{"billable_metric_code": "calls", "charge_model": "standard", "properties": {"amount": amount},
                         "tax_codes": []}]}


RAW: dict[str, dict[str, dict[str, Any]]] = {
    "tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20"},
            "gst": {"code": "gst", "name": "GST", "rate": "5"},
            "org": {"code": "org", "name": "Org-wide", "rate": "1"}},
    "billable_metric": {"calls": {"code": "calls", "name": "Calls", "aggregation_type": "count_agg"}},
    "add_on": {},
    "plan": {"basic": _plan("basic", 1900, [], "0.02"), "pro": _plan("pro", 4900, ["vat"], "0.01"),
             "max": _plan("max", 9900, ["gst"], "0.005")},
    "coupon": {"ten": {"code": "ten", "name": "Ten", "coupon_type": "fixed_amount", "amount_cents": 1000,
                       "amount_currency": "EUR", "frequency": "forever", "expiration": "no_expiration"},
               "pro20": {"code": "pro20", "name": "Pro 20%", "coupon_type": "percentage", "percentage_rate": "20",
                         "frequency": "forever", "expiration": "no_expiration",
                         "applies_to": {"plan_codes": ["pro"]}}},
    "customer": {"acme": {"external_id": "acme", "name": "Acme", "currency": "EUR", "tax_codes": ["gst"]},
                 "beta": {"external_id": "beta", "name": "Beta", "currency": "EUR", "tax_codes": []},
                 "cola": {"external_id": "cola", "name": "Cola", "currency": "EUR", "tax_codes": []}},
    "subscription": {
        "s_acme": {"external_id": "s_acme", "external_customer_id": "acme", "plan_code": "pro", "name": "A"},
        "s_beta": {"external_id": "s_beta", "external_customer_id": "beta", "plan_code": "basic", "name": "B"},
        "s_beta2": {"external_id": "s_beta2", "external_customer_id": "beta", "plan_code": "pro", "name": "B2"},
        "s_cola": {"external_id": "s_cola", "external_customer_id": "cola", "plan_code": "max", "name": "C"},
    },
    "applied_coupon": {"acme/pro20": {"external_customer_id": "acme", "coupon_code": "pro20"},
                       "beta/ten": {"external_customer_id": "beta", "coupon_code": "ten"}},
}

PENDING = {"s_cola": "basic"}  # Lago has a downgrade of s_cola to basic scheduled at its period end


def canonical() -> dict:
    return {kind: {key: model.from_yaml(kind, obj) for key, obj in objs.items()} for kind, objs in RAW.items()}


# --------------------------------------------------------------------------- the oracle

def bill(state: dict, sub_key: str, pending: str | None) -> str | None:
    """Everything that decides what ``sub_key`` pays, as one comparable string (None: it does not exist)."""
    sub = state["subscription"].get(sub_key)
    if sub is None or sub.get("ensure") == "absent":
        return None
    plan = state["plan"][sub["plan_code"]]
    customer = state["customer"][sub["external_customer_id"]]
    price = {k: plan[k] for k in ("amount_cents", "amount_currency", "interval", "pay_in_advance", "trial_period",
                                  "bill_charges_monthly")}
    price["charges"] = {c: {k: v for k, v in ch.items() if k != "invoice_display_name"}
                        for c, ch in plan["charges"].items()}
    # Lago's precedence per fee: the charge's taxes, else the plan's, else the customer's, else the
    # organization's (Fees::ApplyTaxesService#applicable_taxes)
    live_taxes = {c: t for c, t in state["tax"].items() if t.get("ensure") != "absent"}
    org = [c for c, t in live_taxes.items() if t["applied_to_organization"]]
    default = plan["tax_codes"] or customer.get("tax_codes") or org
    fees = {"subscription": default, **{c: ch["tax_codes"] or default for c, ch in plan["charges"].items()}}
    taxes = {fee: {c: live_taxes[c]["rate"] for c in codes if c in live_taxes} for fee, codes in fees.items()}
    discounts = {}
    for key, applied in state["applied_coupon"].items():
        if applied.get("ensure") == "absent" or applied["external_customer_id"] != customer["external_id"]:
            continue
        coupon = state["coupon"][applied["coupon_code"]]
        limited = coupon["applies_to"]["plan_codes"]
        if limited and sub["plan_code"] not in limited:
            continue
        terms = {k: v for k, v in coupon.items() if k not in ("name", "description", "code")}
        discounts[key] = {"terms": terms, "overrides": {k: v for k, v in applied.items() if v is not None}}
    return json.dumps({"price": price, "taxes": taxes, "discounts": discounts, "pending": pending},
                      sort_keys=True)


def desired_pending(live_sub: dict, desired_sub: dict | None) -> str | None:
    """Lago keeps a scheduled downgrade while the workspace asks for its target; asking for the
    current plan cancels it; another plan replaces it."""
    target = PENDING.get(live_sub["external_id"])
    if target is None or desired_sub is None:
        return None
    return target if desired_sub.get("plan_code") == target else None


# --------------------------------------------------------------------------- random changes

def _set(kind, key, field, value):
    def go(d):
        if key in d[kind] and d[kind][key].get("ensure") != "absent":
            d[kind][key][field] = value
    return go


def _charge_amount(plan, amount):
    def go(d):
        d["plan"][plan]["charges"]["calls"]["properties"]["amount"] = amount
    return go


def _charge_taxes(plan, codes):
    def go(d):
        d["plan"][plan]["charges"]["calls"]["tax_codes"] = codes
    return go


def _absent(kind, key):
    def go(d):
        d[kind][key] = {"ensure": "absent", "external_id": key}
    return go


def _drop(kind, key):
    return lambda d: d[kind].pop(key, None)


def _add_applied(org, code, **over):
    def go(d):
        d["applied_coupon"][f"{org}/{code}"] = model.from_yaml(
            "applied_coupon", {"external_customer_id": org, "coupon_code": code, **over})
    return go


CHANGES = st.sampled_from([
    _set("tax", "vat", "rate", "25"), _set("tax", "gst", "rate", "7"), _set("tax", "vat", "name", "V"),
    _set("tax", "org", "applied_to_organization", True), _set("tax", "gst", "description", "d"),
    _set("plan", "pro", "amount_cents", 5900), _set("plan", "basic", "amount_cents", 900),
    _set("plan", "max", "name", "Maximum"), _set("plan", "pro", "tax_codes", []),
    _set("plan", "basic", "tax_codes", ["vat"]), _set("plan", "pro", "description", "x"),
    _charge_amount("pro", "0.02"), _charge_amount("max", "0.006"), _charge_taxes("basic", ["gst"]),
    _set("customer", "beta", "tax_codes", ["vat"]), _set("customer", "acme", "tax_codes", []),
    _set("customer", "cola", "name", "Cola Inc"), _set("customer", "beta", "email", "b@b.test"),
    _set("subscription", "s_beta", "plan_code", "pro"), _set("subscription", "s_acme", "plan_code", "basic"),
    _set("subscription", "s_beta2", "plan_code", "max"), _set("subscription", "s_cola", "plan_code", "pro"),
    _set("subscription", "s_cola", "plan_code", "max"), _set("subscription", "s_acme", "name", "AA"),
    _absent("subscription", "s_beta"), _absent("subscription", "s_acme"),
    _drop("applied_coupon", "acme/pro20"), _drop("applied_coupon", "beta/ten"),
    _add_applied("cola", "ten"), _add_applied("beta", "pro20"), _add_applied("acme", "ten", amount_cents=500),
    _set("coupon", "ten", "name", "Ten off"),
    lambda d: d["coupon"]["ten"].update(expiration="time_limit", expiration_at="2027-01-01T00:00:00Z"),
])


def live_state() -> LiveState:
    state = canonical()
    facts = LiveFacts(
        plan_active_subscriptions={p: sum(1 for s in state["subscription"].values() if s["plan_code"] == p)
                                   for p in state["plan"]},
        managed={"applied_coupon": set(state["applied_coupon"])},
        pending_downgrades=dict(PENDING),
    )
    return LiveState(state=state, raw={}, facts=facts)


@settings(max_examples=RUNS, deadline=None)
@given(changes=st.lists(CHANGES, min_size=1, max_size=4))
def test_every_subscription_that_pays_differently_is_in_the_impact_and_gated(changes):
    live = live_state()
    desired = canonical()
    for change in changes:
        change(desired)
    plan = make_plan(copy.deepcopy(desired), live)
    assert not any(op.blocked for op in plan.operations), [op.describe() for op in plan.operations if op.blocked]
    listed: dict[str, list] = {}
    for op in plan.operations:
        for i in op.impact:
            listed.setdefault(i.subscription, []).append(op)
    for key, sub in live.state["subscription"].items():
        before = bill(live.state, key, PENDING.get(key))
        after = bill(desired, key, desired_pending(sub, desired["subscription"].get(key)))
        if before != after:
            assert key in listed, (key, [op.describe() for op in plan.operations])
            assert all(op.reprices or op.destructive for op in listed[key])
        else:
            assert key not in listed, (key, [i.sentence() for op in listed[key] for i in op.impact])
