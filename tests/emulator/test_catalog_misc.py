"""Taxes, add-ons, coupons, applied coupons, events, invoices (lago-behaviour#tax-response,
lago-behaviour#add-on-amount-positive, lago-behaviour#coupon-locked-fields,
lago-behaviour#applied-coupon-overrides-default, lago-behaviour#event-ingestion)."""

from __future__ import annotations


def test_tax_rate_is_float_and_code_rename_follows(api):
    # lago-behaviour#tax-response: rate is a float in responses; lago-behaviour#tax-editable: all fields editable
    tax = api.ok("POST", "/taxes", tax={"name": "VAT", "code": "vat", "rate": "20.5"})["tax"]
    assert tax["rate"] == 20.5 and tax["applied_to_organization"] is False
    api.plan(tax_codes=["vat"])
    api.ok("PUT", "/taxes/vat", tax={"code": "vat_fr", "rate": 19})
    assert [t["code"] for t in api.ok("GET", "/plans/pro")["plan"]["taxes"]] == ["vat_fr"]
    api.ok("DELETE", "/taxes/vat_fr")
    assert api.ok("GET", "/plans/pro")["plan"]["taxes"] == []  # lago-behaviour#tax-delete-detaches: detached


def test_tax_rate_required(api):
    status, body = api.post("/taxes", tax={"name": "x", "code": "x"})
    assert status == 422 and body["error_details"] == {"rate": ["value_is_mandatory"]}


def test_add_on_amount_must_be_positive(api):
    # lago-behaviour#add-on-amount-positive
    status, body = api.post("/add_ons", add_on={"name": "Setup", "code": "setup", "amount_cents": 0,
                                                 "amount_currency": "EUR"})
    assert status == 422 and body["error_details"] == {"amount_cents": ["value_is_out_of_range"]}
    a = api.ok("POST", "/add_ons", add_on={"name": "Setup", "code": "setup", "amount_cents": 500,
                                           "amount_currency": "EUR"})["add_on"]
    assert a["amount_cents"] == 500 and a["taxes"] == []
    assert api.ok("PUT", "/add_ons/setup", add_on={"amount_cents": 700})["add_on"]["amount_cents"] == 700


def coupon(**kw):
    return {"name": "Launch", "code": "launch", "coupon_type": "fixed_amount", "amount_cents": 1000,
            "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration", **kw}


def test_coupon_rules(api):
    # lago-behaviour#coupon-fields
    status, body = api.post("/coupons", coupon=coupon(amount_cents=None))
    assert status == 422 and "amount_cents" in body["error_details"]
    status, body = api.post("/coupons", coupon=coupon(frequency="recurring"))
    assert body["error_details"] == {"frequency_duration": ["value_is_out_of_range"]}
    api.plan()
    api.metric()
    status, body = api.post("/coupons", coupon=coupon(applies_to={"plan_codes": ["pro"],
                                                                   "billable_metric_codes": ["api_calls"]}))
    assert (status, body["code"]) == (405, "only_one_limitation_type_per_coupon_allowed")
    status, body = api.post("/coupons", coupon=coupon(applies_to={"plan_codes": ["nope"]}))
    assert (status, body["code"]) == (404, "plans_not_found")
    c = api.ok("POST", "/coupons", coupon=coupon(applies_to={"plan_codes": ["pro"]}))["coupon"]
    assert c["plan_codes"] == ["pro"] and c["limited_plans"] is True and c["reusable"] is True
    pct = api.ok("POST", "/coupons", coupon=coupon(code="pct", coupon_type="percentage", percentage_rate="12.5",
                                                   amount_cents=None, amount_currency=None))["coupon"]
    assert pct["percentage_rate"] == "12.5"


def test_coupon_put_without_applies_to_empties_targets(api):
    # lago-behaviour#coupon-put-applies-to
    api.plan()
    api.ok("POST", "/coupons", coupon=coupon(applies_to={"plan_codes": ["pro"]}))
    c = api.ok("PUT", "/coupons/launch", coupon={"amount_cents": 2000})["coupon"]
    assert c["plan_codes"] == [] and c["limited_plans"] is True and c["amount_cents"] == 2000


