"""Plans, charges, plan metadata (lago-behaviour#plan-response, lago-behaviour#charge-properties-defaults,
lago-behaviour#plan-charges-reconciled, lago-behaviour#plan-metadata-replace)."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def bm(api):
    return api.metric(filters=[{"key": "region", "values": ["eu", "us"]}])


def std(bm, amount="1", **kw):
    return {"billable_metric_id": bm["lago_id"], "charge_model": "standard", "properties": {"amount": amount}, **kw}


def test_create_plan_response_fields(api, bm):
    plan = api.plan(charges=[std(bm)], metadata={"team": "growth"})
    for key in ("lago_id", "name", "invoice_display_name", "created_at", "code", "interval", "description",
                "amount_cents", "amount_currency", "trial_period", "pay_in_advance", "bill_charges_monthly",
                "customers_count", "active_subscriptions_count", "draft_invoices_count", "parent_id",
                "pending_deletion", "charges", "fixed_charges", "taxes", "metadata"):
        assert key in plan, key
    assert plan["metadata"] == {"team": "growth"}
    charge = plan["charges"][0]
    assert charge["code"] == "api_calls"  # lago-behaviour#charge-code-default: auto-generated from the metric code
    assert charge["billable_metric_code"] == "api_calls" and charge["lago_billable_metric_id"] == bm["lago_id"]
    assert "fixed_charges" not in api.ok("GET", "/plans")["plans"][0]  # lago-behaviour#plan-list-no-fixed-charges: not in list items


def test_metadata_absent_from_response_when_unset(api):
    assert "metadata" not in api.plan()


def test_unknown_billable_metric_is_404_plural(api):
    # lago-behaviour#plan-unknown-metric
    status, body = api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "EUR", "charges": [{"billable_metric_id": "nope",
                                                                                    "charge_model": "standard"}]})
    assert (status, body["code"]) == (404, "billable_metrics_not_found")


def test_validation_errors(api):
    status, body = api.post("/plans", plan={"name": "p", "code": "p", "interval": "daily", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "XXX"})
    assert status == 422
    assert body["error_details"] == {"interval": ["value_is_invalid"], "amount_currency": ["value_is_invalid"]}
    api.plan("dup")
    status, body = api.post("/plans", plan={"name": "p", "code": "dup", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "EUR"})
    assert body["error_details"] == {"code": ["value_already_exist"]}


def test_money_values_must_be_strings(api, bm):
    # lago-behaviour#charge-amounts-as-strings: numbers rejected with invalid_amount / invalid_rate
    status, body = api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "EUR", "charges": [std(bm, amount=5)]})
    assert status == 422 and body["error_details"] == {"properties": ["invalid_amount"]}
    status, body = api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "EUR", "charges": [{
                                                "billable_metric_id": bm["lago_id"], "charge_model": "percentage",
                                                "properties": {"rate": 1.5}}]})
    assert body["error_details"] == {"properties": ["invalid_rate"]}
    status, _ = api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                         "amount_currency": "EUR", "charges": [std(bm, amount="-1")]})
    assert status == 422


def test_properties_defaults_and_unknown_keys_stripped(api, bm):
    # lago-behaviour#charge-properties-defaults: omitted/empty properties → model defaults;
    # lago-behaviour#charge-properties-stripped: unknown keys silently stripped
    plan = api.plan(charges=[
        {"billable_metric_id": bm["lago_id"], "charge_model": "package", "code": "pkg"},
        {"billable_metric_id": bm["lago_id"], "charge_model": "standard", "code": "std",
         "properties": {"amount": "0.5", "bogus": "x", "graduated_ranges": []}},
        {"billable_metric_id": bm["lago_id"], "charge_model": "graduated", "code": "grad", "properties": {}},
    ])
    by_code = {c["code"]: c["properties"] for c in plan["charges"]}
    assert by_code["pkg"] == {"package_size": 1, "amount": "0", "free_units": 0}
    assert by_code["std"] == {"amount": "0.5"}
    assert by_code["grad"] == {"graduated_ranges": [
        {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]}


def test_graduated_range_rules(api, bm):
    # lago-behaviour#charge-range-rules
    def graduated(ranges):
        return api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                        "amount_currency": "EUR", "charges": [{
                                            "billable_metric_id": bm["lago_id"], "charge_model": "graduated",
                                            "properties": {"graduated_ranges": ranges}}]})

    good = [{"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"}]
    assert graduated(good)[0] == 200
    api.ok("DELETE", "/plans/p")
    api.emulator.run_jobs()
    gap = [dict(good[0]), dict(good[1], from_value=15)]
    status, body = graduated(gap)
    assert status == 422 and body["error_details"] == {"properties": ["invalid_graduated_ranges"]}
    open_middle = [dict(good[0], to_value=None), good[1]]
    assert graduated(open_middle)[1]["error_details"] == {"properties": ["invalid_graduated_ranges"]}
    assert graduated([])[1]["error_details"] == {"properties": ["missing_graduated_ranges"]}


def test_pay_in_advance_rules(api, bm):
    # lago-behaviour#charge-pay-in-advance: pay_in_advance invalid for volume or non-advance aggregations
    mx = api.metric("peak", aggregation_type="max_agg")
    status, body = api.post("/plans", plan={"name": "p", "code": "p", "interval": "monthly", "amount_cents": 1, "pay_in_advance": False,
                                            "amount_currency": "EUR", "charges": [std(mx, pay_in_advance=True)]})
    assert status == 422 and body["error_details"] == {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}


def test_partial_update_keeps_absent_fields(api, bm):
    # lago-behaviour#plan-partial-update: scalar fields applied only when present; charges key absent → untouched
    api.plan(charges=[std(bm)], description="desc")
    plan = api.ok("PUT", "/plans/pro", plan={"name": "Pro 2", "interval": "monthly"})["plan"]
    assert plan["name"] == "Pro 2" and plan["description"] == "desc" and len(plan["charges"]) == 1


def test_locked_fields_ignored_once_plan_had_any_subscription(api, bm):
    # lago-behaviour#plan-locked-fields: locked once ANY subscription (even terminated); silently ignored, 200
    api.plan(charges=[std(bm)])
    api.subscribe()
    api.ok("DELETE", "/subscriptions/sub_1")  # terminated still locks
    plan = api.ok("PUT", "/plans/pro", plan={
        "name": "New", "amount_cents": 2000, "interval": "yearly", "amount_currency": "USD",
        "pay_in_advance": True, "trial_period": 14, "code": "pro2", "bill_charges_monthly": True})["plan"]
    assert plan["name"] == "New" and plan["amount_cents"] == 2000
    assert (plan["interval"], plan["amount_currency"], plan["pay_in_advance"], plan["code"]) == (
        "monthly", "EUR", False, "pro")
    assert plan["trial_period"] is None and plan["bill_charges_monthly"] is None


def test_bill_charges_monthly_pitfall(api):
    # lago-behaviour#plan-bill-charges-monthly: recomputed from the interval in the same request; omitting interval resets it to null
    plan = api.plan(interval="yearly", bill_charges_monthly=True)
    assert plan["bill_charges_monthly"] is True
    plan = api.ok("PUT", "/plans/pro", plan={"name": "x"})["plan"]
    assert plan["bill_charges_monthly"] is None
    plan = api.ok("PUT", "/plans/pro", plan={"interval": "yearly", "bill_charges_monthly": True})["plan"]
    assert plan["bill_charges_monthly"] is True
    assert api.plan("m", bill_charges_monthly=True)["bill_charges_monthly"] is None  # monthly: not stored


def test_charges_matched_by_id_and_deleted_when_omitted(api, bm):
    # lago-behaviour#plan-charges-reconciled
    seats = api.metric("seats", aggregation_type="count_agg")
    plan = api.plan(charges=[std(bm), std(seats)])
    ids = {c["code"]: c["lago_id"] for c in plan["charges"]}
    plan = api.ok("PUT", "/plans/pro", plan={"charges": [std(bm, amount="0.0025", id=ids["api_calls"])]})["plan"]
    assert [(c["code"], c["lago_id"], c["properties"]) for c in plan["charges"]] == [
        ("api_calls", ids["api_calls"], {"amount": "0.0025"})]


def test_charge_resent_without_id_is_422_and_nothing_changes(api, bm):
    # lago-behaviour#plan-charge-code-clash: creation before deletion → value_already_exist; transaction rolled back
    api.plan(charges=[std(bm)])
    before = api.ok("GET", "/plans/pro")
    status, body = api.put("/plans/pro", plan={"name": "changed", "charges": [std(bm, amount="9")]})
    assert status == 422 and body["error_details"] == {"code": ["value_already_exist"]}
    assert api.ok("GET", "/plans/pro") == before


def test_charges_empty_list_deletes_all(api, bm):
    api.plan(charges=[std(bm)])
    assert api.ok("PUT", "/plans/pro", plan={"charges": []})["plan"]["charges"] == []


def test_charge_update_is_full_replace(api, bm):
    # lago-behaviour#charge-full-replace: invoice_display_name omitted ⇒ cleared; properties omitted ⇒ defaults
    plan = api.plan(charges=[std(bm, amount="3", invoice_display_name="Calls")])
    cid = plan["charges"][0]["lago_id"]
    charge = api.ok("PUT", "/plans/pro", plan={"charges": [{"id": cid, "billable_metric_id": bm["lago_id"],
                                                            "charge_model": "standard"}]})["plan"]["charges"][0]
    assert charge["invoice_display_name"] is None and charge["properties"] == {"amount": "0"}


def test_charge_model_kept_once_plan_has_subscriptions(api, bm):
    plan = api.plan(charges=[std(bm)])
    api.subscribe()
    cid = plan["charges"][0]["lago_id"]
    charge = api.ok("PUT", "/plans/pro", plan={"charges": [{
        "id": cid, "billable_metric_id": bm["lago_id"], "charge_model": "package", "code": "new_code",
        "properties": {"amount": "7"}}]})["plan"]["charges"][0]
    assert charge["charge_model"] == "standard" and charge["code"] == "api_calls"
    assert charge["properties"] == {"amount": "7"}


def test_charge_filters_validated_and_reconciled_by_values(api, bm):
    plan = api.plan(charges=[std(bm, filters=[{"values": {"region": ["eu"]}, "properties": {"amount": "2"},
                                               "invoice_display_name": "EU"}])])
    charge = plan["charges"][0]
    fid = charge["filters"][0]["lago_id"]
    assert charge["filters"][0]["charge_code"] == "api_calls"
    charge = api.ok("PUT", "/plans/pro", plan={"charges": [std(bm, id=charge["lago_id"], filters=[
        {"values": {"region": ["eu"]}, "properties": {"amount": "5"}}])]})["plan"]["charges"][0]
    assert charge["filters"][0]["lago_id"] == fid and charge["filters"][0]["properties"] == {"amount": "5"}
    status, _ = api.put("/plans/pro", plan={"charges": [std(bm, id=charge["lago_id"], filters=[
        {"values": {"region": ["mars"]}, "properties": {"amount": "5"}}])]})
    assert status == 422


def test_tax_codes_replace_and_unknown_tax_404(api):
    api.ok("POST", "/taxes", tax={"name": "VAT", "code": "vat", "rate": "20"})
    api.ok("POST", "/taxes", tax={"name": "GST", "code": "gst", "rate": "10"})
    plan = api.plan(tax_codes=["vat"])
    assert [t["code"] for t in plan["taxes"]] == ["vat"]
    plan = api.ok("PUT", "/plans/pro", plan={"tax_codes": ["gst"]})["plan"]
    assert [t["code"] for t in plan["taxes"]] == ["gst"]
    status, body = api.put("/plans/pro", plan={"tax_codes": ["nope"]})
    assert (status, body["code"]) == (404, "tax_not_found")


def test_metadata_replace_null_and_subresource(api):
    # lago-behaviour#plan-metadata-replace: metadata key ⇒ replace; null ⇒ delete; absent ⇒ untouched
    api.plan(metadata={"a": "1", "b": "2"})
    assert api.ok("PUT", "/plans/pro", plan={"name": "x"})["plan"]["metadata"] == {"a": "1", "b": "2"}
    assert api.ok("PUT", "/plans/pro", plan={"metadata": {"c": "3"}})["plan"]["metadata"] == {"c": "3"}
    assert "metadata" not in api.ok("PUT", "/plans/pro", plan={"metadata": None})["plan"]
    assert api.ok("POST", "/plans/pro/metadata", metadata={"x": "1"}) == {"metadata": {"x": "1"}}
    assert api.ok("PATCH", "/plans/pro/metadata", metadata={"y": "2"}) == {"metadata": {"x": "1", "y": "2"}}
    assert api.ok("DELETE", "/plans/pro/metadata/x") == {"metadata": {"y": "2"}}
    assert api.ok("DELETE", "/plans/pro/metadata") == {"metadata": None}


def test_charges_subresource(api, bm):
    api.plan()
    charge = api.ok("POST", "/plans/pro/charges", charge=std(bm, code="calls"))["charge"]
    assert charge["code"] == "calls"
    assert api.ok("GET", "/plans/pro/charges")["meta"]["total_count"] == 1
    charge = api.ok("PUT", "/plans/pro/charges/calls", charge=std(bm, amount="4"))["charge"]
    assert charge["properties"] == {"amount": "4"}
    assert api.ok("GET", "/plans/pro/charges/calls")["charge"]["properties"] == {"amount": "4"}
    status, body = api.post("/plans/pro/charges", charge=std(bm, code="calls"))
    assert status == 422 and body["error_details"] == {"code": ["value_already_exist"]}
    api.ok("DELETE", "/plans/pro/charges/calls")
    assert api.get("/plans/pro/charges/calls") == (404, {"status": 404, "error": "Not Found", "code": "charge_not_found"})


def test_delete_marks_pending_deletion_then_terminates_subscriptions(api, emulator):
    # lago-behaviour#plan-delete-async: never refused; pending_deletion: true; the job terminates subscriptions, deletes plan
    api.plan()
    api.subscribe()
    emulator.defer_jobs = True
    plan = api.ok("DELETE", "/plans/pro")["plan"]
    assert plan["pending_deletion"] is True
    listed = api.ok("GET", "/plans")["plans"]
    assert [(p["code"], p["pending_deletion"]) for p in listed] == [("pro", True)]
    status, body = api.post("/plans", plan={"name": "p", "code": "pro", "interval": "monthly",
                                            "amount_cents": 1, "pay_in_advance": False, "amount_currency": "EUR"})
    assert status == 422 and body["error_details"] == {"code": ["value_already_exist"]}
    emulator.run_jobs()
    assert api.get("/plans/pro")[0] == 404
    sub = api.ok("GET", "/subscriptions/sub_1", params={"status": "terminated"})["subscription"]
    assert sub["terminated_at"] is not None


def test_delete_job_runs_on_next_request_by_default(api):
    api.plan()
    api.ok("DELETE", "/plans/pro")
    assert api.get("/plans/pro")[0] == 404


def test_job_delay_keeps_a_deleted_plan_pending_for_that_many_requests(api, emulator):
    # lago-behaviour#plan-delete-async, lago-behaviour#emulator-async-jobs: Emulator(job_delay=N)
    emulator.job_delay = 2
    api.plan()
    assert api.ok("DELETE", "/plans/pro")["plan"]["pending_deletion"] is True
    body = {"name": "again", "code": "pro", "interval": "monthly", "amount_cents": 1, "amount_currency": "EUR",
            "pay_in_advance": False}
    assert api.post("/plans", plan=body) == (422, {"status": 422, "error": "Unprocessable Entity",
                                                   "code": "validation_errors",
                                                   "error_details": {"code": ["value_already_exist"]}})
    assert [(p["code"], p["pending_deletion"]) for p in api.ok("GET", "/plans")["plans"]] == [("pro", True)]
    assert emulator.pending_jobs() == 1
    assert api.ok("POST", "/plans", plan=body)["plan"]["pending_deletion"] is False  # the job ran first
    assert emulator.pending_jobs() == 0


def test_job_delay_on_the_clock(api, emulator, clock):
    emulator.job_delay = timedelta(seconds=30)
    api.plan()
    api.ok("DELETE", "/plans/pro")
    for _ in range(5):
        assert api.ok("GET", "/plans/pro")["plan"]["pending_deletion"] is True
    clock.advance(seconds=31)
    assert api.get("/plans/pro")[0] == 404
