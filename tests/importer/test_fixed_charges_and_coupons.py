"""Import writes plan fixed charges and org coupons (applied coupons): a Lago seeded with the
official lago-python-client over HTTP, `import`, then `plan` shows no changes, the files validate,
and the live reader then really reads what was imported (a later edit in Lago shows up)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lagosync.client import LagoClient
from lagosync.emulator import Emulator, EmulatorTransport, start_in_thread
from lagosync.importer import run_import
from lagosync.workflow import plan_workspace
from lagosync.workspace import validate_workspace

KEY = "fc-key"
ROOT = Path(__file__).resolve().parents[2]


async def _no_sleep(_s: float) -> None:
    return None


@pytest.fixture
def served():
    emulator = Emulator(":memory:", KEY)
    server, _thread = start_in_thread(host="127.0.0.1", port=0, emulator=emulator)
    try:
        yield emulator, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _seed(url: str):
    from lago_python_client.client import Client
    from lago_python_client.models import (
        AddOn,
        AppliedCoupon,
        Coupon,
        Customer,
        FixedCharge,
        FixedCharges,
        Plan,
        Tax,
    )

    lago = Client(api_key=KEY, api_url=url)
    lago.taxes.create(Tax(code="vat_20", name="VAT 20%", rate="20"))
    setup = lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10000, amount_currency="EUR"))
    lago.add_ons.create(AddOn(name="Onboarding", code="onboarding", amount_cents=50000, amount_currency="EUR"))
    lago.plans.create(Plan(
        name="Pro", code="pro", interval="monthly", amount_cents=4900, amount_currency="EUR", pay_in_advance=True,
        fixed_charges=FixedCharges(__root__=[
            # by add-on id (as the API wants it), units and amount with trailing zeros
            FixedCharge(add_on_id=setup.lago_id, charge_model="standard", units="2.50",
                        pay_in_advance=True, properties={"amount": "10.00"}, tax_codes=["vat_20"]),
            # by add-on code, with its own code and a graduated model
            FixedCharge(add_on_code="onboarding", code="onboarding_tiers", charge_model="graduated", units=3,
                        invoice_display_name="Onboarding", properties={"graduated_ranges": [
                            {"from_value": 0, "to_value": 2, "per_unit_amount": "100", "flat_amount": "0"},
                            {"from_value": 3, "to_value": None, "per_unit_amount": "80.0", "flat_amount": "0"}]}),
        ])))
    lago.plans.create(Plan(name="Team", code="team", interval="monthly", amount_cents=900, amount_currency="EUR",
                           pay_in_advance=False))
    lago.coupons.create(Coupon(name="Welcome", code="welcome", coupon_type="percentage", percentage_rate="10",
                               frequency="recurring", frequency_duration=3, expiration="no_expiration"))
    lago.coupons.create(Coupon(name="Fifty", code="fifty", coupon_type="fixed_amount", amount_cents=5000,
                               amount_currency="EUR", frequency="once", expiration="no_expiration",
                               reusable=True))
    for ext in ("org_acme", "org_beta", "org_plain"):
        lago.customers.create(Customer(external_id=ext, name=ext, currency="EUR"))
    # overrides: a longer duration; no override (the coupon's values); a smaller amount
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="org_acme", coupon_code="welcome",
                                              frequency_duration=6))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="org_acme", coupon_code="fifty"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="org_beta", coupon_code="fifty",
                                              amount_cents=2500))
    # a terminated applied coupon is history, never imported
    terminated = lago.applied_coupons.create(AppliedCoupon(external_customer_id="org_plain", coupon_code="welcome"))
    return lago, terminated


def _terminate(emulator: Emulator, org: str, lago_id: str) -> None:
    resp = emulator.handle("DELETE", f"/api/v1/customers/{org}/applied_coupons/{lago_id}", [],
                           {"Authorization": f"Bearer {KEY}"}, b"")
    assert resp.status == 200, resp.body


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    return tmp_path


def _factory(emulator: Emulator):
    def factory(ws, env):
        return LagoClient("http://lago.local", KEY, environment=env, transport=EmulatorTransport(emulator),
                          sleep=_no_sleep)
    return factory


def _plan_ops(root: Path, emulator: Emulator) -> list[str]:
    plan = asyncio.run(plan_workspace(root, client_factory=_factory(emulator)))
    return [op.describe() for op in plan.operations]


def _validate_files(root: Path) -> None:
    assert validate_workspace(root) == []
    plans_schema = json.loads((ROOT / "schemas/plans.schema.json").read_text())
    orgs_schema = json.loads((ROOT / "schemas/orgs.schema.json").read_text())
    for path in sorted(root.rglob("*.yaml")):
        if path.name == "lagosync.yaml":
            continue
        doc = yaml.safe_load(path.read_text())
        jsonschema.validate(doc, orgs_schema if path.name == "orgs.yaml" else plans_schema)


def test_import_writes_fixed_charges_and_coupons_and_plan_is_empty(served, tmp_path):
    emulator, url = served
    lago, terminated = _seed(url)
    _terminate(emulator, "org_plain", terminated.lago_id)
    root = _workspace(tmp_path)

    result = run_import(root, client_factory=_factory(emulator))
    assert result.notes == []
    assert result.counts["fixed_charges"] == 2 and result.counts["applied_coupons"] == 3

    pro = yaml.safe_load((root / "plans/pro.yaml").read_text())["plans"][0]
    assert pro["fixed_charges"] == [
        {"add_on_code": "onboarding", "code": "onboarding_tiers", "charge_model": "graduated",
         "invoice_display_name": "Onboarding", "units": 3, "properties": {"graduated_ranges": [
             {"from_value": 0, "to_value": 2, "per_unit_amount": "100", "flat_amount": "0"},
             {"from_value": 3, "to_value": None, "per_unit_amount": "80", "flat_amount": "0"}]}},
        {"add_on_code": "setup", "charge_model": "standard", "units": "2.5", "pay_in_advance": True,
         "properties": {"amount": "10"}, "tax_codes": ["vat_20"]},
    ]
    # a plan without fixed charges gets no key: `plan` needs no extra GET for it
    team = yaml.safe_load((root / "plans/team.yaml").read_text())["plans"][0]
    assert "fixed_charges" not in team

    orgs = {o["external_id"]: o for o in yaml.safe_load((root / "orgs.yaml").read_text())["orgs"]}
    assert orgs["org_acme"]["coupons"] == [{"coupon_code": "fifty"},
                                           {"coupon_code": "welcome", "frequency_duration": 6}]
    assert orgs["org_beta"]["coupons"] == [{"coupon_code": "fifty", "amount_cents": 2500}]
    assert "coupons" not in orgs["org_plain"]  # its only applied coupon is terminated

    _validate_files(root)
    assert _plan_ops(root, emulator) == []

    # the live reader reads what was imported: edits made in Lago afterwards show up in `plan`
    lago_plan = lago.plans.find("pro")
    body = {"plan": {"fixed_charges": [
        {"id": fc.lago_id, "add_on_code": fc.add_on_code, "code": fc.code, "charge_model": fc.charge_model,
         "units": 7 if fc.code == "setup" else fc.units, "pay_in_advance": fc.pay_in_advance,
         "properties": fc.properties.dict(exclude_none=True) if hasattr(fc.properties, "dict") else fc.properties}
        for fc in lago_plan.fixed_charges.__root__]}}
    resp = emulator.handle("PUT", "/api/v1/plans/pro", [], {"Authorization": f"Bearer {KEY}",
                                                            "Content-Type": "application/json"},
                           json.dumps(body).encode())
    assert resp.status == 200, resp.body
    applied = {(a.external_customer_id, a.coupon_code): a.lago_id
               for a in lago.applied_coupons.find_all({"status": "active"})["applied_coupons"]}
    _terminate(emulator, "org_beta", applied[("org_beta", "fifty")])
    plan = asyncio.run(plan_workspace(root, client_factory=_factory(emulator)))
    assert sorted(op.id for op in plan.operations) == ["applied_coupon:org_beta/fifty", "plan:pro"]
    changes = {c.path: (c.old, c.new) for op in plan.operations if op.id == "plan:pro" for c in op.changes}
    assert changes == {"fixed_charges.setup.units": ("7", "2.5")}
    assert [op.action for op in plan.operations if op.id == "applied_coupon:org_beta/fifty"] == ["create"]


def test_selection_imports_what_the_selected_objects_use(served, tmp_path):
    """--select of one org and one plan: the coupon the org was given and the add-ons (and tax) the
    plan's fixed charges use are imported with them, named in the summary, so the files validate
    and plan is empty (otherwise validate would refuse the workspace, and import with it)."""
    emulator, url = served
    _seed(url)
    root = _workspace(tmp_path)

    result = run_import(root, select=["customer:org_beta", "plan:pro", "add_on:setup"],
                        client_factory=_factory(emulator))
    assert sorted(result.written) == ["orgs.yaml", "plans/catalog.yaml", "plans/pro.yaml"]
    assert sorted(result.notes) == [
        "also imported add-on 'onboarding' (plan 'pro' uses it)",
        "also imported coupon 'fifty' (customer 'org_beta' uses it)",
        "also imported tax 'vat_20' (plan 'pro' uses it)",
    ]
    assert "note: also imported coupon 'fifty'" in result.summary()
    catalog = yaml.safe_load((root / "plans/catalog.yaml").read_text())
    assert [c["code"] for c in catalog["coupons"]] == ["fifty"]  # not welcome: nothing selected uses it
    assert sorted(a["code"] for a in catalog["add_ons"]) == ["onboarding", "setup"]
    orgs = yaml.safe_load((root / "orgs.yaml").read_text())["orgs"]
    assert [o["external_id"] for o in orgs] == ["org_beta"]
    assert orgs[0]["coupons"] == [{"coupon_code": "fifty", "amount_cents": 2500}]
    _validate_files(root)
    assert _plan_ops(root, emulator) == []

    # the rest, later: declared objects are skipped, plan stays empty
    again = run_import(root, select=["coupon:*", "customer:*", "plan:*"], force=True,
                       client_factory=_factory(emulator))
    assert "customer:org_beta" in again.skipped and "coupon:fifty" in again.skipped
    orgs = {o["external_id"]: o for o in yaml.safe_load((root / "orgs.yaml").read_text())["orgs"]}
    assert orgs["org_acme"]["coupons"] == [{"coupon_code": "fifty"},
                                           {"coupon_code": "welcome", "frequency_duration": 6}]
    _validate_files(root)
    assert _plan_ops(root, emulator) == []
