"""Lago's rules as observed over HTTP, target-agnostic: each test runs against the emulator, and against a
real Lago when LAGO_API_URL / LAGO_API_KEY are set (the ``lago`` fixture, tests/lago_targets.py). A
failure on the real-lago case only is an emulator infidelity (or a rule that changed in Lago)."""

from __future__ import annotations

import pytest
from lago_targets import segment

# ---------------------------------------------------------------- plans (lago-behaviour#plan-intervals)

def test_plan_create_without_pay_in_advance_is_refused(lago):
    body = {"name": "p", "code": lago.id("p"), "interval": "monthly", "amount_cents": 100, "amount_currency": "EUR"}
    status, data = lago.post("/plans", {"plan": body})
    assert (status, data["error_details"]) == (422, {"pay_in_advance": ["value_is_invalid"]})
    # lago-behaviour#plan-save-first: the invalid plan field is reported alone, its charges are not looked at
    metric = lago.ok("POST", "/billable_metrics", {"billable_metric": {
        "name": "m", "code": lago.id("m"), "aggregation_type": "count_agg"}})["billable_metric"]
    body["charges"] = [{"billable_metric_id": metric["lago_id"], "charge_model": "standard",
                        "properties": {"amount": 5}}]  # a number: invalid_amount, if it were looked at
    status, data = lago.post("/plans", {"plan": body})
    assert (status, data["error_details"]) == (422, {"pay_in_advance": ["value_is_invalid"]})
    assert lago.get(f"/plans/{segment(body['code'])}")[0] == 404
    assert lago.plan("p", pay_in_advance=True)["pay_in_advance"] is True


def test_plan_delete_keeps_the_code_until_the_job_ran(lago):
    # lago-behaviour#plan-delete-async: DELETE answers pending_deletion; the code is taken until the job ran
    plan = lago.plan("gone")
    path = f"/plans/{segment(plan['code'])}"
    assert lago.ok("DELETE", path)["plan"]["pending_deletion"] is True
    recreate = {"plan": {"name": "again", "code": plan["code"], "interval": "monthly", "amount_cents": 5,
                         "amount_currency": "EUR", "pay_in_advance": False}}
    refusals: list = []

    def recreated() -> bool:
        status, data = lago.post("/plans", recreate)
        if status != 200:
            refusals.append((status, data.get("error_details") if isinstance(data, dict) else data))
        return status == 200

    assert lago.wait_for_jobs(recreated)
    assert all(r == (422, {"code": ["value_already_exist"]}) for r in refusals), refusals
    again = lago.ok("GET", path)["plan"]
    assert (again["name"], again["pending_deletion"]) == ("again", False)


# ------------------------------------------------- path segments (lago-behaviour#codes-any-characters)

@pytest.mark.parametrize("collection, root, body", [
    ("/plans", "plan", {"name": "p", "interval": "monthly", "amount_cents": 1, "amount_currency": "EUR",
                        "pay_in_advance": False}),
    ("/taxes", "tax", {"name": "t", "rate": "10"}),
    ("/billable_metrics", "billable_metric", {"name": "m", "aggregation_type": "count_agg"}),
    ("/add_ons", "add_on", {"name": "a", "amount_cents": 100, "amount_currency": "EUR"}),
    ("/coupons", "coupon", {"name": "c", "coupon_type": "percentage", "percentage_rate": "10",
                            "frequency": "once", "expiration": "no_expiration"}),
])
def test_catalogue_codes_may_hold_slashes_and_dots(lago, collection, root, body):
    code = lago.id("a/b.c")
    lago.ok("POST", collection, {root: {**body, "code": code}})
    raw = lago.ok("GET", f"{collection}/{code}")[root]  # a raw slash and dot: still the whole code
    encoded = lago.ok("GET", f"{collection}/{segment(code)}")[root]
    assert raw["code"] == encoded["code"] == code


def test_a_plan_code_with_slashes_does_not_hide_its_charges_route(lago):
    plan = lago.plan("x/y")
    assert lago.ok("GET", f"/plans/{plan['code']}/charges")["charges"] == []  # nested route first


