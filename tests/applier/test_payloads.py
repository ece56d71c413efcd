"""Payload builders: canonical objects -> Lago request bodies (lago-behaviour#plan-charges-reconciled,
lago-behaviour#coupon-put-applies-to, lago-behaviour#customer-metadata-reconcile,
lago-behaviour#plan-change-upgrade-downgrade)."""

import pytest

from lagosync.applier import payloads as pl
from lagosync.errors import LagosyncError
from lagosync.kinds import split_version

PLAN = {
    "code": "pro", "name": "Pro", "invoice_display_name": None, "description": None,
    "interval": "yearly", "amount_cents": 4900, "amount_currency": "USD", "trial_period": "0",
    "pay_in_advance": True, "bill_charges_monthly": True, "tax_codes": ["vat"],
    "metadata": {"team": "growth"},
    "charges": {
        "api_call": {
            "code": "api_call", "billable_metric_code": "api_call", "charge_model": "standard",
            "invoice_display_name": None, "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
            "properties": {"amount": "0.002"},
            "filters": [{"invoice_display_name": "EU", "properties": {"amount": "0.003"},
                         "values": {"region": ["eu"]}}],
            "tax_codes": [],
        },
        "tokens": {
            "code": "tokens", "billable_metric_code": "tokens", "charge_model": "graduated",
            "invoice_display_name": None, "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
            "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"}]},
            "filters": [], "tax_codes": [],
        },
    },
}
METRIC_IDS = {"api_call": "bm-1", "tokens": "bm-2"}


def test_plan_create_resolves_metric_ids_and_keeps_decimals_as_strings():
    body = pl.plan_payload(PLAN, live_raw=None, metric_ids=METRIC_IDS)["plan"]
    charges = {c["code"]: c for c in body["charges"]}
    assert charges["api_call"]["billable_metric_id"] == "bm-1"
    assert charges["tokens"]["billable_metric_id"] == "bm-2"
    assert "id" not in charges["api_call"]
    assert charges["api_call"]["properties"] == {"amount": "0.002"}
    assert charges["api_call"]["filters"][0]["values"] == {"region": ["eu"]}
    assert charges["tokens"]["properties"]["graduated_ranges"][1]["per_unit_amount"] == "0.5"
    # lago-behaviour#plan-bill-charges-monthly: interval always travels with bill_charges_monthly
    assert body["interval"] == "yearly" and body["bill_charges_monthly"] is True
    assert body["trial_period"] == 0 and isinstance(body["trial_period"], int)
    assert body["metadata"] == {"team": "growth", "managed_by": "lagosync"}
    assert body["tax_codes"] == ["vat"]


def test_plan_update_keeps_charge_ids_and_drops_removed_charges():
    live = {
        "code": "pro", "metadata": {"managed_by": "lagosync", "lagosync_code": "pro", "old": "x"},
        "charges": [
            {"lago_id": "ch-1", "code": "api_call"},
            {"lago_id": "ch-9", "code": "seats"},  # not declared any more: left out => Lago deletes it
        ],
    }
    body = pl.plan_payload(PLAN, live_raw=live, metric_ids=METRIC_IDS)["plan"]
    charges = {c["code"]: c for c in body["charges"]}
    assert charges["api_call"]["id"] == "ch-1"
    assert "id" not in charges["tokens"]
    assert "seats" not in charges
    # every charge is a full object (lago-behaviour#charge-full-replace)
    for c in body["charges"]:
        assert {"charge_model", "invoice_display_name", "properties", "filters", "tax_codes"} <= set(c)
    # user metadata replaced, lagosync's own keys kept, stale user key 'old' dropped
    assert body["metadata"] == {"managed_by": "lagosync", "lagosync_code": "pro", "team": "growth"}


def test_plan_with_unknown_metric_is_a_clear_error():
    with pytest.raises(LagosyncError, match="billable metric 'tokens'.*does not exist"):
        pl.plan_payload(PLAN, live_raw=None, metric_ids={"api_call": "bm-1"})


def test_plan_version_code_and_metadata():
    body = pl.plan_payload(PLAN, live_raw=None, metric_ids=METRIC_IDS, code="pro__v3",
                           extra_metadata={"lagosync_code": "pro", "lagosync_version": "3"})["plan"]
    assert body["code"] == "pro__v3"
    assert body["metadata"]["lagosync_version"] == "3"
    assert split_version("pro__v3") == ("pro", 3) and split_version("pro") == ("pro", 1)


