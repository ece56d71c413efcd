"""GET /customers/{id}/current_usage: the emulator aggregates the stored events of the subscription's
current billing period per metric type and charge filter, and prices them like Lago (charges only,
taxes by precedence), in Lago's response shape (lago-behaviour#current-usage)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

START = datetime(2026, 8, 10, 12, 0, tzinfo=timezone.utc)  # the clock fixture's start


def _event(api, sub, code, tid, ts=None, **props):
    body = {"transaction_id": tid, "code": code, "external_subscription_id": sub, "properties": props}
    if ts is not None:
        body["timestamp"] = ts.timestamp()
    api.ok("POST", "/events", event=body)


def _usage(api, customer="cus_1", sub="sub_1", **params):
    return api.ok("GET", f"/customers/{customer}/current_usage",
                  {"external_subscription_id": sub, **params})["customer_usage"]


def _charge(usage, code):
    [found] = [c for c in usage["charges_usage"] if c["charge"]["code"] == code]
    return found


@pytest.fixture
def priced(api):
    """Five metrics, one per aggregation type, each charged on plan 'pro' (EUR, 20% plan tax)."""
    api.ok("POST", "/taxes", tax={"code": "vat", "name": "VAT", "rate": "20"})
    api.metric("calls", aggregation_type="count_agg", field_name=None)
    api.metric("tokens", aggregation_type="sum_agg", field_name="n",
               filters=[{"key": "model", "values": ["large", "small"]}])
    api.metric("seats", aggregation_type="max_agg", field_name="n")
    api.metric("users", aggregation_type="unique_count_agg", field_name="user")
    api.metric("storage", aggregation_type="latest_agg", field_name="gb")
    charges = [
        {"billable_metric_id": None, "code": "calls", "charge_model": "standard", "properties": {"amount": "0.5"}},
        {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.01"},
         "filters": [{"invoice_display_name": "Large", "properties": {"amount": "0.1"},
                      "values": {"model": ["large"]}}]},
        {"code": "seats", "charge_model": "graduated", "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": 2, "per_unit_amount": "5", "flat_amount": "0"},
            {"from_value": 3, "to_value": None, "per_unit_amount": "3", "flat_amount": "1"}]}},
        {"code": "users", "charge_model": "standard", "properties": {"amount": "2"}},
        {"code": "storage", "charge_model": "package", "properties": {"amount": "4", "package_size": 10,
                                                                       "free_units": 0}},
    ]
    ids = {m["code"]: m["lago_id"] for m in api.ok("GET", "/billable_metrics")["billable_metrics"]}
    for c in charges:
        c["billable_metric_id"] = ids[c["code"]]
    api.plan("pro", charges=charges, tax_codes=["vat"])
    api.ok("POST", "/customers", customer={"external_id": "cus_1", "name": "Acme"})
    api.subscribe("sub_1", "pro", "cus_1", billing_time="calendar")
    return api


def test_each_aggregation_type_and_filter_priced_with_taxes(priced, clock):
    api = priced
    for i in range(3):
        _event(api, "sub_1", "calls", f"c{i}")
    _event(api, "sub_1", "tokens", "t1", n="100", model="large")
    _event(api, "sub_1", "tokens", "t2", n="250.5", model="small")
    _event(api, "sub_1", "tokens", "t3", n="50")
    _event(api, "sub_1", "seats", "s1", n="2")
    _event(api, "sub_1", "seats", "s2", n="4")
    _event(api, "sub_1", "seats", "s3", n="1")
    for i, user in enumerate(("ann", "bob", "ann")):
        _event(api, "sub_1", "users", f"u{i}", user=user)
    _event(api, "sub_1", "storage", "g1", gb="25")
    clock.advance(seconds=1)
    _event(api, "sub_1", "storage", "g2", gb="12")
    _event(api, "sub_other", "calls", "x1")  # another subscription's event
    usage = _usage(api)
    assert usage["from_datetime"] == "2026-08-10T12:00:00Z"  # the subscription started mid-period
    assert usage["to_datetime"] == "2026-08-31T23:59:59Z"
    assert usage["issuing_date"] == "2026-08-31"
    assert usage["currency"] == "EUR" and usage["lago_invoice_id"] is None
    calls = _charge(usage, "calls")
    assert (calls["units"], calls["events_count"], calls["amount_cents"]) == ("3.0", 3, 150)
    assert calls["billable_metric"] == {"lago_id": calls["billable_metric"]["lago_id"], "name": "calls",
                                        "code": "calls", "aggregation_type": "count_agg"}
    tokens = _charge(usage, "tokens")
    by_filter = {f["invoice_display_name"]: f for f in tokens["filters"]}
    assert by_filter["Large"]["values"] == {"model": ["large"]}
    assert (by_filter["Large"]["units"], by_filter["Large"]["amount_cents"]) == ("100.0", 1000)
    assert by_filter[None]["values"] == {}  # the default bucket: the small model and the event without one
    assert (by_filter[None]["units"], by_filter[None]["amount_cents"]) == ("300.5", 301)  # 3.005 -> 3.01
    assert (tokens["units"], tokens["amount_cents"], tokens["events_count"]) == ("400.5", 1301, 3)
    seats = _charge(usage, "seats")  # max 4: 2 x 5 + 2 x 3 + 1 flat
    assert (seats["units"], seats["amount_cents"]) == ("4.0", 1700)
    users = _charge(usage, "users")
    assert (users["units"], users["amount_cents"]) == ("2.0", 400)
    storage = _charge(usage, "storage")  # the latest value, 12 GB: 2 packages of 10
    assert (storage["units"], storage["amount_cents"]) == ("12.0", 800)
    assert usage["amount_cents"] == 150 + 1301 + 1700 + 400 + 800
    assert usage["taxes_amount_cents"] == round(usage["amount_cents"] * 0.2)
    assert usage["total_amount_cents"] == usage["amount_cents"] + usage["taxes_amount_cents"]
    # charges are listed by metric name
    assert [c["billable_metric"]["name"] for c in usage["charges_usage"]] == [
        "calls", "seats", "storage", "tokens", "users"]
    assert _usage(api, apply_taxes="false")["taxes_amount_cents"] == 0


def test_only_the_current_period_counts_and_no_usage_is_zero(priced, clock):
    api = priced
    usage = _usage(api)
    assert usage["amount_cents"] == 0 and usage["total_amount_cents"] == 0
    assert {c["charge"]["code"]: c["units"] for c in usage["charges_usage"]} == {
        "calls": "0.0", "tokens": "0.0", "seats": "0.0", "users": "0.0", "storage": "0.0"}
    # the first graduated range's flat amount is 0 here; the second range is not reached
    _event(api, "sub_1", "calls", "before", ts=datetime(2026, 8, 1, tzinfo=timezone.utc))  # before it started
    _event(api, "sub_1", "calls", "in", ts=datetime(2026, 8, 20, tzinfo=timezone.utc))
    _event(api, "sub_1", "calls", "next", ts=datetime(2026, 9, 2, tzinfo=timezone.utc))  # next period
    assert _charge(_usage(api), "calls")["units"] == "1.0"
    clock.advance(days=25)  # 2026-09-04: a new calendar period
    usage = _usage(api)
    assert usage["from_datetime"] == "2026-09-01T00:00:00Z"
    assert _charge(usage, "calls")["units"] == "1.0"  # only the event of September


def test_errors_are_lagos(priced):
    api = priced
    status, body = api.get("/customers/nobody/current_usage", {"external_subscription_id": "sub_1"})
    assert (status, body["code"]) == (404, "customer_not_found")
    status, body = api.get("/customers/cus_1/current_usage", {"external_subscription_id": "sub_nope"})
    assert (status, body["code"]) == (405, "no_active_subscription")
    status, body = api.get("/customers/cus_1/current_usage")
    assert (status, body["code"]) == (405, "no_active_subscription")
    api.ok("DELETE", "/subscriptions/sub_1")
    status, body = api.get("/customers/cus_1/current_usage", {"external_subscription_id": "sub_1"})
    assert (status, body["code"]) == (405, "no_active_subscription")  # terminated: no longer active


def test_weighted_sum_is_refused_not_guessed(api):
    bm = api.metric("gpu", aggregation_type="weighted_sum_agg", field_name="n", weighted_interval="seconds")
    api.plan("pro", charges=[{"billable_metric_id": bm["lago_id"], "charge_model": "standard",
                              "properties": {"amount": "1"}}])
    api.ok("POST", "/customers", customer={"external_id": "cus_1"})
    api.subscribe()
    status, body = api.get("/customers/cus_1/current_usage", {"external_subscription_id": "sub_1"})
    assert status == 422
    assert body["error_details"] == {"billable_metric": ["weighted_sum_agg_not_modelled"]}


def test_customer_taxes_and_pricing_groups(api):
    api.ok("POST", "/taxes", tax={"code": "low", "name": "Low", "rate": "5.5"})
    bm = api.metric("calls", aggregation_type="count_agg", field_name=None)
    api.plan("pro", charges=[{"billable_metric_id": bm["lago_id"], "charge_model": "package",
                              "properties": {"amount": "1", "package_size": 2, "free_units": 0,
                                             "pricing_group_keys": ["region"]}}])
    api.ok("POST", "/customers", customer={"external_id": "cus_1", "tax_codes": ["low"]})
    api.subscribe()
    for i, region in enumerate(("eu", "eu", "eu", "us")):
        _event(api, "sub_1", "calls", f"e{i}", region=region)
    usage = _usage(api)
    [calls] = usage["charges_usage"]
    groups = {g["grouped_by"]["region"]: g for g in calls["grouped_usage"]}
    assert (groups["eu"]["units"], groups["eu"]["amount_cents"]) == ("3.0", 200)  # 2 packages
    assert (groups["us"]["units"], groups["us"]["amount_cents"]) == ("1.0", 100)  # each group on its own
    assert calls["amount_cents"] == 300
    assert usage["taxes_amount_cents"] == 17  # 5.5% of 3.00 = 16.5 -> 17 (the customer's tax)
