"""Second-pass fidelity checks of the emulator against docs/lago-behaviour.md."""

from __future__ import annotations


def _rows(api, ext="sub_1"):
    params = [("status[]", s) for s in ("active", "pending", "terminated", "canceled")] + [("external_id", ext)]
    return sorted((s["plan_code"], s["status"]) for s in api.ok("GET", "/subscriptions", params=params)["subscriptions"])


# ---------------------------------- lago-behaviour#plan-amount-change-reevaluates: amount_cents re-evaluation

def test_amount_drop_of_current_plan_cancels_now_more_expensive_pending_downgrade(api):
    # lago-behaviour#plan-amount-change-reevaluates: subscriptions on this plan whose pending downgrade target is now more expensive
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    assert api.subscribe(plan="basic")["next_plan_code"] == "basic"
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 900})
    assert _rows(api) == [("basic", "canceled"), ("pro", "active")]
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["next_plan_code"] is None


def test_amount_drop_keeps_pending_downgrade_still_cheaper(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 1000})  # equal: not *more* expensive, kept
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]


def test_amount_raise_of_downgrade_target_executes_it_as_upgrade_now(api):
    # lago-behaviour#plan-amount-change-reevaluates: pending downgrades targeting this plan whose new yearly amount >= current's → upgrade now
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    old = api.subscribe(plan="pro", billing_time="anniversary")
    api.subscribe(plan="basic", name="Basic")
    api.ok("PUT", "/plans/basic", plan={"amount_cents": 5000})
    assert _rows(api) == [("basic", "active"), ("basic", "canceled"), ("pro", "terminated")]
    new = api.ok("GET", "/subscriptions/sub_1")["subscription"]
    assert new["lago_id"] != old["lago_id"] and new["previous_plan_code"] == "pro"
    assert new["name"] == "Basic" and new["billing_time"] == "anniversary"  # lago-behaviour#subscription-fixed-fields: copied
    assert new["subscription_at"] == old["subscription_at"]


def test_amount_raise_still_cheaper_leaves_downgrade_pending(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/basic", plan={"amount_cents": 4999})
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]


