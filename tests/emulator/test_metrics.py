"""Billable metrics (lago-behaviour#metric-response, lago-behaviour#metric-locked-fields,
lago-behaviour#metric-filters-replace, lago-behaviour#metric-delete)."""

from __future__ import annotations


def test_create_returns_serializer_fields(api):
    # lago-behaviour#metric-response: response fields, counters always 0, filter values sorted
    bm = api.metric(filters=[{"key": "region", "values": ["us", "eu"]}])
    assert bm["filters"] == [{"key": "region", "values": ["eu", "us"]}]
    assert bm["active_subscriptions_count"] == bm["plans_count"] == bm["draft_invoices_count"] == 0
    for key in ("lago_id", "weighted_interval", "recurring", "rounding_function", "rounding_precision",
                "created_at", "expression"):
        assert key in bm


def test_field_name_forced_null_for_count_agg(api):
    # lago-behaviour#metric-field-name
    bm = api.metric("seats", aggregation_type="count_agg", field_name="whatever")
    assert bm["field_name"] is None


def test_field_name_required_unless_count(api):
    status, body = api.post("/billable_metrics", billable_metric={"name": "x", "code": "x", "aggregation_type": "sum_agg"})
    assert status == 422 and body["error_details"] == {"field_name": ["value_is_mandatory"]}


def test_unknown_aggregation_type_is_invalid(api):
    status, body = api.post("/billable_metrics", billable_metric={"name": "x", "code": "x", "aggregation_type": "avg"})
    assert status == 422 and body["error_details"]["aggregation_type"] == ["value_is_invalid"]


def test_custom_agg_is_forbidden_without_flag(api):
    status, body = api.post("/billable_metrics", billable_metric={"name": "x", "code": "x", "aggregation_type": "custom_agg"})
    assert (status, body) == (403, {"status": 403, "error": "Forbidden", "code": "feature_unavailable"})


def test_recurring_incompatible_with_count_max_latest(api):
    # lago-behaviour#metric-recurring
    for agg in ("count_agg", "max_agg", "latest_agg"):
        status, body = api.post("/billable_metrics", billable_metric={
            "name": "x", "code": f"x_{agg}", "aggregation_type": agg, "field_name": "n", "recurring": True})
        assert status == 422 and body["error_details"] == {"recurring": ["not_compatible_with_aggregation_type"]}
    assert api.metric("ok", recurring=True)["recurring"] is True


def test_weighted_interval_required_for_weighted_sum(api):
    status, body = api.post("/billable_metrics", billable_metric={
        "name": "x", "code": "x", "aggregation_type": "weighted_sum_agg", "field_name": "n"})
    assert status == 422 and body["error_details"] == {"weighted_interval": ["value_is_invalid"]}
    bm = api.metric("w", aggregation_type="weighted_sum_agg", weighted_interval="seconds")
    assert bm["weighted_interval"] == "seconds"


def test_duplicate_code_is_value_already_exist(api):
    api.metric("dup")
    status, body = api.post("/billable_metrics", billable_metric={"name": "x", "code": "dup", "aggregation_type": "count_agg"})
    assert status == 422 and body["error_details"] == {"code": ["value_already_exist"]}


def test_filters_replace_by_key_and_absent_key_keeps_them(api):
    # lago-behaviour#metric-filters-replace: filters absent → untouched; listed keys upserted, unlisted discarded; [] deletes all
    api.metric(filters=[{"key": "region", "values": ["eu"]}, {"key": "tier", "values": ["a"]}])
    bm = api.ok("PUT", "/billable_metrics/api_calls", billable_metric={"name": "renamed"})["billable_metric"]
    assert [f["key"] for f in bm["filters"]] == ["region", "tier"]
    bm = api.ok("PUT", "/billable_metrics/api_calls", billable_metric={
        "filters": [{"key": "region", "values": ["eu", "us"]}]})["billable_metric"]
    assert bm["filters"] == [{"key": "region", "values": ["eu", "us"]}]
    bm = api.ok("PUT", "/billable_metrics/api_calls", billable_metric={"filters": []})["billable_metric"]
    assert bm["filters"] == []


def test_filter_values_must_not_be_empty(api):
    status, _ = api.post("/billable_metrics", billable_metric={
        "name": "x", "code": "x", "aggregation_type": "count_agg", "filters": [{"key": "k", "values": []}]})
    assert status == 422


def test_locked_fields_silently_ignored_once_used_by_a_plan(api):
    # lago-behaviour#metric-locked-fields: once a plan charge uses it, only name/description/filters apply; still 200
    bm = api.metric()
    api.ok("PUT", "/billable_metrics/api_calls", billable_metric={"field_name": "m"})  # unused → applied
    api.plan(charges=[{"billable_metric_id": bm["lago_id"], "charge_model": "standard", "properties": {"amount": "1"}}])
    body = api.ok("PUT", "/billable_metrics/api_calls", billable_metric={
        "name": "New name", "description": "d", "field_name": "other", "aggregation_type": "max_agg",
        "code": "renamed", "filters": [{"key": "region", "values": ["eu"]}]})["billable_metric"]
    assert body["name"] == "New name" and body["description"] == "d"
    assert body["field_name"] == "m" and body["aggregation_type"] == "sum_agg" and body["code"] == "api_calls"
    assert body["filters"] == [{"key": "region", "values": ["eu"]}]


def test_removing_filter_values_trims_charge_filters(api):
    # lago-behaviour#metric-filter-values-trimmed: values removed from a key are trimmed out of charge filters; empty ones discarded
    bm = api.metric(filters=[{"key": "region", "values": ["eu", "us"]}])
    api.plan(charges=[{"billable_metric_id": bm["lago_id"], "charge_model": "standard", "properties": {"amount": "1"},
                       "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "2"}},
                                   {"values": {"region": ["us"]}, "properties": {"amount": "3"}}]}])
    api.ok("PUT", "/billable_metrics/api_calls", billable_metric={"filters": [{"key": "region", "values": ["eu"]}]})
    charge = api.ok("GET", "/plans/pro")["plan"]["charges"][0]
    assert [f["values"] for f in charge["filters"]] == [{"region": ["eu"]}]


def test_delete_soft_deletes_charges_using_it(api):
    # lago-behaviour#metric-delete: no guard; every charge using it is removed, even on plans with subscriptions
    bm = api.metric()
    other = api.metric("seats", aggregation_type="count_agg")
    api.plan(charges=[
        {"billable_metric_id": bm["lago_id"], "charge_model": "standard", "properties": {"amount": "1"}},
        {"billable_metric_id": other["lago_id"], "charge_model": "standard", "properties": {"amount": "1"}},
    ])
    api.subscribe()
    deleted = api.ok("DELETE", "/billable_metrics/api_calls")["billable_metric"]
    assert deleted["code"] == "api_calls"
    assert [c["code"] for c in api.ok("GET", "/plans/pro")["plan"]["charges"]] == ["seats"]
    assert api.get("/billable_metrics/api_calls")[0] == 404
    assert api.metric()["code"] == "api_calls"  # code reusable at once
