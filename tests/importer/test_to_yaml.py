"""to_yaml is the inverse of model.from_yaml, and what it writes is valid against the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from lagosync import kinds, model
from lagosync.importer import build_files, dump, parse_select, to_yaml

ROOT = Path(__file__).resolve().parents[2]

API = {
    "tax": [{"lago_id": "t1", "code": "vat_20", "name": "VAT", "rate": 20.0, "description": None,
             "applied_to_organization": False, "created_at": "2026-01-01T00:00:00Z", "plans_count": 3}],
    "billable_metric": [
        {"lago_id": "m1", "code": "api_calls", "name": "API calls", "description": "", "aggregation_type": "sum_agg",
         "field_name": "count", "recurring": False, "weighted_interval": None, "rounding_function": None,
         "rounding_precision": None, "expression": None, "active_subscriptions_count": 4,
         "filters": [{"key": "region", "values": ["us", "eu"]}]},
        {"lago_id": "m2", "code": "seats", "name": "Seats", "aggregation_type": "count_agg", "field_name": None,
         "recurring": True, "filters": []},
    ],
    "add_on": [{"lago_id": "a1", "code": "setup", "name": "Setup", "amount_cents": 10000,
                "amount_currency": "EUR", "invoice_display_name": None, "taxes": [{"code": "vat_20"}]}],
    "plan": [{
        "lago_id": "p1", "code": "pro", "name": "Pro", "interval": "yearly", "amount_cents": 49000,
        "amount_currency": "EUR", "trial_period": 14.0, "pay_in_advance": True, "bill_charges_monthly": True,
        "metadata": {"managed_by": "lagosync", "tier": "2"}, "taxes": [{"code": "vat_20"}],
        "charges": [
            {"lago_id": "c1", "code": "api_calls", "billable_metric_code": "api_calls", "charge_model": "standard",
             "invoice_display_name": "", "pay_in_advance": False, "prorated": False, "min_amount_cents": 0,
             "properties": {"amount": "0.0020"},
             "filters": [{"lago_id": "f1", "invoice_display_name": "EU", "properties": {"amount": "0.003"},
                          "values": {"region": ["eu"]}}], "taxes": []},
            {"lago_id": "c2", "code": "seats_tiered", "billable_metric_code": "seats", "charge_model": "graduated",
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                 {"from_value": 11, "to_value": None, "per_unit_amount": "5.50", "flat_amount": "0"}]},
             "filters": [], "taxes": []},
        ]}],
    "coupon": [
        {"lago_id": "k1", "code": "welcome", "name": "Welcome", "coupon_type": "percentage",
         "percentage_rate": 10.0, "frequency": "recurring", "frequency_duration": 3, "expiration": "time_limit",
         "expiration_at": "2027-01-01T00:00:00Z", "reusable": False, "plan_codes": ["pro"],
         "billable_metric_codes": []},
        {"lago_id": "k2", "code": "fifty", "name": "Fifty off", "coupon_type": "fixed_amount", "amount_cents": 5000,
         "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration", "reusable": True},
    ],
    "customer": [{"lago_id": "u1", "external_id": "org_acme", "name": "Acme", "email": "b@acme.test",
                  "currency": "EUR", "sequential_id": 4,
                  "metadata": [{"lago_id": "md1", "key": "managed_by", "value": "lagosync"},
                               {"lago_id": "md2", "key": "crm", "value": "A-1", "display_in_invoice": True}]}],
    "subscription": [{"lago_id": "s1", "external_id": "sub_org_acme", "external_customer_id": "org_acme",
                      "plan_code": "pro", "name": "", "billing_time": "anniversary", "status": "active"}],
}


def _state() -> dict:
    return {k: {kinds.key_of(k, o): model.from_api(k, o) for o in objs} for k, objs in API.items()}


def test_to_yaml_inverts_from_yaml_for_every_kind():
    state = _state()
    for kind, objs in state.items():
        for key, canon in objs.items():
            written = to_yaml(kind, canon, only_subscription=True)
            if kind == "subscription":  # the loader flattens orgs.yaml and names sub_<org> (ARCHITECTURE)
                written = {"external_id": f"sub_{canon['external_customer_id']}",
                           "external_customer_id": canon["external_customer_id"], **written}
            assert model.from_yaml(kind, written) == canon, (kind, key, written)


def test_readable_output_has_no_server_fields_and_decimal_strings():
    plan = to_yaml("plan", _state()["plan"]["pro"])
    text = yaml.safe_dump(plan)
    for server_only in ("lago_id", "created_at", "sequential_id", "plans_count", "managed_by"):
        assert server_only not in text
    charges = {c["billable_metric_code"]: c for c in plan["charges"]}
    assert charges["api_calls"]["properties"] == {"amount": "0.002"}
    assert "code" not in charges["api_calls"]  # default: the metric code
    assert charges["seats"]["code"] == "seats_tiered"
    assert charges["seats"]["properties"]["graduated_ranges"][1]["per_unit_amount"] == "5.5"
    assert plan["trial_period"] == 14 and plan["metadata"] == {"tier": "2"}
    # a decimal string stays a string through YAML (quoted), never becomes a float
    assert yaml.safe_load(dump({"plans": [plan]}))["plans"][0]["charges"][0]["properties"]["amount"] == "0.002"


def test_files_valid_against_schemas_and_layout():
    files, skipped = build_files(_state())
    assert skipped == []
    assert set(files) == {"plans/catalog.yaml", "plans/pro.yaml", "orgs.yaml"}
    plans_schema = json.loads((ROOT / "schemas/plans.schema.json").read_text())
    orgs_schema = json.loads((ROOT / "schemas/orgs.schema.json").read_text())
    for rel, doc in files.items():
        loaded = yaml.safe_load(dump(doc))
        jsonschema.validate(loaded, orgs_schema if rel == "orgs.yaml" else plans_schema)
    org = files["orgs.yaml"]["orgs"][0]
    assert org["subscriptions"] == [{"plan_code": "pro", "billing_time": "anniversary"}]
    assert org["metadata"] == [{"key": "crm", "value": "A-1", "display_in_invoice": True}]


def test_select_and_already_declared_objects():
    notes: list[str] = []
    files, skipped = build_files(_state(), select=parse_select(["plan:pro", "metric:seats"]),
                                 declared={"billable_metric": {"seats": {}}}, notes=notes)
    # what the selected plan uses and the workspace lacks comes with it, so the files validate
    assert set(files) == {"plans/pro.yaml", "plans/catalog.yaml"}
    catalog = files["plans/catalog.yaml"]
    assert [m["code"] for m in catalog["billable_metrics"]] == ["api_calls"]
    assert [t["code"] for t in catalog["taxes"]] == ["vat_20"] and "coupons" not in catalog
    assert sorted(notes) == ["also imported metric 'api_calls' (plan 'pro' uses it)",
                             "also imported tax 'vat_20' (plan 'pro' uses it)"]
    assert skipped == ["billable_metric:seats"]
    # declared dependencies are not imported again
    files, _ = build_files(_state(), select=parse_select(["plan:pro"]),
                           declared={"billable_metric": {"seats": {}, "api_calls": {}}, "tax": {"vat_20": {}}})
    assert set(files) == {"plans/pro.yaml"}


def test_bad_select_is_a_user_error():
    import pytest

    from lagosync.errors import UserError

    with pytest.raises(UserError, match="KIND:CODE"):
        parse_select(["pro"])
    with pytest.raises(UserError, match="KIND:CODE"):
        parse_select(["widget:pro"])


def test_fixed_charges_and_applied_coupons_invert_from_yaml():
    from lagosync.importer import applied_coupon_overrides

    plan = model.from_api("plan", {**API["plan"][0], "fixed_charges": [
        {"lago_id": "x", "code": "setup", "add_on_code": "setup", "charge_model": "volume", "units": 1.5,
         "invoice_display_name": "", "pay_in_advance": False, "prorated": True, "taxes": [{"code": "vat_20"}],
         "properties": {"volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1.00",
                                           "flat_amount": "0"}]}}]})
    written = to_yaml("plan", plan)
    assert written["fixed_charges"] == [{"add_on_code": "setup", "charge_model": "volume", "units": "1.5",
                                         "prorated": True, "properties": {"volume_ranges": [
                                             {"from_value": 0, "to_value": None, "per_unit_amount": "1",
                                              "flat_amount": "0"}]}, "tax_codes": ["vat_20"]}]
    assert model.from_yaml("plan", written) == plan
    assert "fixed_charges" not in to_yaml("plan", _state()["plan"]["pro"])

    welcome, fifty = (_state()["coupon"][c] for c in ("welcome", "fifty"))
    raw = {"external_customer_id": "org_acme", "coupon_code": "welcome", "percentage_rate": 10.0,
           "frequency": "recurring", "frequency_duration": 3, "amount_cents": None, "amount_currency": None}
    same = applied_coupon_overrides(raw, welcome)
    assert to_yaml("applied_coupon", same) == {"coupon_code": "welcome"}
    changed = applied_coupon_overrides({**raw, "percentage_rate": 12.5, "frequency_duration": 6}, welcome)
    item = to_yaml("applied_coupon", changed)
    assert item == {"coupon_code": "welcome", "frequency_duration": 6, "percentage_rate": "12.5"}
    assert model.from_yaml("applied_coupon", {"external_customer_id": "org_acme", **item}) == changed
    # a once coupon made recurring: the duration is written with the frequency
    once = {"external_customer_id": "o", "coupon_code": "fifty", "amount_cents": 5000, "amount_currency": "EUR",
            "frequency": "recurring", "frequency_duration": 2, "percentage_rate": None}
    assert to_yaml("applied_coupon", applied_coupon_overrides(once, fifty)) == {
        "coupon_code": "fifty", "frequency": "recurring", "frequency_duration": 2}
    # an unmade override never shows, e.g. a duration Lago copies onto a once coupon
    assert to_yaml("applied_coupon", applied_coupon_overrides({**once, "frequency": "once"}, fifty)) == {
        "coupon_code": "fifty"}