def test_plan_update_without_amount_change_touches_no_subscription(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.ok("PUT", "/plans/pro", plan={"amount_cents": 5000, "name": "Pro 2"})
    assert _rows(api) == [("basic", "pending"), ("pro", "active")]


# ------------------------------------------------------ response field lists (lago-behaviour#response-fields)

def _fields(text: str) -> set[str]:
    return {f.strip() for f in text.split(",")}


BM_FIELDS = _fields("lago_id, name, code, description, aggregation_type, weighted_interval, recurring, "
                    "rounding_function, rounding_precision, created_at, field_name, expression, filters")
BM_COUNTERS = _fields("active_subscriptions_count, draft_invoices_count, plans_count")
PLAN_FIELDS = _fields(
    "lago_id, name, invoice_display_name, created_at, code, interval, description, amount_cents, amount_currency, "
    "trial_period, pay_in_advance, bill_charges_monthly, bill_fixed_charges_monthly, customers_count, "
    "active_subscriptions_count, draft_invoices_count, parent_id, pending_deletion, charges, usage_thresholds, "
    "applicable_usage_thresholds, taxes, entitlements")
CHARGE_FIELDS = _fields(
    "lago_id, lago_billable_metric_id, code, invoice_display_name, billable_metric_code, created_at, charge_model, "
    "invoiceable, regroup_paid_fees, pay_in_advance, prorated, min_amount_cents, accepts_target_wallet, properties, "
    "applied_pricing_unit, lago_parent_id, filters, taxes")
FILTER_FIELDS = _fields("lago_id, charge_code, invoice_display_name, properties, values")
ADD_ON_FIELDS = _fields("lago_id, name, invoice_display_name, code, amount_cents, amount_currency, created_at, "
                        "description, taxes")
COUPON_FIELDS = _fields(
    "lago_id, name, code, description, coupon_type, amount_cents, amount_currency, percentage_rate, frequency, "
    "frequency_duration, reusable, limited_plans, limited_billable_metrics, plan_codes, billable_metric_codes, "
    "created_at, expiration, expiration_at, terminated_at")
SUB_FIELDS = _fields(
    "lago_id, external_id, lago_customer_id, external_customer_id, name, plan_code, plan_amount_cents, "
    "plan_amount_currency, status, billing_time, subscription_at, started_at, trial_ended_at, ending_at, "
    "terminated_at, canceled_at, created_at, previous_plan_code, next_plan_code, downgrade_plan_date, "
    "current_billing_period_started_at, current_billing_period_ending_at, on_termination_credit_note, "
    "on_termination_invoice, progressive_billing_disabled, consolidate_invoice, "
    "cancellation_reason, activated_at, payment_method, activation_rules")
SUB_SINGLE = _fields("plan, entitlements, applicable_usage_thresholds, applied_invoice_custom_sections")
APPLIED_FIELDS = _fields(
    "lago_id, lago_coupon_id, coupon_code, coupon_name, coupon_description, coupon_status, coupon_deleted_at, "
    "lago_customer_id, external_customer_id, status, amount_cents, amount_cents_remaining, amount_currency, "
    "percentage_rate, frequency, frequency_duration, frequency_duration_remaining, expiration_at, created_at, "
    "terminated_at")
CUSTOMER_FIELDS = _fields(
    "lago_id, billing_entity_code, external_id, account_type, name, firstname, lastname, customer_type, "
    "sequential_id, slug, created_at, updated_at, country, address_line1, address_line2, state, zipcode, email, "
    "city, url, phone, logo_url, legal_name, legal_number, currency, tax_identification_number, timezone, "
    "applicable_timezone, net_payment_term, external_salesforce_id, finalize_zero_amount_invoice, "
    "billing_configuration, shipping_address, skip_invoice_custom_sections, metadata")
CUSTOMER_SINGLE = _fields("taxes, integration_customers, applicable_invoice_custom_sections, error_details")
CUSTOMER_LIST_ITEM = _fields("taxes, integration_customers")
BILLING_CONFIGURATION_FIELDS = _fields(
    "invoice_grace_period, payment_provider, payment_provider_code, document_locale, "
    "subscription_invoice_issuing_date_anchor, subscription_invoice_issuing_date_adjustment")
TAX_FIELDS = _fields("lago_id, name, code, rate, description, applied_to_organization, created_at")


def test_response_field_lists_follow_the_serializers(api):
    """Each object carries exactly the serializer's fields (lago-behaviour#response-fields)."""
    tax = api.ok("POST", "/taxes", tax={"name": "VAT", "code": "vat", "rate": "20"})["tax"]
    assert set(tax) == TAX_FIELDS | _fields("add_ons_count, charges_count, customers_count, plans_count, "
                                            "commitments_count")
    bm = api.metric(filters=[{"key": "region", "values": ["eu"]}])
    assert set(bm) == BM_FIELDS | BM_COUNTERS  # create/update/delete/list add the counters (lago-behaviour#metric-response)
    assert set(api.ok("GET", "/billable_metrics/api_calls")["billable_metric"]) == BM_FIELDS
    plan = api.plan(charges=[{"billable_metric_id": bm["lago_id"], "charge_model": "standard",
                              "properties": {"amount": "1"},
                              "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "2"}}]}],
                    metadata={"k": "v"})
    assert set(plan) == PLAN_FIELDS | {"fixed_charges", "metadata"}  # metadata only if present (lago-behaviour#plan-response)
    assert set(api.ok("GET", "/plans")["plans"][0]) == PLAN_FIELDS | {"metadata"}  # list: no fixed_charges
    charge = plan["charges"][0]
    assert set(charge) == CHARGE_FIELDS and set(charge["filters"][0]) == FILTER_FIELDS
    add_on = api.ok("POST", "/add_ons", add_on={"name": "Setup", "code": "setup", "amount_cents": 100,
                                                "amount_currency": "EUR"})["add_on"]
    assert set(add_on) == ADD_ON_FIELDS
    coupon = api.ok("POST", "/coupons", coupon={"name": "C", "code": "c", "coupon_type": "percentage",
                                               "percentage_rate": "10", "frequency": "once",
                                               "expiration": "no_expiration"})["coupon"]
    assert set(coupon) == COUPON_FIELDS  # no status field (lago-behaviour#coupon-response)
    sub = api.subscribe()
    assert set(sub) == SUB_FIELDS | SUB_SINGLE
    assert set(api.ok("GET", "/subscriptions")["subscriptions"][0]) == SUB_FIELDS  # list: no plan (lago-behaviour#subscription-response)
    customer = api.ok("GET", "/customers/cus_1")["customer"]
    assert set(customer) == CUSTOMER_FIELDS | CUSTOMER_SINGLE and customer["error_details"] == []
    assert set(customer["billing_configuration"]) == BILLING_CONFIGURATION_FIELDS  # no provider: no provider fields
    assert set(api.ok("GET", "/customers")["customers"][0]) == CUSTOMER_FIELDS | CUSTOMER_LIST_ITEM
    applied = api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "cus_1",
                                                                 "coupon_code": "c"})["applied_coupon"]
    assert set(applied) == APPLIED_FIELDS


# -------- subscriptions (lago-behaviour#subscription-current-lookup, lago-behaviour#subscription-pending-swap)

def test_current_subscription_is_searched_within_the_given_customer(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe("s1", plan="pro", customer="a")
    # another customer's *active* row with that external_id → 422 value_already_exist
    status, body = api.post("/subscriptions", subscription={"external_customer_id": "b", "plan_code": "basic",
                                                            "external_id": "s1"})
    assert status == 422 and body["error_details"] == {"external_id": ["value_already_exist"]}
    # nothing was changed for customer a (no downgrade scheduled on a's row)
    assert api.ok("GET", "/subscriptions/s1")["subscription"]["next_plan_code"] is None
    # once a's row is terminated, b may use the external_id: a new subscription, not a plan change
    api.ok("DELETE", "/subscriptions/s1")
    sub = api.subscribe("s1", plan="basic", customer="b")
    assert sub["external_customer_id"] == "b" and sub["previous_plan_code"] is None


def test_another_customers_pending_subscription_does_not_block(api):
    # lago-behaviour#subscription-current-lookup: only another customer's *active* row is a clash
    api.plan()
    api.subscribe("s1", customer="a", subscription_at="2027-01-01T00:00:00Z")
    sub = api.subscribe("s1", customer="b")
    assert sub["status"] == "active" and sub["external_customer_id"] == "b"


def test_pending_subscription_upgrade_also_swaps_in_place(api):
    # lago-behaviour#subscription-pending-swap: pending (future start): both upgrade and downgrade swap plan and name in place
    api.plan("basic", amount_cents=1000)
    api.plan("pro", amount_cents=5000)
    sub = api.subscribe(plan="basic", subscription_at="2027-01-01T00:00:00Z", name="B")
    swapped = api.subscribe(plan="pro", name="P")
    assert swapped["lago_id"] == sub["lago_id"] and swapped["status"] == "pending"
    assert (swapped["plan_code"], swapped["name"], swapped["previous_plan_code"]) == ("pro", "P", None)
    rows = api.ok("GET", "/subscriptions", params=[("status[]", "pending"), ("status[]", "terminated")])
    assert len(rows["subscriptions"]) == 1


def test_upgrade_ignores_requested_subscription_at_and_billing_time(api):
    # lago-behaviour#subscription-fixed-fields: subscription_at and billing_time copied from the old row
    api.plan("basic", amount_cents=1000)
    api.plan("max", amount_cents=2000)
    old = api.subscribe(plan="basic", billing_time="anniversary", subscription_at="2026-07-15T00:00:00Z")
    new = api.subscribe(plan="max", billing_time="calendar", subscription_at="2026-08-01T00:00:00Z")
    assert (new["subscription_at"], new["billing_time"]) == (old["subscription_at"], "anniversary")


def test_subscription_to_a_pending_deletion_plan_is_accepted(emulator, api):
    # lago-behaviour#subscription-current-lookup: plan looked up among parent plans incl. pending-deletion ones
    emulator.defer_jobs = True
    api.plan()
    api.ok("DELETE", "/plans/pro")
    assert api.subscribe()["plan"]["pending_deletion"] is True
    emulator.run_jobs()  # Plans::DestroyJob terminates it (lago-behaviour#plan-delete-async)
    assert api.get("/subscriptions/sub_1")[0] == 404
    assert api.get("/plans/pro")[0] == 404


# --------------------------------------------- customer currency (lago-behaviour#customer-currency, ≤v1.51.0)

def test_customer_currency_free_while_editable_then_locked(api):
    api.ok("POST", "/customers", customer={"external_id": "c", "currency": "EUR"})
    assert api.ok("POST", "/customers", customer={"external_id": "c", "currency": "USD"})["customer"]["currency"] == "USD"
    status, body = api.post("/customers", customer={"external_id": "c", "currency": "XXX"})
    assert status == 422 and body["error_details"] == {"currency": ["value_is_invalid"]}
    api.plan(amount_currency="USD")
    api.subscribe(customer="c")
    # same currency re-sent: fine (no change); another: 422
    api.ok("POST", "/customers", customer={"external_id": "c", "currency": "USD"})
    status, body = api.post("/customers", customer={"external_id": "c", "currency": "EUR"})
    assert status == 422 and body["error_details"] == {"currency": ["currencies_does_not_match"]}


def test_fixed_amount_coupon_sets_then_checks_customer_currency(api):
    # lago-behaviour#applied-coupon-currency: fixed-amount coupons set/verify the customer currency
    api.ok("POST", "/coupons", coupon={"name": "F", "code": "f", "coupon_type": "fixed_amount", "amount_cents": 100,
                                       "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration"})
    api.ok("POST", "/customers", customer={"external_id": "c"})
    api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "c", "coupon_code": "f"})
    assert api.ok("GET", "/customers/c")["customer"]["currency"] == "EUR"
    status, body = api.post("/customers", customer={"external_id": "c", "currency": "USD"})
    assert status == 422 and body["error_details"] == {"currency": ["currencies_does_not_match"]}


