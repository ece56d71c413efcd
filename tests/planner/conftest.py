"""Builders for planner tests: canonical dicts through lagosync.model, LiveState/LiveFacts values."""

from __future__ import annotations

import copy

import pytest

from lagosync import model
from lagosync.facts import LiveFacts, LiveState

RAW = {
    "tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20.00"}},
    "billable_metric": {
        "api_calls": {"code": "api_calls", "name": "API calls", "aggregation_type": "count_agg"},
        "storage": {"code": "storage", "name": "Storage", "aggregation_type": "max_agg", "field_name": "gb"},
    },
    "add_on": {"setup": {"code": "setup", "name": "Setup", "amount_cents": 10000, "amount_currency": "EUR"}},
    "plan": {
        "pro": {
            "code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 4900,
            "amount_currency": "EUR", "pay_in_advance": False, "tax_codes": ["vat"],
            "charges": [
                {"billable_metric_code": "api_calls", "charge_model": "standard", "properties": {"amount": "0.001"}},
                {"billable_metric_code": "storage", "charge_model": "standard", "properties": {"amount": "0.5"}},
            ],
        },
        "basic": {
            "code": "basic", "name": "Basic", "interval": "monthly", "amount_cents": 1900,
            "amount_currency": "EUR", "pay_in_advance": False,
            "charges": [{"billable_metric_code": "api_calls", "charge_model": "standard",
                         "properties": {"amount": "0.002"}}],
        },
    },
    "coupon": {
        "welcome": {"code": "welcome", "name": "Welcome", "coupon_type": "fixed_amount", "amount_cents": 1000,
                    "amount_currency": "EUR", "frequency": "once"},
    },
    "customer": {
        "acme": {"external_id": "acme", "name": "Acme", "email": "billing@acme.test", "currency": "EUR",
                 "metadata": {"region": "eu"}},
    },
    "subscription": {
        "sub_acme": {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro",
                     "name": "Acme Pro"},
    },
}


def canon(kind: str, key: str, **changes) -> dict:
    """Canonical dict of RAW[kind][key] with top-level raw fields replaced by ``changes``."""
    raw = copy.deepcopy(RAW[kind][key])
    raw.update(changes)
    return model.from_yaml(kind, raw)


def full_state() -> dict:
    return {kind: {key: canon(kind, key) for key in objs} for kind, objs in RAW.items()}


def live(state: dict, **facts) -> LiveState:
    return LiveState(state=state, raw={}, facts=LiveFacts(**facts))  # unknown fact names: TypeError


@pytest.fixture
def builders():
    class B:
        pass

    b = B()
    b.canon, b.full_state, b.live, b.RAW = canon, full_state, live, RAW
    b.LiveFacts, b.LiveState = LiveFacts, LiveState
    return b
