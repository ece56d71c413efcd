"""A fixed plan that exercises every action and the main reasons, for golden renderings."""

from __future__ import annotations

import pytest

from lagosync import model
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner import make_plan


def _plan(code, amount, interval="monthly", charges=None, **extra):
    return {"code": code, "name": code.title(), "interval": interval, "amount_cents": amount,
            "amount_currency": "EUR", "pay_in_advance": False, "charges": charges or [], **extra}


def _state(raw: dict) -> dict:
    return {kind: {k: model.from_yaml(kind, o) for k, o in objs.items()} for kind, objs in raw.items()}


API = {"billable_metric_code": "api_calls", "charge_model": "standard", "properties": {"amount": "0.001"}}
SEATS = {"billable_metric_code": "seats", "charge_model": "standard", "properties": {"amount": "5"}}

LIVE = {
    "tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20"}},
    "billable_metric": {
        "api_calls": {"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"},
        "seats": {"code": "seats", "name": "Seats", "aggregation_type": "max_agg", "field_name": "n"},
        "old_metric": {"code": "old_metric", "name": "Old", "aggregation_type": "count_agg"},
    },
    "add_on": {},
    "plan": {
        "professional": _plan("professional", 4900, charges=[API, SEATS], tax_codes=["vat"]),
        "starter": _plan("starter", 1900, charges=[API]),
        "legacy": _plan("legacy", 900),
        "handmade": _plan("handmade", 100),
    },
    "coupon": {"welcome": {"code": "welcome", "name": "Welcome", "coupon_type": "fixed_amount",
                           "amount_cents": 1000, "amount_currency": "EUR"}},
    "customer": {"acme": {"external_id": "acme", "name": "Acme", "metadata": {"region": "eu"}}},
    "subscription": {
        "sub_acme": {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "starter",
                     "name": "Acme"},
        "sub_acme_2": {"external_id": "sub_acme_2", "external_customer_id": "acme", "plan_code": "starter",
                       "name": "Acme 2"},
    },
}

DESIRED = {
    "tax": {"vat": LIVE["tax"]["vat"], "gst": {"code": "gst", "name": "GST", "rate": "5.00"}},
    "billable_metric": {
        "api_calls": LIVE["billable_metric"]["api_calls"],
        "seats": {**LIVE["billable_metric"]["seats"], "aggregation_type": "latest_agg"},
        "old_metric": {"ensure": "absent"},
    },
    "add_on": {"onboarding": {"code": "onboarding", "name": "Onboarding", "amount_cents": 50000,
                              "amount_currency": "EUR"}},
    "plan": {
        "professional": _plan("professional", 5900, charges=[{**API, "properties": {"amount": "0.0015"}}],
                              tax_codes=["vat"]),
        "starter": _plan("starter", 19000, interval="yearly", charges=[API]),
        "legacy": {"ensure": "absent"},
    },
    "coupon": {"welcome": {**LIVE["coupon"]["welcome"], "amount_cents": 1500}},
    "customer": {"acme": {"external_id": "acme", "name": "Acme Inc.", "metadata": {"region": "eu", "tier": "gold"}}},
    "subscription": {
        "sub_acme": LIVE["subscription"]["sub_acme"],
        "sub_acme_2": {**LIVE["subscription"]["sub_acme_2"], "plan_code": "professional"},
    },
}


def scenario_plan():
    desired = {kind: {k: (o if o.get("ensure") == "absent" else model.from_yaml(kind, o)) for k, o in objs.items()}
               for kind, objs in DESIRED.items()}
    facts = LiveFacts(
        plan_active_subscriptions={"professional": 37, "starter": 2, "legacy": 3},
        plan_has_had_subscriptions={"professional", "starter", "legacy"},
        metrics_in_use={"api_calls", "seats"},
        coupons_applied={"welcome"},
        managed={"plan": {"professional", "starter", "legacy"}, "customer": {"acme"}},
        pending_downgrades={},
        plan_versions={"professional": "professional", "starter": "starter"},
    )
    live = LiveState(state=_state(LIVE), raw={}, facts=facts)
    return make_plan(desired, live, environment="staging", lago_url="https://lago.example.test",
                     workspace_digest="0" * 64, created_at="2025-01-01T00:00:00+00:00")


@pytest.fixture
def plan():
    return scenario_plan()