# ------------------------------------------------------- coupon applies_to (lago-behaviour#coupon-applies-to)

def _coupon(**kw):
    return {"name": "C", "code": "c", "coupon_type": "percentage", "percentage_rate": "10", "frequency": "once",
            "expiration": "no_expiration", **kw}


def test_coupon_applies_to_errors(api):
    api.plan()
    api.metric()
    status, body = api.post("/coupons", coupon=_coupon(applies_to={"billable_metric_codes": ["nope"]}))
    assert (status, body["code"]) == (404, "billable_metrics_not_found")
    status, body = api.post("/coupons", coupon=_coupon(applies_to={"plan_codes": ["pro", "nope"]}))
    assert (status, body["code"]) == (404, "plans_not_found")
    # both kinds → 405, even when a code is unknown (checked first)
    status, body = api.post("/coupons", coupon=_coupon(applies_to={"plan_codes": ["nope"],
                                                                   "billable_metric_codes": ["api_calls"]}))
    assert status == 405 and body == {"status": 405, "error": "Method Not Allowed",
                                      "code": "only_one_limitation_type_per_coupon_allowed"}
    assert api.ok("GET", "/coupons")["coupons"] == []  # nothing created


def test_coupon_applies_to_ignored_once_applied(api):
    # lago-behaviour#coupon-locked-fields: once applied, applies_to (and amounts, code...) are silently ignored; name editable
    api.plan()
    api.plan("other")
    api.ok("POST", "/coupons", coupon=_coupon(applies_to={"plan_codes": ["pro"]}))
    api.ok("POST", "/customers", customer={"external_id": "c"})
    api.ok("POST", "/applied_coupons", applied_coupon={"external_customer_id": "c", "coupon_code": "c"})
    cp = api.ok("PUT", "/coupons/c", coupon=_coupon(name="Renamed", percentage_rate="50",
                                                    applies_to={"plan_codes": ["other"]}))["coupon"]
    assert (cp["name"], cp["percentage_rate"], cp["plan_codes"]) == ("Renamed", "10.0", ["pro"])


