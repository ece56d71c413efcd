"""The canonical model: YAML form and API form of the same object normalise to equal dicts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lagosync import kinds, model
from lagosync.errors import UserError
from lagosync.model import (
    KINDS,
    decimal_str,
    fingerprint,
    from_api,
    from_yaml,
    yearly_amount_cents,
)

# --------------------------------------------------------------------------- decimals


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0010", "0.001"),
        ("5.00", "5"),
        ("0", "0"),
        ("0.000", "0"),
        ("-0.0", "0"),
        ("1E+3", "1000"),
        ("1e-7", "0.0000001"),
        ("  3.140 ", "3.14"),
        (12, "12"),
        (Decimal("2.50"), "2.5"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_decimal_str_canonical(value, expected):
    assert decimal_str(value) == expected


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan")])
def test_decimal_str_rejects_floats_with_clear_error(value):
    with pytest.raises(UserError, match="float; write decimals as strings"):
        decimal_str(value, what="charges[0].properties.amount")


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", None, True, [1]])
def test_decimal_str_rejects_non_numbers(value):
    with pytest.raises(UserError):
        decimal_str(value)


def test_decimal_str_api_floats_use_shortest_repr():
    # 0.1 + 0.2 style artefacts never come from the float's binary value
    assert decimal_str(0.1, allow_float=True) == "0.1"
    assert decimal_str(20.0, allow_float=True) == "20"
    assert decimal_str(8.25, allow_float=True) == "8.25"
    assert Decimal(0.1) != Decimal("0.1")  # the trap the function avoids


def test_kinds_dependency_order():
    assert KINDS == ("tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription",
                     "applied_coupon", "migration")


# --------------------------------------------------------------------------- tax (lago-behaviour#tax-response)


def test_tax_yaml_equals_api_float_rate():
    yaml_obj = {"code": "vat_20", "name": "VAT", "rate": "20.00"}
    api_obj = {
        "lago_id": "u1", "code": "vat_20", "name": "VAT", "rate": 20.0, "description": None,
        "applied_to_organization": False, "add_ons_count": 0, "charges_count": 0,
        "created_at": "2026-01-01T00:00:00Z", "applied_to_billing_entities_codes": [],
    }
    assert from_yaml("tax", yaml_obj) == from_api("tax", api_obj) == {
        "code": "vat_20", "name": "VAT", "rate": "20", "description": None,
        "applied_to_organization": False,
    }


def test_tax_rate_float_in_yaml_is_an_error():
    with pytest.raises(UserError, match="tax 'vat': rate"):
        from_yaml("tax", {"code": "vat", "name": "VAT", "rate": 8.5})


def test_tax_fractional_float_rate_from_api():
    assert from_api("tax", {"code": "t", "name": "T", "rate": 8.1})["rate"] == "8.1"


# --------------------------------------------------------------------------- billable metric (lago-behaviour#metric-field-name)


def test_metric_yaml_equals_api():
    yaml_obj = {
        "code": "api_call", "name": "API calls", "aggregation_type": "count_agg",
        "field_name": "ignored_by_lago",
        "filters": [{"key": "model", "values": ["gpt-b", "gpt-a"]}, {"key": "endpoint", "values": ["/v1"]}],
    }
    api_obj = {
        "lago_id": "m1", "code": "api_call", "name": "API calls", "description": None,
        "aggregation_type": "count_agg", "weighted_interval": None, "recurring": False,
        "rounding_function": None, "rounding_precision": None, "created_at": "x",
        "field_name": None, "expression": None, "active_subscriptions_count": 0,
        "draft_invoices_count": 0, "plans_count": 0,
        "filters": [{"key": "endpoint", "values": ["/v1"]}, {"key": "model", "values": ["gpt-a", "gpt-b"]}],
    }
    canon = from_yaml("billable_metric", yaml_obj)
    assert canon == from_api("billable_metric", api_obj)
    assert canon["field_name"] is None
    assert canon["filters"] == {"endpoint": ["/v1"], "model": ["gpt-a", "gpt-b"]}
    assert set(canon) == {
        "code", "name", "description", "aggregation_type", "field_name", "recurring",
        "weighted_interval", "rounding_function", "rounding_precision", "expression", "filters",
    }


def test_metric_field_name_kept_for_sum():
    canon = from_yaml("billable_metric", {"code": "t", "name": "T", "aggregation_type": "sum_agg",
                                          "field_name": "tokens"})
    assert canon["field_name"] == "tokens"
    assert canon["recurring"] is False and canon["filters"] == {}


def test_metric_change_is_visible():
    a = from_yaml("billable_metric", {"code": "t", "name": "T", "aggregation_type": "sum_agg",
                                      "field_name": "tokens"})
    b = from_api("billable_metric", {"code": "t", "name": "T", "aggregation_type": "max_agg",
                                     "field_name": "tokens"})
    assert a != b


# --------------------------------------------------------------------------- add-on (lago-behaviour#add-on-amount-positive)


def test_add_on_yaml_equals_api():
    yaml_obj = {"code": "setup", "name": "Setup", "amount_cents": 50000, "amount_currency": "USD",
                "tax_codes": ["vat_b", "vat_a"]}
    api_obj = {"lago_id": "a1", "code": "setup", "name": "Setup", "invoice_display_name": None,
               "amount_cents": 50000, "amount_currency": "USD", "created_at": "x", "description": "",
               "taxes": [{"lago_id": "t", "code": "vat_a", "rate": 1.0}, {"code": "vat_b", "rate": 2.0}]}
    canon = from_yaml("add_on", yaml_obj)
    assert canon == from_api("add_on", api_obj)
    assert canon["tax_codes"] == ["vat_a", "vat_b"]


def test_add_on_float_cents_rejected():
    with pytest.raises(UserError, match="amount_cents"):
        from_yaml("add_on", {"code": "x", "name": "X", "amount_cents": 10.5, "amount_currency": "USD"})


# --------------------------------------------------------------------------- plan and charges (lago-behaviour#charge-properties-defaults)

YAML_PLAN = {
    "code": "professional",
    "name": "Professional",
    "interval": "monthly",
    "amount_cents": 4900,
    "amount_currency": "USD",
    "pay_in_advance": True,
    "bill_charges_monthly": True,  # ignored by Lago for monthly plans
    "tax_codes": ["vat"],
    "metadata": {"tier": "pro"},
    "charges": [
        {   # no code: Lago uses the metric code
            "billable_metric_code": "api_call",
            "charge_model": "standard",
            "properties": {"amount": "0.0010", "grouped_by": ["org_id"]},
            "filters": [
                {"values": {"endpoint": ["/v2", "/v1"]}, "properties": {"amount": "0.002"},
                 "invoice_display_name": "API v1/v2"},
                {"values": {"endpoint": ["/embed"]}, "properties": {"amount": "0.0005"}},
            ],
        },
        {
            "code": "tokens_graduated",
            "billable_metric_code": "tokens",
            "charge_model": "graduated",
            "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 1000, "to_value": None, "per_unit_amount": "0.00020", "flat_amount": "0.0"},
            ]},
        },
        {"code": "seats", "billable_metric_code": "seats", "charge_model": "package"},
    ],
}

API_PLAN = {
    "lago_id": "p1", "name": "Professional", "invoice_display_name": None, "created_at": "x",
    "code": "professional", "interval": "monthly", "description": None, "amount_cents": 4900,
    "amount_currency": "USD", "trial_period": 0.0, "pay_in_advance": True,
    "bill_charges_monthly": None, "bill_fixed_charges_monthly": None, "customers_count": 0,
    "active_subscriptions_count": 0, "draft_invoices_count": 0, "parent_id": None,
    "pending_deletion": False,
    "metadata": {"tier": "pro", "managed_by": "lagosync", "lagosync_code": "professional",
                 "lagosync_version": "1"},
    "taxes": [{"lago_id": "t1", "code": "vat", "rate": 20.0}],
    "usage_thresholds": [],
    "charges": [
        {
            "lago_id": "c3", "code": "seats", "billable_metric_code": "seats", "charge_model": "package",
            "invoice_display_name": "", "pay_in_advance": False, "prorated": False, "invoiceable": True,
            "min_amount_cents": 0, "properties": {"amount": "0", "package_size": 1, "free_units": 0},
            "filters": [], "taxes": [],
        },
        {
            "lago_id": "c2", "code": "tokens_graduated", "billable_metric_code": "tokens",
            "charge_model": "graduated", "pay_in_advance": False, "prorated": False,
            "min_amount_cents": 0, "regroup_paid_fees": None,
            "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0.0", "flat_amount": "0.0"},
                {"from_value": 1000, "to_value": None, "per_unit_amount": "0.0002", "flat_amount": "0"},
            ]},
            "filters": [], "taxes": [],
        },
        {
            "lago_id": "c1", "lago_billable_metric_id": "m1", "code": "api_call",
            "billable_metric_code": "api_call", "charge_model": "standard", "invoice_display_name": None,
            "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
            "properties": {"amount": "0.001", "grouped_by": ["org_id"], "pricing_group_keys": ["org_id"],
                           "unknown_key": "stripped by lago"},
            "filters": [
                {"lago_id": "f2", "charge_code": "api_call", "invoice_display_name": None,
                 "properties": {"amount": "0.00050"}, "values": {"endpoint": ["/embed"]}},
                {"lago_id": "f1", "charge_code": "api_call", "invoice_display_name": "API v1/v2",
                 "properties": {"amount": "0.002"}, "values": {"endpoint": ["/v1", "/v2"]}},
            ],
            "taxes": [],
        },
    ],
}


def test_plan_yaml_equals_api():
    canon = from_yaml("plan", YAML_PLAN)
    assert canon == from_api("plan", API_PLAN)
    assert set(canon) == {
        "code", "name", "invoice_display_name", "description", "interval", "amount_cents",
        "amount_currency", "trial_period", "pay_in_advance", "bill_charges_monthly", "tax_codes",
        "metadata", "charges", "fixed_charges",
    }
    assert canon["bill_charges_monthly"] is None
    assert canon["trial_period"] == "0"
    assert canon["metadata"] == {"tier": "pro"}  # markers removed
    assert list(canon["charges"]) == ["api_call", "tokens_graduated", "seats"]
    api_call = canon["charges"]["api_call"]
    assert api_call["properties"] == {"amount": "0.001", "pricing_group_keys": ["org_id"]}
    assert [f["values"] for f in api_call["filters"]] == [{"endpoint": ["/embed"]}, {"endpoint": ["/v1", "/v2"]}]
    assert canon["charges"]["seats"]["properties"] == {"amount": "0", "package_size": 1, "free_units": 0}


def test_plan_price_change_is_visible():
    changed = dict(API_PLAN, amount_cents=5900)
    assert from_yaml("plan", YAML_PLAN) != from_api("plan", changed)


def test_charge_amount_change_is_visible():
    import copy

    live = copy.deepcopy(API_PLAN)
    live["charges"][2]["properties"]["amount"] = "0.0011"
    assert from_yaml("plan", YAML_PLAN)["charges"]["api_call"] != from_api("plan", live)["charges"]["api_call"]


def test_bill_charges_monthly_kept_for_yearly():
    base = {"code": "y", "name": "Y", "amount_cents": 1, "amount_currency": "USD", "pay_in_advance": False}
    assert from_yaml("plan", {**base, "interval": "yearly", "bill_charges_monthly": True})[
        "bill_charges_monthly"] is True
    assert from_api("plan", {**base, "interval": "semiannual", "bill_charges_monthly": None})[
        "bill_charges_monthly"] is False
    assert from_api("plan", {**base, "interval": "quarterly", "bill_charges_monthly": True})[
        "bill_charges_monthly"] is None


def test_trial_period_float_days_from_api_equals_yaml_int():
    base = {"code": "t", "name": "T", "interval": "monthly", "amount_cents": 100, "amount_currency": "USD"}
    assert from_yaml("plan", {**base, "trial_period": 14}) == from_api("plan", {**base, "trial_period": 14.0})
    assert from_api("plan", {**base, "trial_period": 0.5})["trial_period"] == "0.5"


@pytest.mark.parametrize(
    ("charge_model", "default"),
    [
        ("standard", {"amount": "0"}),
        ("package", {"amount": "0", "package_size": 1, "free_units": 0}),
        ("percentage", {"rate": "0"}),
        ("graduated", {"graduated_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]}),
        ("volume", {"volume_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]}),
        ("graduated_percentage", {"graduated_percentage_ranges": [
            {"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}]}),
        ("dynamic", {}),
    ],
)
def test_charge_property_defaults_per_model(charge_model, default):
    charge = {"billable_metric_code": "m", "charge_model": charge_model}
    assert model.canonical_charge(charge)["properties"] == default
    # the server's explicit defaults normalise the same way
    assert model.canonical_charge({**charge, "properties": default}, api=True)["properties"] == default


def test_charge_unknown_properties_stripped_per_model():
    props = {"amount": "1", "rate": "5", "graduated_ranges": [], "package_size": 3}
    assert model.canonical_properties("standard", props) == {"amount": "1"}
    assert model.canonical_properties("percentage", props) == {"rate": "5"}


def test_percentage_zero_optionals_equal_absent():
    a = model.canonical_properties("percentage", {"rate": "1.50", "fixed_amount": "0.00"})
    b = model.canonical_properties("percentage", {"rate": "1.5"}, api=True)
    assert a == b == {"rate": "1.5"}
    assert model.canonical_properties("percentage", {"rate": "1", "fixed_amount": "0.10"}) == {
        "rate": "1", "fixed_amount": "0.1"}


def test_charge_float_amount_rejected_with_path():
    with pytest.raises(UserError, match=r"plan 'p'.charges\[0\].properties.amount"):
        from_yaml("plan", {"code": "p", "name": "P", "interval": "monthly", "amount_cents": 0,
                           "amount_currency": "USD",
                           "charges": [{"billable_metric_code": "m", "charge_model": "standard",
                                        "properties": {"amount": 0.002}}]})


def test_charge_range_order_matters():
    r1 = {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"}
    r2 = {"from_value": 10, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"}
    a = model.canonical_properties("graduated", {"graduated_ranges": [r1, r2]})
    b = model.canonical_properties("graduated", {"graduated_ranges": [r2, r1]})
    assert a != b


def test_charge_tax_codes_sorted_and_from_taxes():
    a = model.canonical_charge({"billable_metric_code": "m", "tax_codes": ["b", "a"]})
    b = model.canonical_charge({"billable_metric_code": "m", "code": "m",
                                "taxes": [{"code": "a"}, {"code": "b"}]}, api=True)
    assert a == b and a["tax_codes"] == ["a", "b"]


# --------------------------------------------------------------------------- coupon (lago-behaviour#coupon-response)


def test_coupon_percentage_yaml_equals_api():
    yaml_obj = {"code": "launch", "name": "Launch", "coupon_type": "percentage", "percentage_rate": "10.00",
                "frequency": "recurring", "frequency_duration": 3,
                "applies_to": {"plan_codes": ["starter", "professional"]},
                "expiration": "time_limit", "expiration_at": dt.date(2026, 12, 31)}
    api_obj = {"lago_id": "c", "name": "Launch", "code": "launch", "description": None,
               "coupon_type": "percentage", "amount_cents": None, "amount_currency": None,
               "percentage_rate": "10.0", "frequency": "recurring", "frequency_duration": 3,
               "reusable": True, "limited_plans": True, "limited_billable_metrics": False,
               "plan_codes": ["professional", "starter"], "billable_metric_codes": [],
               "created_at": "x", "expiration": "time_limit", "expiration_at": "2026-12-31T00:00:00Z",
               "terminated_at": None}
    canon = from_yaml("coupon", yaml_obj)
    assert canon == from_api("coupon", api_obj)
    assert canon["applies_to"] == {"plan_codes": ["professional", "starter"], "billable_metric_codes": []}
    assert canon["percentage_rate"] == "10" and canon["amount_cents"] is None
    assert canon["expiration_at"] == "2026-12-31T00:00:00Z"


def test_coupon_fixed_defaults():
    yaml_obj = {"code": "c10", "name": "Ten", "coupon_type": "fixed_amount", "amount_cents": 1000,
                "amount_currency": "USD"}
    api_obj = {**yaml_obj, "percentage_rate": None, "frequency": "once", "frequency_duration": 0,
               "expiration": "no_expiration", "expiration_at": None, "reusable": True,
               "plan_codes": [], "billable_metric_codes": []}
    canon = from_yaml("coupon", yaml_obj)
    assert canon == from_api("coupon", api_obj)
    assert canon["frequency"] == "once" and canon["frequency_duration"] is None
    assert canon["reusable"] is True and canon["percentage_rate"] is None


def test_coupon_expiration_timezones_equal():
    base = {"code": "c", "name": "C", "coupon_type": "fixed_amount", "amount_cents": 1, "amount_currency": "USD",
            "expiration": "time_limit"}
    a = from_yaml("coupon", {**base, "expiration_at": "2026-06-01T02:00:00+02:00"})
    b = from_api("coupon", {**base, "expiration_at": "2026-06-01T00:00:00Z"})
    assert a == b


# --------------------------------------------------------------------------- customer (lago-behaviour#customer-metadata)


def test_customer_yaml_equals_api_with_metadata():
    yaml_obj = {"external_id": "org_1", "name": "Acme", "email": "b@acme.test", "currency": "USD",
                "metadata": {"created_by_user_id": 42, "billing_type": "organization"},
                "billing_configuration": {"document_locale": "fr"}, "tax_codes": ["vat"],
                "subscriptions": [{"plan_code": "starter"}]}
    api_obj = {"lago_id": "cu1", "external_id": "org_1", "name": "Acme", "email": "b@acme.test",
               "currency": "USD", "sequential_id": 7, "slug": "x", "created_at": "x", "phone": "+1",
               "billing_configuration": {"document_locale": "fr", "payment_provider": None,
                                         "invoice_grace_period": 0},
               "taxes": [{"code": "vat"}],
               "metadata": [
                   {"lago_id": "md1", "key": "managed_by", "value": "lagosync", "display_in_invoice": False},
                   {"lago_id": "md2", "key": "created_by_user_id", "value": "42", "display_in_invoice": False},
                   {"lago_id": "md3", "key": "billing_type", "value": "organization",
                    "display_in_invoice": False, "created_at": "x"},
               ]}
    canon = from_yaml("customer", yaml_obj)
    assert canon == from_api("customer", api_obj, declared=yaml_obj)
    assert canon["metadata"] == {
        "billing_type": {"value": "organization", "display_in_invoice": False},
        "created_by_user_id": {"value": "42", "display_in_invoice": False},
    }
    assert "subscriptions" not in canon and "phone" not in canon


def test_customer_metadata_list_form_and_display_flag():
    a = from_yaml("customer", {"external_id": "o", "metadata": [
        {"key": "k", "value": "v", "display_in_invoice": True}]})
    b = from_yaml("customer", {"external_id": "o", "metadata": {"k": {"value": "v", "display_in_invoice": True}}})
    assert a == b
    c = from_yaml("customer", {"external_id": "o", "metadata": {"k": "v"}})
    assert a != c


def test_customer_undeclared_fields_not_compared():
    declared = {"external_id": "o", "name": "Org"}
    live = {"external_id": "o", "name": "Org", "email": "set@elsewhere.test", "currency": "EUR",
            "metadata": [{"key": "from_app", "value": "1"}]}
    assert from_yaml("customer", declared) == from_api("customer", live, declared=declared)
    # an unmanaged customer keeps its base fields
    unmanaged = from_api("customer", live)
    assert unmanaged["email"] == "set@elsewhere.test" and unmanaged["currency"] == "EUR"
    assert unmanaged["metadata"] == {"from_app": {"value": "1", "display_in_invoice": False}}


def test_customer_declared_metadata_reports_extra_live_entries():
    declared = {"external_id": "o", "metadata": {"a": "1"}}
    live = {"external_id": "o", "metadata": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}
    assert from_yaml("customer", declared) != from_api("customer", live, declared=declared)


# --------------------------------------------------------------------------- subscription (lago-behaviour#subscription-defaults)


def test_subscription_yaml_equals_api():
    yaml_obj = {"external_id": "sub_org_1", "external_customer_id": "org_1", "plan_code": "starter"}
    api_obj = {"lago_id": "s", "external_id": "sub_org_1", "external_customer_id": "org_1",
               "plan_code": "starter", "name": "", "status": "active", "billing_time": "calendar",
               "subscription_at": "x", "next_plan_code": None}
    assert from_yaml("subscription", yaml_obj) == from_api("subscription", api_obj) == {
        "external_id": "sub_org_1", "external_customer_id": "org_1", "plan_code": "starter",
        "name": None, "billing_time": "calendar", "ending_at": None,
    }


def test_subscription_ending_at_is_compared_only_where_declared():
    api_obj = {"external_id": "s", "external_customer_id": "o", "plan_code": "p", "ending_at": "2099-06-30T00:00:00Z"}
    undeclared = {"external_id": "s", "external_customer_id": "o", "plan_code": "p"}
    assert from_api("subscription", api_obj, declared=undeclared)["ending_at"] is None
    declared = {**undeclared, "ending_at": "2099-06-30"}
    assert from_yaml("subscription", declared)["ending_at"] == "2099-06-30T00:00:00Z"
    assert from_api("subscription", api_obj, declared=declared)["ending_at"] == "2099-06-30T00:00:00Z"
    assert from_api("subscription", api_obj)["ending_at"] == "2099-06-30T00:00:00Z"  # nothing declares it: kept


# --------------------------------------------------------------------------- helpers


def test_fingerprint_stable_and_sensitive():
    a = {"code": "x", "charges": {"b": {"v": "1"}, "a": {"v": "2"}}}
    b = {"charges": {"a": {"v": "2"}, "b": {"v": "1"}}, "code": "x"}
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 64
    assert fingerprint(a) != fingerprint({**a, "code": "y"})


@pytest.mark.parametrize(
    ("interval", "expected"),
    [("weekly", 52 * 4900), ("monthly", 12 * 4900), ("quarterly", 4 * 4900), ("semiannual", 2 * 4900),
     ("yearly", 4900)],
)
def test_yearly_amount_cents(interval, expected):
    assert yearly_amount_cents({"interval": interval, "amount_cents": 4900}) == expected


def test_yearly_amount_unknown_interval():
    with pytest.raises(UserError):
        yearly_amount_cents({"code": "p", "interval": "daily", "amount_cents": 1})


def test_unknown_kind_is_programming_error():
    with pytest.raises(ValueError):
        from_yaml("wallet", {})


def test_canonical_state_covers_all_kinds():
    state = model.canonical_state({"tax": {"vat": {"code": "vat", "name": "VAT", "rate": "20"}}})
    assert list(state) == list(KINDS)
    assert state["tax"]["vat"]["rate"] == "20"


def test_example_workspace_objects_are_canonical():
    """Every object of the example workspace at the repository root normalises, twice the same."""
    from pathlib import Path

    from lagosync.workspace import load_workspace

    root = Path(__file__).resolve().parents[2]
    ws = load_workspace(root)
    state = model.canonical_state(ws.desired)
    assert state["plan"] and state["customer"] and state["subscription"]
    for kind, objects in state.items():
        for key, canon in objects.items():
            assert kinds.key_of(kind, canon) == key
    assert state["plan"]["trial"]["trial_period"] == "14"
    # auto charge codes: every charge is keyed by a code
    for plan in state["plan"].values():
        assert all(code == charge["code"] for code, charge in plan["charges"].items())