def test_a_dot_ends_a_customer_id_segment(lago):
    # lago-behaviour#route-segments: /customers/<id>.com is customer <id> with a format suffix
    dotted = lago.customer("acme.com", name="dotted")
    assert lago.get(f"/customers/{lago.id('acme')}.com")[1] == {
        "status": 404, "error": "Not Found", "code": "customer_not_found"}
    lago.customer("acme", name="plain")
    assert lago.ok("GET", f"/customers/{lago.id('acme')}.com")["customer"]["name"] == "plain"
    assert lago.ok("GET", f"/customers/{lago.id('acme')}.json")["customer"]["name"] == "plain"
    assert lago.ok("GET", f"/customers/{segment(dotted['external_id'])}")["customer"]["name"] == "dotted"
    assert lago.get(f"/customers/{lago.id('acme')}.com/subscriptions")[0] == 404  # no route
    # the same cut applies to subscriptions' external ids
    plan = lago.plan("pro")
    lago.subscribe("sub.v2", plan["code"], dotted["external_id"])
    assert lago.get(f"/subscriptions/{lago.id('sub')}.v2")[1]["code"] == "subscription_not_found"
    assert lago.ok("GET", f"/subscriptions/{segment(lago.id('sub.v2'))}")["subscription"]["plan_code"] == plan["code"]


# ---------------------------------------- customers (lago-behaviour#customer-country, #customer-enums)

def test_customer_country_is_upcased_and_must_be_iso(lago):
    assert lago.customer("c1", country="fr")["country"] == "FR"
    assert lago.customer("c1", country="XK")["country"] == "XK"  # Kosovo, registered by Lago itself
    status, data = lago.post("/customers", {"customer": {"external_id": lago.id("c2"), "country": "ZZ"}})
    assert (status, data["error_details"]) == (422, {"country": ["not_a_valid_country_code"]})
    assert lago.get(f"/customers/{segment(lago.id('c2'))}")[0] == 404  # nothing written
    status, data = lago.post("/customers", {"customer": {"external_id": lago.id("c2"),
                                                         "shipping_address": {"country": "zz"}}})
    assert (status, data["error_details"]) == (422, {"shipping_country": ["not_a_valid_country_code"]})
    assert lago.customer("c3", shipping_address={"country": "de"})["shipping_address"]["country"] == "DE"


@pytest.mark.parametrize("fields, details", [
    ({"customer_type": "bogus"}, {"customer_type": ["value_is_invalid"]}),
    ({"finalize_zero_amount_invoice": "bogus"}, {"finalize_zero_amount_invoice": ["invalid_value"]}),
])
def test_customer_enums_are_validated(lago, fields, details):
    status, data = lago.post("/customers", {"customer": {"external_id": lago.id("e"), **fields}})
    assert (status, data["error_details"]) == (422, details)
    assert lago.get(f"/customers/{segment(lago.id('e'))}")[0] == 404


@pytest.mark.parametrize("conf, details", [
    ({"subscription_invoice_issuing_date_anchor": "bogus"},
     {"subscription_invoice_issuing_date_anchor": ["value_is_invalid"]}),
    ({"subscription_invoice_issuing_date_adjustment": "bogus"},
     {"subscription_invoice_issuing_date_adjustment": ["value_is_invalid"]}),
    ({"document_locale": "xx"}, {"document_locale": ["not_a_valid_language_code"]}),
])
def test_billing_configuration_enums_are_validated_after_the_customer_is_saved(lago, conf, details):
    # lago-behaviour#customer-billing-configuration-after-save: 422, yet the customer itself is written
    status, data = lago.post("/customers", {"customer": {"external_id": lago.id("b"), "name": "Written",
                                                         "billing_configuration": conf}})
    assert (status, data["error_details"]) == (422, details)
    customer = lago.ok("GET", f"/customers/{segment(lago.id('b'))}")["customer"]
    assert customer["name"] == "Written"
    assert all(customer["billing_configuration"][k] is None for k in conf)


def test_billing_configuration_values_lago_accepts(lago):
    customer = lago.customer("ok", billing_configuration={
        "document_locale": "pt-BR", "subscription_invoice_issuing_date_anchor": "current_period_end",
        "subscription_invoice_issuing_date_adjustment": "keep_anchor"})
    conf = customer["billing_configuration"]
    assert (conf["document_locale"], conf["subscription_invoice_issuing_date_anchor"],
            conf["subscription_invoice_issuing_date_adjustment"]) == ("pt-BR", "current_period_end", "keep_anchor")