def test_coupon_put_without_applies_to_drops_targets_keeps_limited_flag(api):
    # lago-behaviour#coupon-put-applies-to (not-yet-applied coupon)
    api.plan()
    api.ok("POST", "/coupons", coupon=_coupon(applies_to={"plan_codes": ["pro"]}))
    cp = api.ok("PUT", "/coupons/c", coupon={"name": "x"})["coupon"]
    assert cp["plan_codes"] == [] and cp["limited_plans"] is True


# --------------------------------------- lago-behaviour#plan-charges-subresource: charge filter sub-resources

def _plan_with_filter(api):
    bm = api.metric(filters=[{"key": "region", "values": ["eu", "us"]}, {"key": "tier", "values": ["a", "b"]}])
    api.plan(charges=[{"billable_metric_id": bm["lago_id"], "code": "calls", "charge_model": "standard",
                       "properties": {"amount": "1"},
                       "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "2"},
                                    "invoice_display_name": "EU"}]}])
    return "/plans/pro/charges/calls/filters"


def test_charge_filter_crud(api):
    base = _plan_with_filter(api)
    listed = api.ok("GET", base)
    assert listed["meta"]["total_count"] == 1
    eu = listed["filters"][0]
    assert (eu["charge_code"], eu["values"], eu["properties"]) == ("calls", {"region": ["eu"]}, {"amount": "2"})
    assert api.ok("GET", f"{base}/{eu['lago_id']}")["filter"] == eu
    us = api.ok("POST", base, filter={"values": {"region": ["us"]}, "properties": {"amount": "3", "junk": 1},
                                      "invoice_display_name": "US"})["filter"]
    assert us["properties"] == {"amount": "3"}  # unknown keys stripped (lago-behaviour#charge-properties-stripped)
    upd = api.ok("PUT", f"{base}/{us['lago_id']}", filter={"properties": {"amount": "4"}})["filter"]
    assert (upd["lago_id"], upd["properties"], upd["invoice_display_name"]) == (us["lago_id"], {"amount": "4"}, "US")
    plan = api.ok("GET", "/plans/pro")["plan"]
    assert sorted(f["properties"]["amount"] for f in plan["charges"][0]["filters"]) == ["2", "4"]
    assert api.ok("DELETE", f"{base}/{eu['lago_id']}")["filter"]["lago_id"] == eu["lago_id"]
    assert [f["lago_id"] for f in api.ok("GET", base)["filters"]] == [us["lago_id"]]