def test_customer_upsert_carries_metadata_ids_and_marker():
    after = {"external_id": "org_1", "name": "Acme", "email": None, "currency": None,
             "metadata": {"billing_type": {"value": "organization", "display_in_invoice": False},
                          "created_by_user_id": {"value": "u1", "display_in_invoice": True}}}
    live = {"external_id": "org_1", "metadata": [
        {"lago_id": "m-1", "key": "billing_type", "value": "user", "display_in_invoice": False},
        {"lago_id": "m-2", "key": "managed_by", "value": "lagosync", "display_in_invoice": False},
        {"lago_id": "m-3", "key": "stale", "value": "x", "display_in_invoice": False},
    ]}
    declared = {"external_id": "org_1", "name": "Acme", "email": None, "metadata": {}}
    body = pl.customer_payload(after, live, declared)["customer"]
    meta = {m["key"]: m for m in body["metadata"]}
    assert meta["billing_type"] == {"id": "m-1", "key": "billing_type", "value": "organization",
                                    "display_in_invoice": False}
    assert "id" not in meta["created_by_user_id"]
    assert meta["managed_by"]["id"] == "m-2"
    assert "stale" not in meta  # not declared => deleted by Lago (left out)
    assert "currency" not in body  # a null currency is never sent
    assert body["email"] is None  # declared as null: cleared

    # an org that does not write email/metadata leaves them to the application
    undeclared = pl.customer_payload({**after, "metadata": {}}, live, {"external_id": "org_1", "name": "Acme"})
    assert "email" not in undeclared["customer"]
    kept = {m["key"]: m.get("id") for m in undeclared["customer"]["metadata"]}
    assert kept == {"billing_type": "m-1", "managed_by": "m-2", "stale": "m-3"}

    fresh = pl.customer_payload(after, None)["customer"]
    assert {"key": "managed_by", "value": "lagosync", "display_in_invoice": False} in fresh["metadata"]


def test_coupon_always_sends_full_applies_to():
    after = {"code": "c10", "name": "10%", "description": None, "coupon_type": "percentage",
             "amount_cents": None, "amount_currency": None, "percentage_rate": "10", "frequency": "once",
             "frequency_duration": None, "expiration": "no_expiration", "expiration_at": None,
             "reusable": True, "applies_to": {"plan_codes": ["pro"], "billable_metric_codes": []}}
    body = pl.coupon_payload(after, {"pro": "pro__v2"}, create=False)["coupon"]
    assert body["applies_to"] == {"plan_codes": ["pro__v2"], "billable_metric_codes": []}
    assert body["percentage_rate"] == "10"
    created = pl.coupon_payload(after, {}, create=True)["coupon"]
    assert "amount_cents" not in created and created["applies_to"]["plan_codes"] == ["pro"]


def test_subscription_resends_name_and_uses_live_plan_code():
    after = {"external_id": "sub_org_1", "external_customer_id": "org_1", "plan_code": "pro",
             "name": None, "billing_time": "calendar"}
    body = pl.subscription_payload(after, "pro__v2")["subscription"]
    assert body == {"external_customer_id": "org_1", "plan_code": "pro__v2", "external_id": "sub_org_1",
                    "name": "", "billing_time": "calendar"}


def test_metric_and_tax_payloads():
    metric = {"code": "api_call", "name": "API", "description": None, "aggregation_type": "count_agg",
              "field_name": None, "recurring": False, "weighted_interval": None, "rounding_function": None,
              "rounding_precision": None, "expression": None, "filters": {"region": ["eu", "us"]}}
    created = pl.metric_payload(metric, create=True)["billable_metric"]
    assert "field_name" not in created and created["filters"] == [{"key": "region", "values": ["eu", "us"]}]
    updated = pl.metric_payload({**metric, "filters": {}}, create=False)["billable_metric"]
    assert updated["filters"] == [] and updated["description"] is None
    tax = pl.tax_payload({"code": "vat", "name": "VAT", "rate": "20", "description": None,
                          "applied_to_organization": False})["tax"]
    assert tax["rate"] == "20"


def test_paths_quote_codes():
    assert pl.path_for("plan", "a/b c") == "/plans/a%2Fb%20c"
    # lago-behaviour#route-segments: a dot in a customer or subscription id goes as %2E
    assert pl.path_for("subscription", "sub.1") == "/subscriptions/sub%2E1"
    assert pl.path_for("plan", "a.b") == "/plans/a.b"


def test_a_float_never_reaches_a_money_field():
    """Money is exact: the canonical model holds decimal strings; a float reaching a payload is a bug,
    refused rather than silently rounded through binary floating point."""
    import pytest

    from lagosync.applier import payloads

    assert payloads._dec_str("0.0010") == "0.0010"
    with pytest.raises(TypeError, match="float 0.1 where a decimal string belongs"):
        payloads._dec_str(0.1)
    with pytest.raises(TypeError):
        payloads._props({"graduated_ranges": [{"per_unit_amount": 0.000002}]})
