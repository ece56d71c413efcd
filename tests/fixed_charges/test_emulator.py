"""Emulator: plan fixed charges (lago-behaviour#fixed-charges, lago-behaviour#plan-list-no-fixed-charges,
lago-behaviour#fixed-charge-reconcile, lago-behaviour#add-on-delete)."""

from __future__ import annotations

import httpx
import pytest

from lagosync.emulator import Emulator, EmulatorTransport

KEY = "fc-key"


class Api:
    def __init__(self, emu):
        self.http = httpx.Client(transport=EmulatorTransport(emu), base_url="http://lago.test/api/v1",
                                 headers={"Authorization": f"Bearer {KEY}"})

    def call(self, method, path, body=None):
        r = self.http.request(method, path, json=body)
        return r.status_code, (r.json() if r.content else None)

    def ok(self, method, path, body=None):
        status, out = self.call(method, path, body)
        assert status == 200, (status, out)
        return out


@pytest.fixture
def api():
    emu = Emulator(api_key=KEY)
    a = Api(emu)
    yield a
    a.http.close()
    emu.close()


@pytest.fixture
def add_on(api):
    api.ok("POST", "/taxes", {"tax": {"code": "vat", "name": "VAT", "rate": "20"}})
    body = {"code": "setup", "name": "Setup", "amount_cents": 5000, "amount_currency": "USD"}
    return api.ok("POST", "/add_ons", {"add_on": body})["add_on"]


def plan_body(fixed, **kw):
    return {"plan": {"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 100,
                     "amount_currency": "USD", "pay_in_advance": False, "fixed_charges": fixed, **kw}}


def test_create_returns_fixed_charges_with_add_on_fields(api, add_on):
    plan = api.ok("POST", "/plans", plan_body([
        {"add_on_id": add_on["lago_id"], "charge_model": "standard", "units": 2, "tax_codes": ["vat"],
         "properties": {"amount": "10.50", "grouped_by": ["x"]}},
    ]))["plan"]
    [fc] = plan["fixed_charges"]
    assert fc["code"] == "setup"  # spec: generated from the add-on code
    assert (fc["lago_add_on_id"], fc["add_on_code"], fc["lago_parent_id"]) == (add_on["lago_id"], "setup", None)
    assert fc["units"] == 2 and fc["properties"] == {"amount": "10.50"}
    assert [t["code"] for t in fc["taxes"]] == ["vat"]
    # lago-behaviour#plan-list-no-fixed-charges: single-object responses carry fixed_charges, the list does not
    assert api.ok("GET", "/plans/pro")["plan"]["fixed_charges"] == [fc]
    assert "fixed_charges" not in api.ok("GET", "/plans")["plans"][0]
    listed = api.ok("GET", "/plans/pro/fixed_charges")
    assert listed["fixed_charges"] == [fc] and listed["meta"]["total_count"] == 1
    assert api.ok("GET", "/plans/pro/fixed_charges/setup")["fixed_charge"] == fc
    assert api.call("GET", "/plans/pro/fixed_charges/nope")[0] == 404


def test_update_matches_by_id_creates_unmatched_and_deletes_absent(api, add_on):
    plan = api.ok("POST", "/plans", plan_body([
        {"add_on_code": "setup", "charge_model": "standard", "units": "1.5", "properties": {"amount": "1"}},
    ]))["plan"]
    old = plan["fixed_charges"][0]
    assert old["units"] == 1.5
    # re-sent with its id: updated in place, identity kept
    upd = api.ok("PUT", "/plans/pro", plan_body([
        {"id": old["lago_id"], "add_on_id": add_on["lago_id"], "charge_model": "standard", "units": 3,
         "properties": {"amount": "2"}},
        {"add_on_id": add_on["lago_id"], "code": "setup_2", "charge_model": "volume", "units": 1,
         "properties": {"volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1",
                                           "flat_amount": "0"}]}},
    ]))["plan"]["fixed_charges"]
    assert [(f["code"], f["lago_id"] == old["lago_id"], f["units"]) for f in upd] == [
        ("setup", True, 3), ("setup_2", False, 1)]
    # re-sent without id while its code exists: 422, nothing written (lago-behaviour#plan-charge-code-clash)
    status, body = api.call("PUT", "/plans/pro", plan_body([
        {"add_on_id": add_on["lago_id"], "charge_model": "standard", "units": 1, "properties": {"amount": "1"}}]))
    assert (status, body["error_details"]) == (422, {"code": ["value_already_exist"]})
    assert len(api.ok("GET", "/plans/pro")["plan"]["fixed_charges"]) == 2
    # omitted key: untouched; listed subset: the others are deleted
    assert len(api.ok("PUT", "/plans/pro", {"plan": {"name": "Pro 2"}})["plan"]["fixed_charges"]) == 2
    keep = api.ok("PUT", "/plans/pro", plan_body([{"id": upd[1]["lago_id"], "charge_model": "volume", "units": 1,
                                                    "properties": upd[1]["properties"]}]))
    assert [f["code"] for f in keep["plan"]["fixed_charges"]] == ["setup_2"]
    assert api.ok("PUT", "/plans/pro", plan_body([]))["plan"]["fixed_charges"] == []


def test_unknown_add_on_and_bad_model(api, add_on):
    status, body = api.call("POST", "/plans", plan_body([{"add_on_code": "nope", "charge_model": "standard"}]))
    assert (status, body["code"]) == (404, "add_on_not_found")
    status, body = api.call("POST", "/plans", plan_body([{"add_on_code": "setup", "charge_model": "package"}]))
    assert (status, body["error_details"]) == (422, {"charge_model": ["value_is_invalid"]})
    assert api.call("GET", "/plans/pro")[0] == 404  # nothing written


def test_add_on_delete_soft_deletes_its_fixed_charges(api, add_on):
    api.ok("POST", "/plans", plan_body([{"add_on_code": "setup", "charge_model": "standard", "units": 1,
                                         "properties": {"amount": "1"}}]))
    api.ok("DELETE", "/add_ons/setup")
    assert api.ok("GET", "/plans/pro")["plan"]["fixed_charges"] == []  # lago-behaviour#add-on-delete


def test_locked_fields_kept_once_plan_has_subscriptions(api, add_on):
    plan = api.ok("POST", "/plans", plan_body([{"add_on_code": "setup", "charge_model": "standard", "units": 1,
                                                "properties": {"amount": "1"}}]))["plan"]
    api.ok("POST", "/subscriptions", {"subscription": {"external_customer_id": "c1", "plan_code": "pro",
                                                       "external_id": "s1"}})
    fc = plan["fixed_charges"][0]
    out = api.ok("PUT", "/plans/pro", plan_body([
        {"id": fc["lago_id"], "charge_model": "volume", "pay_in_advance": True, "units": 4,
         "properties": {"amount": "7"}}]))["plan"]["fixed_charges"][0]
    # like charges (lago-behaviour#fixed-charge-update): model and timing kept, units and properties updated
    assert (out["charge_model"], out["pay_in_advance"], out["units"], out["properties"]) == (
        "standard", False, 4, {"amount": "7"})