def test_charge_filter_errors(api):
    base = _plan_with_filter(api)
    status, body = api.post(base, filter={"values": {"region": ["mars"]}, "properties": {"amount": "1"}})
    assert status == 422 and body["error_details"] == {"values": ["value_is_invalid"]}
    status, body = api.post(base, filter={"values": {}, "properties": {"amount": "1"}})
    assert status == 422 and body["error_details"] == {"values": ["value_is_mandatory"]}
    status, body = api.post(base, filter={"values": {"region": ["us"]}, "properties": {"amount": 1}})
    assert status == 422 and body["error_details"] == {"properties": ["invalid_amount"]}  # strings (lago-behaviour#charge-amounts-as-strings)
    status, body = api.post(base, filter={"values": {"region": ["eu"]}, "properties": {"amount": "1"}})
    assert status == 422 and body["error_details"] == {"values": ["value_already_exist"]}
    assert api.get(f"{base}/nope")[1]["code"] == "charge_filter_not_found"
    assert api.get("/plans/pro/charges/nope/filters")[1]["code"] == "charge_not_found"
    assert api.get("/plans/nope/charges/calls/filters")[1]["code"] == "plan_not_found"
    assert api.post(base, raw={})[0] == 400  # lago-behaviour#request-root-key: root key "filter" required
    assert api.ok("GET", base)["meta"]["total_count"] == 1  # nothing written by the failures


# --------------------------------------------------------- lago-behaviour#emulator-clock: the passing of time

def test_future_subscription_is_activated_when_it_starts(api, clock):
    api.plan()
    assert api.subscribe(subscription_at="2026-08-20T00:00:00Z")["status"] == "pending"
    clock.advance(days=5)
    assert api.get("/subscriptions/sub_1")[0] == 404  # still pending
    clock.advance(days=5)
    sub = api.ok("GET", "/subscriptions/sub_1")["subscription"]
    assert (sub["status"], sub["started_at"]) == ("active", "2026-08-20T00:00:00Z")


def test_downgrade_is_executed_at_period_end(api, clock):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    old = api.subscribe(plan="pro")
    assert api.subscribe(plan="basic", name="B")["downgrade_plan_date"] == "2026-09-01"
    clock.advance(days=21)  # 2026-08-31T12:00: still in the period
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["plan_code"] == "pro"
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["downgrade_plan_date"] == "2026-09-01"
    clock.advance(hours=12)
    sub = api.ok("GET", "/subscriptions/sub_1")["subscription"]
    assert (sub["plan_code"], sub["previous_plan_code"], sub["name"]) == ("basic", "pro", "B")
    assert sub["started_at"] == "2026-09-01T00:00:00Z" and sub["next_plan_code"] is None
    term = api.ok("GET", "/subscriptions/sub_1", params={"status": "terminated"})["subscription"]
    assert term["lago_id"] == old["lago_id"] and term["terminated_at"] == "2026-09-01T00:00:00Z"


def test_subscription_is_terminated_at_ending_at(api, clock):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro", ending_at="2026-08-15T00:00:00Z")
    api.subscribe(plan="basic")  # pending downgrade, canceled with the termination
    clock.advance(days=6)
    assert api.get("/subscriptions/sub_1")[0] == 404
    assert _rows(api) == [("basic", "canceled"), ("pro", "terminated")]


def test_time_driven_changes_survive_a_restart(tmp_path, clock):
    from lagosync.emulator import Emulator

    from .conftest import KEY, Api

    db = tmp_path / "lago.db"
    emu = Emulator(str(db), api_key=KEY, clock=clock)
    api = Api(emu)
    api.plan()
    api.subscribe(subscription_at="2026-08-20T00:00:00Z")
    api.http.close()
    emu.close()
    clock.advance(days=30)
    emu = Emulator(str(db), api_key=KEY, clock=clock)
    api = Api(emu)
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["status"] == "active"
    api.http.close()
    emu.close()
