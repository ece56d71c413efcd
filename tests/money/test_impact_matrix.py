"""The money-impact matrix: every managed field of every kind, with and without subscribers.

Each row changes one field (or deletes one object) and states what the plan must say about money:
which kind of change reaches the subscriber (``price``, ``tax``, ``discount``, ``plan``, ``timing``,
``termination``), or nothing, and which gate follows (``--allow-reprice`` for any change but a
termination, ``--allow-destroy`` for a termination). ``BLOCKED`` rows are changes Lago refuses or
ignores: the plan blocks them, so nobody's money changes. Without subscribers no row has an impact.
``test_every_managed_field_has_a_row`` fails when the canonical model gains a field nobody classified.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lagosync import model
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner import make_plan

BLOCKED = "blocked"

RAW: dict[str, dict[str, dict[str, Any]]] = {
    "tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20"}, "gst": {"code": "gst", "name": "GST", "rate": "5"}},
    "billable_metric": {"calls": {"code": "calls", "name": "Calls", "aggregation_type": "count_agg",
                                  "filters": [{"key": "region", "values": ["eu", "us"]}]}},
    "add_on": {"setup": {"code": "setup", "name": "Setup", "amount_cents": 5000, "amount_currency": "EUR"}},
    "plan": {"pro": {
        "code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 4900, "amount_currency": "EUR",
        "pay_in_advance": False, "tax_codes": [], "metadata": {"tier": "2"},
        "charges": [{"billable_metric_code": "calls", "charge_model": "standard", "properties": {"amount": "0.01"},
                     "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.02"}}]}],
        "fixed_charges": [{"add_on_code": "setup", "charge_model": "standard", "units": 1,
                           "properties": {"amount": "50"}}]}},
    "coupon": {"welcome": {"code": "welcome", "name": "Welcome", "coupon_type": "fixed_amount", "amount_cents": 1000,
                           "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration"}},
    "customer": {"acme": {"external_id": "acme", "name": "Acme", "email": "a@acme.test", "currency": "EUR",
                          "tax_codes": ["vat"], "metadata": [{"key": "region", "value": "eu"}]}},
    "subscription": {"sub_acme": {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro",
                                  "name": "Acme Pro"}},
    "applied_coupon": {"acme/welcome": {"external_customer_id": "acme", "coupon_code": "welcome"}},
}

CH = "charges.calls"
FC = "fixed_charges.setup"

# (kind, key, field path in the canonical object or "<delete>", new value) -> impact with subscribers
ROWS: list[tuple[str, str, str, Any, str | None]] = [
    ("tax", "vat", "name", "Value added tax", None),
    ("tax", "vat", "rate", "25", "tax"),
    ("tax", "vat", "description", "EU VAT", None),
    ("tax", "vat", "applied_to_organization", True, "tax"),
    ("tax", "vat", "<delete>", None, "tax"),
    ("billable_metric", "calls", "name", "API calls", None),
    ("billable_metric", "calls", "description", "Every call", None),
    ("billable_metric", "calls", "aggregation_type", "sum_agg", BLOCKED),
    ("billable_metric", "calls", "field_name", "n", BLOCKED),
    ("billable_metric", "calls", "recurring", True, BLOCKED),
    ("billable_metric", "calls", "weighted_interval", "seconds", BLOCKED),
    ("billable_metric", "calls", "rounding_function", "round", BLOCKED),
    ("billable_metric", "calls", "rounding_precision", 2, BLOCKED),
    ("billable_metric", "calls", "expression", "event.properties.n", BLOCKED),
    ("billable_metric", "calls", "filters", {"region": ["eu", "us", "apac"]}, "price"),
    ("add_on", "setup", "name", "Onboarding", None),
    ("add_on", "setup", "invoice_display_name", "Onboarding (once)", None),
    ("add_on", "setup", "amount_cents", 6000, None),  # the fixed charge is priced by its own properties
    ("add_on", "setup", "amount_currency", "USD", None),
    ("add_on", "setup", "description", "Kick-off", None),
    ("add_on", "setup", "tax_codes", ["vat"], None),
    ("plan", "pro", "name", "Professional", None),
    ("plan", "pro", "invoice_display_name", "Pro plan", None),
    ("plan", "pro", "description", "For teams", None),
    ("plan", "pro", "interval", "yearly", "plan"),
    ("plan", "pro", "amount_cents", 5900, "price"),
    ("plan", "pro", "amount_currency", "USD", BLOCKED),  # acme is billed in EUR
    ("plan", "pro", "trial_period", "14", "plan"),
    ("plan", "pro", "pay_in_advance", True, "plan"),
    ("plan", "pro", "bill_charges_monthly", None, None),  # stored only for yearly plans: nothing to change
    ("plan", "pro", "tax_codes", ["gst"], "tax"),  # plan taxes come before the customer's
    ("plan", "pro", "metadata", {"tier": "3"}, None),
    ("plan", "pro", "<delete>", None, "termination"),
    ("plan", "pro", f"{CH}.invoice_display_name", "Calls", None),
    ("plan", "pro", f"{CH}.properties", {"amount": "0.02"}, "price"),
    ("plan", "pro", f"{CH}.filters", [], "price"),
    ("plan", "pro", f"{CH}.tax_codes", ["gst"], "tax"),
    ("plan", "pro", f"{CH}.charge_model", "package", "plan"),
    ("plan", "pro", f"{CH}.pay_in_advance", True, "plan"),
    ("plan", "pro", f"{CH}.prorated", True, "plan"),
    ("plan", "pro", f"{CH}.min_amount_cents", 100, BLOCKED),  # premium-only: this Lago has no license
    ("plan", "pro", f"{CH}.billable_metric_code", "calls", None),  # the charge's identity: same metric
    ("plan", "pro", f"{FC}.invoice_display_name", "Setup", None),
    ("plan", "pro", f"{FC}.units", "2", "price"),
    ("plan", "pro", f"{FC}.properties", {"amount": "60"}, "price"),
    ("plan", "pro", f"{FC}.tax_codes", ["gst"], "tax"),
    ("plan", "pro", f"{FC}.charge_model", "volume", "plan"),
    ("plan", "pro", f"{FC}.pay_in_advance", True, "plan"),
    ("plan", "pro", f"{FC}.prorated", True, "plan"),
    ("plan", "pro", f"{FC}.add_on_code", "setup", None),  # the fixed charge's identity
    ("coupon", "welcome", "name", "Hello", None),
    ("coupon", "welcome", "description", "For new orgs", None),
    ("coupon", "welcome", "expiration", "time_limit", "discount"),
    ("coupon", "welcome", "expiration_at", None, None),  # only with expiration time_limit (row above)
    ("coupon", "welcome", "coupon_type", "percentage", BLOCKED),
    ("coupon", "welcome", "amount_cents", 500, BLOCKED),
    ("coupon", "welcome", "amount_currency", "USD", BLOCKED),
    ("coupon", "welcome", "percentage_rate", "10", BLOCKED),
    ("coupon", "welcome", "frequency", "recurring", BLOCKED),
    ("coupon", "welcome", "frequency_duration", 3, None),  # only with frequency recurring (row above)
    ("coupon", "welcome", "reusable", False, BLOCKED),
    ("coupon", "welcome", "applies_to", {"plan_codes": ["pro"], "billable_metric_codes": []}, BLOCKED),
    ("coupon", "welcome", "code", "welcome", None),  # identity
    ("coupon", "welcome", "<delete>", None, "discount"),
    ("customer", "acme", "name", "Acme Corp", None),
    ("customer", "acme", "email", "billing@acme.test", None),
    ("customer", "acme", "currency", "USD", BLOCKED),
    ("customer", "acme", "tax_codes", [], "tax"),  # no plan taxes: the customer's apply
    ("customer", "acme", "metadata", {"region": {"value": "us", "display_in_invoice": False}}, None),
    ("customer", "acme", "external_id", "acme", None),  # identity
    ("customer", "acme", "<delete>", None, "termination"),
    ("subscription", "sub_acme", "name", "Acme", None),
    ("subscription", "sub_acme", "plan_code", "basic", "plan"),
    ("subscription", "sub_acme", "billing_time", "anniversary", BLOCKED),
    ("subscription", "sub_acme", "external_customer_id", "beta", BLOCKED),
    ("subscription", "sub_acme", "external_id", "sub_acme", None),  # identity
    ("subscription", "sub_acme", "ending_at", "2027-12-31T00:00:00Z", "termination"),  # ends on that day
    ("subscription", "sub_acme", "<delete>", None, "termination"),
    ("applied_coupon", "acme/welcome", "frequency", "recurring", "discount"),
    ("applied_coupon", "acme/welcome", "frequency_duration", 2, "discount"),
    ("applied_coupon", "acme/welcome", "amount_cents", 500, "discount"),
    ("applied_coupon", "acme/welcome", "amount_currency", "EUR", "discount"),
    ("applied_coupon", "acme/welcome", "percentage_rate", "10", "discount"),
    ("applied_coupon", "acme/welcome", "coupon_code", "welcome", None),  # identity
    ("applied_coupon", "acme/welcome", "external_customer_id", "acme", None),  # identity
    ("applied_coupon", "acme/welcome", "<delete>", None, "discount"),
]

# identity fields: changing them is another object (a create and a delete), never an edit
IDENTITY = {"code", "external_id", "external_customer_id", "coupon_code", "billable_metric_code", "add_on_code"}


def states(subscribers: bool) -> tuple[dict, LiveState]:
    raw = copy.deepcopy(RAW)
    raw["plan"]["basic"] = {**copy.deepcopy(raw["plan"]["pro"]), "code": "basic", "amount_cents": 1900}
    raw["customer"]["beta"] = {"external_id": "beta", "name": "Beta", "currency": "EUR"}
    if not subscribers:
        raw["subscription"] = {}
    live = {kind: {key: model.from_yaml(kind, obj) for key, obj in objs.items()} for kind, objs in raw.items()}
    desired = copy.deepcopy(live)
    facts = LiveFacts(managed={"applied_coupon": set(live["applied_coupon"])},
                      metrics_in_use={"calls"}, coupons_applied={"welcome"})
    if subscribers:
        facts.plan_active_subscriptions = {"pro": 1}
        facts.plan_has_had_subscriptions = {"pro"}
        facts.applied_coupons_ever = set(live["applied_coupon"])
    return desired, LiveState(state=live, raw={}, facts=facts)


def _set(obj: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[part]
    obj[last] = value


def plan_for(kind: str, key: str, path: str, value: Any, subscribers: bool):
    desired, live = states(subscribers)
    if path == "<delete>":
        desired[kind][key] = {"ensure": "absent", "code": key, "external_id": key}
        if kind == "tax":  # what refers to it lets go in the same change
            desired["plan"]["pro"]["tax_codes"] = []
            desired["customer"]["acme"]["tax_codes"] = []
        if kind == "coupon":
            desired["applied_coupon"].pop("acme/welcome")
        if kind == "plan":  # Lago terminates the plan's subscriptions
            desired["subscription"].pop("sub_acme", None)
        if kind == "customer":  # the org and all it has go
            desired["subscription"].pop("sub_acme", None)
            desired["applied_coupon"].pop("acme/welcome", None)
        if kind == "applied_coupon":
            desired["applied_coupon"].pop(key)
    else:
        _set(desired[kind][key], path, value)
        if path == "expiration":
            desired[kind][key]["expiration_at"] = "2027-06-30T00:00:00Z"
    return make_plan(desired, live)


# without subscribers every row but the subscription's own (there is none to change) is checked too
CASES = [(*row, True) for row in ROWS] + [(*row, False) for row in ROWS if row[0] != "subscription"]


@pytest.mark.parametrize(("kind", "key", "path", "value", "expected", "subscribers"), CASES,
                         ids=[f"{'with' if c[5] else 'without'}-subscribers-{c[0]}.{c[2]}" for c in CASES])
def test_impact_and_gate(kind, key, path, value, expected, subscribers):
    plan = plan_for(kind, key, path, value, subscribers)
    # a delete takes what depends on it along (the plan's subscription, the coupon's applications): the
    # impact may sit on those operations
    own = [op for op in plan.operations if op.id == f"{kind}:{key}" or path == "<delete>"]
    changes = {i.change for op in own for i in op.impact}
    gated_reprice = any(op.reprices for op in own)
    if not subscribers:
        assert changes == set(), [i.sentence() for op in own for i in op.impact]
        assert not gated_reprice
        return
    if expected is BLOCKED:
        assert own and all(op.blocked for op in own), [op.describe() for op in own]
        assert changes == set()
    elif expected is None:
        assert changes == set(), [i.sentence() for op in own for i in op.impact]
        assert not gated_reprice
    else:
        assert changes == {expected}, ([op.describe() for op in own], [i.sentence() for op in own for i in op.impact])
        impacted = {i.subscription for op in own for i in op.impact}
        assert impacted == {"sub_acme"}
        if expected == "termination":
            assert all(op.destructive for op in own) and not gated_reprice
        else:
            assert gated_reprice


def test_every_managed_field_has_a_row():
    canonical = {kind: model.from_yaml(kind, next(iter(objs.values()))) for kind, objs in RAW.items()}
    wanted = {(kind, field) for kind, obj in canonical.items() for field in obj}
    wanted |= {("plan", f"{CH}.{f}") for f in canonical["plan"]["charges"]["calls"]}
    wanted |= {("plan", f"{FC}.{f}") for f in canonical["plan"]["fixed_charges"]["setup"]}
    wanted = {(k, f) for k, f in wanted if f.rsplit(".", 1)[-1] not in IDENTITY or (k, f) in {
        (kind, path) for kind, _, path, _, _ in ROWS}}
    wanted -= {("plan", "charges"), ("plan", "fixed_charges")}  # containers: listed field by field
    covered = {(kind, path) for kind, _, path, _, _ in ROWS}
    assert sorted(wanted - covered) == []
    assert {k for k, *_ in ROWS} == set(RAW)
    # every kind's delete is a row too, where the kind can be deleted with subscribers around
    assert {k for k, _, p, *_ in ROWS if p == "<delete>"} >= {"tax", "plan", "coupon", "customer", "subscription",
                                                              "applied_coupon"}