def test_coupon_locked_once_applied(api):
    # lago-behaviour#coupon-locked-fields: only name/description/expiration editable once applied
    api.ok("POST", "/coupons", coupon=coupon())
    api.ok("POST", "/customers", customer={"external_id": "cus_1"})
    api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "cus_1", "coupon_code": "launch"})
    c = api.ok("PUT", "/coupons/launch", coupon={"name": "New", "amount_cents": 5})["coupon"]
    assert c["name"] == "New" and c["amount_cents"] == 1000


def test_applied_coupons(api):
    # lago-behaviour#applied-coupon-overrides-default, lago-behaviour#coupon-reusable
    api.ok("POST", "/coupons", coupon=coupon(reusable=False))
    assert api.post("/applied_coupons", applied_coupon={"external_customer_id": "x", "coupon_code": "launch"})[1][
        "code"] == "customer_not_found"
    api.ok("POST", "/customers", customer={"external_id": "cus_1"})
    assert api.post("/applied_coupons", applied_coupon={"external_customer_id": "cus_1", "coupon_code": "nope"})[1][
        "code"] == "coupon_not_found"
    a = api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "cus_1",
                                                           "coupon_code": "launch"})["applied_coupon"]
    assert a["coupon_code"] == "launch" and a["status"] == "active" and a["amount_cents"] == 1000
    listed = api.ok("GET", "/applied_coupons", params={"external_customer_id": "cus_1"})["applied_coupons"]
    assert [x["lago_id"] for x in listed] == [a["lago_id"]]
    removed = api.ok("DELETE", f"/customers/cus_1/applied_coupons/{a['lago_id']}")["applied_coupon"]
    assert removed["status"] == "terminated"
    status, body = api.post("/applied_coupons", applied_coupon={"external_customer_id": "cus_1",
                                                                "coupon_code": "launch"})
    assert status == 422 and body["error_details"] == {"coupon": ["coupon_is_not_reusable"]}


def test_coupon_delete_terminates_applied(api):
    api.ok("POST", "/coupons", coupon=coupon())
    api.ok("POST", "/customers", customer={"external_id": "cus_1"})
    api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "cus_1", "coupon_code": "launch"})
    api.ok("DELETE", "/coupons/launch")
    assert api.ok("GET", "/applied_coupons", params={"status": "active"})["applied_coupons"] == []


def test_events_deduplicated_by_transaction_id(api):
    # lago-behaviour#event-dedup, lago-behaviour#event-ingestion
    ev = {"transaction_id": "tx1", "code": "api_calls", "external_subscription_id": "sub_1", "timestamp": 1754000000}
    body = api.ok("POST", "/events", event=ev)["event"]
    assert body["transaction_id"] == "tx1" and body["lago_customer_id"] is None
    status, err = api.post("/events", event=ev)
    assert status == 422 and err["error_details"] == {"transaction_id": ["value_already_exist"]}
    assert api.ok("POST", "/events", event={**ev, "external_subscription_id": "sub_2"})  # other subscription
    assert api.ok("GET", "/events/tx1")["event"]["code"] == "api_calls"
    status, err = api.post("/events", event={**ev, "transaction_id": "tx9", "timestamp": "soon"})
    assert err["error_details"] == {"timestamp": ["invalid_format"]}


def test_event_batch(api):
    events = [{"transaction_id": f"t{i}", "code": "c", "external_subscription_id": "s"} for i in range(3)]
    assert len(api.ok("POST", "/events/batch", raw={"events": events})["events"]) == 3
    status, body = api.post("/events/batch", raw={"events": [{"code": "c", "external_subscription_id": "s"}]})
    assert status == 422 and body["error_details"] == {"0": {"transaction_id": ["value_is_mandatory"]}}
    status, body = api.post("/events/batch", raw={"events": [events[0]]})
    assert body["error_details"] == {"0": {"transaction_id": ["value_already_exist"]}}


def test_invoices_list_is_empty_with_list_shape(api):
    assert api.ok("GET", "/invoices") == {"invoices": [], "meta": {
        "current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0}}
