"""The spec validator itself: it accepts what the emulator renders and rejects what does not conform.

The session-wide check (root tests/conftest.py) validates every response of the whole suite; these
tests make sure that check can fail, and that every listed server-vs-spec exception applies.
"""

from __future__ import annotations

import copy

import httpx
import pytest

from lagosync.emulator import Emulator, EmulatorTransport
from lagosync.emulator.spec import load_validator
from lagosync.emulator.spec_exceptions import NULLABLE_IN_RESPONSES, SPEC_EXCEPTIONS


@pytest.fixture(scope="module")
def validator(spec_path):
    return load_validator(str(spec_path))


@pytest.fixture
def api():
    emu = Emulator(api_key="k")
    with httpx.Client(transport=EmulatorTransport(emu), base_url="http://x/api/v1",
                      headers={"Authorization": "Bearer k"}) as c:
        yield c


def _scenario(api):
    bm = api.post("/billable_metrics", json={"billable_metric": {
        "name": "Calls", "code": "calls", "aggregation_type": "sum_agg", "field_name": "n",
        "filters": [{"key": "region", "values": ["eu", "us"]}]}}).json()["billable_metric"]
    api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
    plan = api.post("/plans", json={"plan": {
        "name": "Pro", "code": "pro", "interval": "yearly", "amount_cents": 100, "amount_currency": "EUR",
        "pay_in_advance": True, "bill_charges_monthly": True, "tax_codes": ["vat"], "metadata": {"a": "b"},
        "trial_period": 3,
        "charges": [{"billable_metric_id": bm["lago_id"], "charge_model": "graduated", "tax_codes": ["vat"],
                     "properties": {"graduated_ranges": [
                         {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                         {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"}]},
                     "filters": [{"values": {"region": ["eu"]}, "invoice_display_name": "EU",
                                  "properties": {"graduated_ranges": [
                                      {"from_value": 0, "to_value": None, "per_unit_amount": "2",
                                       "flat_amount": "0"}]}}]}]}})
    api.post("/customers", json={"customer": {"external_id": "c1", "name": "Acme", "currency": "EUR",
                                              "tax_codes": ["vat"],
                                              "metadata": [{"key": "k", "value": "v", "display_in_invoice": True}]}})
    api.post("/subscriptions", json={"subscription": {"external_customer_id": "c1", "plan_code": "pro",
                                                      "external_id": "s1", "name": "Pro"}})
    return bm, plan


def test_emulator_responses_validate(api, validator):
    _scenario(api)
    checks = [
        ("GET", "/plans/pro", "/plans/{code}"), ("GET", "/plans", "/plans"),
        ("GET", "/customers/c1", "/customers/{external_customer_id}"),
        ("GET", "/subscriptions/s1", "/subscriptions/{external_id}"), ("GET", "/taxes/vat", "/taxes/{code}"),
        ("GET", "/billable_metrics/calls", "/billable_metrics/{code}"), ("GET", "/plans/none", "/plans/{code}"),
    ]
    for method, path, template in checks:
        r = api.request(method, path)
        assert validator.validate(method, template, r.status_code, r.json()) == [], path


def test_validator_rejects_non_conforming_bodies(api, validator):
    _, plan = _scenario(api)
    body = api.get("/plans/pro").json()
    broken = copy.deepcopy(body)
    del broken["plan"]["code"]
    assert any("code" in p for p in validator.validate("GET", "/plans/{code}", 200, broken))
    broken = copy.deepcopy(body)
    broken["plan"]["amount_cents"] = "100"
    assert validator.validate("GET", "/plans/{code}", 200, broken)
    # error bodies are checked too: a 404 without code is not Lago's shape (lago-behaviour#not-found-codes)
    assert validator.validate("GET", "/plans/{code}", 404, {"status": 404, "error": "Not Found"})
    # an operation the spec does not know is reported, not silently accepted
    assert validator.validate("GET", "/plans/{code}/nothing", 200, {})


def test_tax_rate_float_exception_is_needed_and_listed(validator):
    # lago-behaviour#tax-response, lago-behaviour#spec-discrepancies: without the exception the server's float would be rejected
    names = {e.name for e in SPEC_EXCEPTIONS}
    assert {"tax-rate-is-a-float", "get-organizations-undocumented", "health-undocumented",
            "unset-attributes-are-null"} <= names
    assert all(e.cites.startswith("lago-behaviour#") for e in SPEC_EXCEPTIONS)
    rate = validator.spec["components"]["schemas"]["TaxObject"]["properties"]["rate"]
    assert "number" in rate["type"]
    assert all(why.startswith("lago-behaviour#") for _, _, why in NULLABLE_IN_RESPONSES)


def test_get_organizations_validated_like_put(api, validator):
    r = api.get("/organizations")
    assert r.status_code == 200
    assert validator.validate("GET", "/organizations", 200, r.json()) == []
    assert validator.validate("GET", "/organizations", 200, {"organization": {"name": 3}})


def test_session_check_fails_the_run_on_a_non_conforming_response(request, spec_path):
    """The root conftest's end-of-session hook turns a recorded non-conforming body into exit status 1."""
    from types import SimpleNamespace

    root = next(p for p in request.config.pluginmanager.get_plugins()
                if getattr(p, "__file__", "").endswith("tests/conftest.py")
                and "conformance" not in getattr(p, "__file__", ""))
    rec = root.recorder
    saved = (rec.responses, dict(root._report), root.SPEC_PATH)
    try:
        rec.responses = {("GET", "/plans/{code}", 404): [{"status": 404, "error": "Not Found"}]}  # no code
        root.SPEC_PATH = spec_path
        session = SimpleNamespace(exitstatus=0)
        root.pytest_sessionfinish(session, 0)
        assert session.exitstatus == 1
        assert any("/plans/{code}" in p for p in root._report["problems"])
        # and a conforming one does not
        root._report.update(problems=[], checked=0)
        rec.responses = {("GET", "/plans/{code}", 404): [
            {"status": 404, "error": "Not Found", "code": "plan_not_found"}]}
        session = SimpleNamespace(exitstatus=0)
        root.pytest_sessionfinish(session, 0)
        assert session.exitstatus == 0 and root._report["problems"] == []
    finally:
        rec.responses, root.SPEC_PATH = saved[0], saved[2]
        root._report.clear()
        root._report.update(saved[1])
