"""Import round trip: a catalog created with the official lago-python-client (not lagosync) against
the emulator served over HTTP; `import` then `plan` shows no changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lagosync.client import LagoClient
from lagosync.emulator import Emulator, EmulatorTransport, start_in_thread
from lagosync.errors import UserError
from lagosync.importer import run_import

KEY = "rt-key"


async def _no_sleep(_s: float) -> None:
    return None


@pytest.fixture
def served(tmp_path: Path):
    emulator = Emulator(":memory:", KEY)
    server, _thread = start_in_thread(host="127.0.0.1", port=0, emulator=emulator)
    try:
        yield emulator, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _seed_with_official_client(url: str) -> None:
    from lago_python_client.client import Client
    from lago_python_client.models import (
        AddOn,
        BillableMetric,
        Charge,
        Charges,
        Coupon,
        Customer,
        Plan,
        Subscription,
        Tax,
    )

    lago = Client(api_key=KEY, api_url=url)
    lago.taxes.create(Tax(code="vat_20", name="VAT 20%", rate="20"))
    calls = lago.billable_metrics.create(BillableMetric(
        name="API calls", code="api_calls", aggregation_type="sum_agg", field_name="count",
        filters=[{"key": "region", "values": ["us", "eu"]}]))
    seats = lago.billable_metrics.create(BillableMetric(name="Seats", code="seats", aggregation_type="count_agg"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10000, amount_currency="EUR"))
    lago.plans.create(Plan(
        name="Pro", code="pro", interval="monthly", amount_cents=4900, amount_currency="EUR", pay_in_advance=True,
        tax_codes=["vat_20"],
        charges=Charges(__root__=[
            Charge(billable_metric_id=calls.lago_id, charge_model="standard", properties={"amount": "0.0020"},
                   filters=[{"invoice_display_name": "EU", "values": {"region": ["eu"]},
                             "properties": {"amount": "0.003"}}]),
            Charge(billable_metric_id=seats.lago_id, charge_model="graduated", properties={"graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "5.50", "flat_amount": "0"}]}),
        ])))
    lago.plans.create(Plan(name="Team", code="team", interval="yearly", amount_cents=99000, amount_currency="EUR",
                           trial_period=14, bill_charges_monthly=True, pay_in_advance=False))
    lago.coupons.create(Coupon(name="Welcome", code="welcome", coupon_type="percentage", percentage_rate="10",
                               frequency="recurring", frequency_duration=3, expiration="no_expiration",
                               applies_to={"plan_codes": ["pro"]}))
    lago.customers.create(Customer(external_id="org_acme", name="Acme", email="billing@acme.test", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="org_acme", plan_code="pro",
                                           external_id="sub_org_acme", name="Acme Pro"))


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    return tmp_path


def test_import_then_plan_shows_no_changes(served, tmp_path):
    emulator, url = served
    _seed_with_official_client(url)
    root = _workspace(tmp_path)

    def factory(ws, env):
        return LagoClient("http://lago.local", KEY, environment=env, transport=EmulatorTransport(emulator),
                          sleep=_no_sleep)

    result = run_import(root, client_factory=factory)
    assert sorted(result.written) == ["orgs.yaml", "plans/catalog.yaml", "plans/pro.yaml", "plans/team.yaml"]
    pro = yaml.safe_load((root / "plans/pro.yaml").read_text())["plans"][0]
    assert "lago_id" not in (root / "plans/pro.yaml").read_text()
    amounts = {c["billable_metric_code"]: c["properties"] for c in pro["charges"]}
    assert amounts["api_calls"] == {"amount": "0.002"}  # decimal string, canonical
    orgs = yaml.safe_load((root / "orgs.yaml").read_text())["orgs"]
    assert orgs[0]["external_id"] == "org_acme"
    assert orgs[0]["subscriptions"] == [{"plan_code": "pro", "name": "Acme Pro"}]

    import asyncio

    from lagosync.workflow import plan_workspace

    plan = asyncio.run(plan_workspace(root, client_factory=factory))
    assert [op.describe() for op in plan.operations] == []
    assert plan.unchanged >= 9  # tax, 2 metrics, add-on, 2 plans, coupon, customer, subscription

    # a second import refuses to overwrite; with --force it rewrites, skipping what is declared
    with pytest.raises(UserError, match="import would change orgs.yaml .*--force"):
        from lagosync.importer import write_files
        write_files(root, {"orgs.yaml": {"orgs": []}})
    again = run_import(root, client_factory=factory)
    assert again.written == [] and "tax:vat_20" in again.skipped


def test_force_adds_to_an_existing_file_and_keeps_what_it_declares(served, tmp_path):
    """--force never drops declared objects: with --select of one new customer, orgs.yaml keeps its
    orgs and gains the imported one; a user named by migrate_from is not imported as an org."""
    emulator, url = served
    _seed_with_official_client(url)
    root = _workspace(tmp_path)

    def factory(ws, env):
        return LagoClient("http://lago.local", KEY, environment=env, transport=EmulatorTransport(emulator),
                          sleep=_no_sleep)

    run_import(root, client_factory=factory)
    from lago_python_client.client import Client
    from lago_python_client.models import Customer

    lago = Client(api_key=KEY, api_url=url)
    for ext in ("org_new", "usr_1"):
        lago.customers.create(Customer(external_id=ext, name=ext, currency="EUR"))
    orgs = root / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("- external_id: org_acme\n",
                                             "- external_id: org_acme\n  migrate_from: [usr_1]\n"))
    before = orgs.read_text()
    with pytest.raises(UserError, match="import would change orgs.yaml"):
        run_import(root, select=["customer:*"], client_factory=factory)
    assert orgs.read_text() == before  # refused: nothing written
    result = run_import(root, select=["customer:*"], force=True, client_factory=factory)
    assert result.written == ["orgs.yaml"]
    assert "customer:usr_1" in result.skipped and "customer:org_acme" in result.skipped
    doc = yaml.safe_load(orgs.read_text())["orgs"]
    assert [o["external_id"] for o in doc] == ["org_acme", "org_new"]
    assert doc[0]["migrate_from"] == ["usr_1"] and doc[0]["subscriptions"][0]["plan_code"] == "pro"

    import asyncio

    from lagosync.workflow import plan_workspace

    plan = asyncio.run(plan_workspace(root, client_factory=factory))
    # the imported org_new round-trips; the only change is the declared migration's record
    assert [op.id for op in plan.operations] == ["customer:usr_1"]
    assert plan.operations[0].move.record_only is True