def test_customer_answers_carry_error_details_and_no_provider_fields(lago):
    # lago-behaviour#customer-response
    customer = lago.customer("r")
    assert customer["error_details"] == []
    assert customer["billing_configuration"]["subscription_invoice_issuing_date_anchor"] is None
    assert "provider_customer_id" not in customer["billing_configuration"]
    assert lago.ok("GET", f"/customers/{segment(customer['external_id'])}")["customer"]["error_details"] == []
    listed = lago.ok("GET", "/customers", params={"per_page": 100})["customers"]
    assert all("error_details" not in c for c in listed)


# ------------------------------------------- taxes, subscriptions (lago-behaviour#tax-response, ...)

def test_tax_names_no_billing_entity(lago):
    tax = lago.ok("POST", "/taxes", {"tax": {"name": "VAT", "code": lago.id("vat"), "rate": "20",
                                             "applied_to_organization": True}})["tax"]
    assert tax["applied_to_organization"] is True and tax["rate"] == 20.0
    assert not any("billing_entit" in key for key in tax)


def test_subscription_update_uses_the_only_row_whatever_its_status(lago):
    # lago-behaviour#subscription-update
    plan = lago.plan("pro")
    customer = lago.customer("s")
    sub = lago.subscribe("future", plan["code"], customer["external_id"], subscription_at="2099-01-01T00:00:00Z")
    assert sub["status"] == "pending" and "purchase_order_number" not in sub  # lago-behaviour#subscription-response
    path = f"/subscriptions/{segment(sub['external_id'])}"
    assert lago.get(path)[0] == 404  # GET reads the active row only (lago-behaviour#subscription-list-status)
    updated = lago.ok("PUT", path, {"subscription": {"name": "Renamed"}})["subscription"]
    assert (updated["lago_id"], updated["name"], updated["status"]) == (sub["lago_id"], "Renamed", "pending")
    active = lago.subscribe("now", plan["code"], customer["external_id"])
    path = f"/subscriptions/{segment(active['external_id'])}"
    assert lago.ok("DELETE", path)["subscription"]["status"] == "terminated"
    updated = lago.ok("PUT", path, {"subscription": {"name": "Old"}})["subscription"]
    assert (updated["lago_id"], updated["name"], updated["status"]) == (active["lago_id"], "Old", "terminated")
    assert lago.put(f"/subscriptions/{segment(lago.id('none'))}", {"subscription": {"name": "x"}})[1]["code"] == \
        "subscription_not_found"


# ------------------------------------------- lagosync test -e ENV (lago-behaviour#current-usage, #event-ingestion)

def test_a_pricing_case_runs_live_and_leaves_nothing_behind(lago):
    """The live pricing run against this target: Lago's own current usage of the events it sent."""
    import asyncio
    from decimal import Decimal

    from lagosync.client.core import LagoClient
    from lagosync.emulator import EmulatorTransport
    from lagosync.pricing.live import run_case_live
    from lagosync.workspace.pricing_tests import CaseUsage, PricingCase

    metric = {"name": "m", "code": lago.id("calls"), "aggregation_type": "count_agg"}
    created = lago.ok("POST", "/billable_metrics", {"billable_metric": metric})["billable_metric"]
    plan = lago.plan("live", charges=[{"billable_metric_id": created["lago_id"], "charge_model": "standard",
                                       "properties": {"amount": "0.25"}}])
    case = PricingCase("pricing_tests/x.yaml", 2, "7 calls", plan["code"], {metric["code"]: [CaseUsage(Decimal(7))]},
                       [], [], None, [("charges", metric["code"], Decimal("1.75"))])

    async def run():
        transport = None if lago.emulator is None else EmulatorTransport(lago.emulator)
        base = str(lago.http.base_url)
        key = lago.http.headers["Authorization"].removeprefix("Bearer ")
        async with LagoClient(base, key, transport=transport) as client:
            return await run_case_live(client, case, {metric["code"]: metric})

    result = asyncio.run(run())
    assert result.passed and result.checked == 1, (result.failures, result.error, result.leftover)
    status, data = lago.get("/customers", {"per_page": 100})
    assert status == 200 and not [c for c in data["customers"] if c["external_id"].startswith("lagosync-test-")]
