"""`lagosync test -e ENV`: the pricing cases run live against a Lago (here the embedded local one):
a throwaway customer and subscription, the usage sent as events, Lago's current usage compared with
the per-charge expectations, everything removed after. Through the CLI, plus the units-to-events rule
and the clean-up when Lago fails half-way."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.client.errors import LagoValidationError
from lagosync.emulator import Emulator
from lagosync.pricing.live import LiveCaseError, live_events, run_case_live
from lagosync.workspace.pricing_tests import CaseUsage, PricingCase

CASES = """\
pricing_tests:
  - name: 250 calls on starter
    plan: starter
    usage: {api_calls: 250}
    expect: {charges: {api_calls: "0.50"}, subscription: "19.00"}
  - name: a million calls
    plan: starter
    usage: {api_calls: 1000000}
    expect: {charges: {api_calls: "2000.00"}}
"""


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "billing"
    assert cli("init", str(root)).exit_code == 0
    (root / "pricing_tests").mkdir()
    (root / "pricing_tests" / "cases.yaml").write_text(CASES)
    return root


def customers(ws: Path) -> list[str]:
    emu = Emulator(db_path=str(ws / ".lagosync" / "local.db"), api_key="lago-local-key")
    resp = emu.handle("GET", "/api/v1/customers", [], {"Authorization": "Bearer lago-local-key"}, b"")
    return [c["external_id"] for c in json.loads(resp.body)["customers"]]


def test_live_run_through_the_cli(ws: Path) -> None:
    # before apply, the plan is not in Lago: the live run says so and fails
    before = cli("test", "-w", str(ws), "-e", "local")
    assert before.exit_code == 1
    assert ("pricing_tests/cases.yaml:2: 250 calls on starter: live run failed: plan 'starter' is not in this "
            "Lago; apply the workspace to it first") in before.stdout
    assert cli("apply", "-w", str(ws), "--auto-approve").exit_code == 0

    ok = cli("test", "-w", str(ws), "-e", "local")
    assert ok.exit_code == 0, ok.stdout
    assert ok.stdout.splitlines() == [
        "ok: 2 pricing tests in 1 file passed",
        "pricing_tests/cases.yaml:6: a million calls: not run live: metric 'api_calls': 1000000 units would be "
        "1000000 events, more than a live case sends (1000); lower the units for a live run",
        "live against 'local': 1 case(s) run, 1 charge amount(s) compared with Lago's current usage, 1 not run "
        "live; all as expected"]
    assert customers(ws) == ["org_example"]  # the throwaway customer is gone
    assert cli("plan", "-w", str(ws), "--detailed-exitcode").exit_code == 0

    # the workspace raises the price but it is not applied: offline passes, Lago still charges the old one
    plans = ws / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace('amount: "0.002"', 'amount: "0.004"'))
    cases = ws / "pricing_tests" / "cases.yaml"
    cases.write_text(CASES.replace('"0.50"', '"1.00"').replace('"2000.00"', '"4000.00"'))
    assert cli("test", "-w", str(ws)).exit_code == 0
    stale = cli("test", "-w", str(ws), "-e", "local", "--format", "json")
    assert stale.exit_code == 1
    live = json.loads(stale.stdout)["live"]
    assert live["environment"] == "local"
    assert live["cases"][0]["failures"] == [
        "live: expected charge api_calls 1.00 USD, Lago's current usage says 0.50 USD"]
    assert live["cases"][1]["skipped"].startswith("metric 'api_calls': 1000000 units")
    assert customers(ws) == ["org_example"]


def _metric(kind: str, field: str | None = None) -> dict:
    return {"code": "m", "aggregation_type": kind, "field_name": field}


def test_units_become_the_events_lago_aggregates_back() -> None:
    filtered = CaseUsage(units=Decimal(3), values={"region": "eu"})
    assert live_events(_metric("count_agg"), [filtered]) == [
        {"code": "m", "properties": {"region": "eu"}}] * 3
    uniques = live_events(_metric("unique_count_agg", "user"), [CaseUsage(units=Decimal(2))])
    assert [e["properties"]["user"] for e in uniques] == ["lagosync-test-0", "lagosync-test-1"]
    summed = live_events(_metric("sum_agg", "gb"), [CaseUsage(units=Decimal("1.50"))])
    assert summed == [{"code": "m", "properties": {"gb": "1.5"}}]
    each = live_events(_metric("sum_agg", "gb"), [CaseUsage(units=Decimal(5), event_values=(Decimal(2), Decimal(3)),
                                                            precise_total_amount_cents=Decimal("12.5"))])
    assert [e["properties"]["gb"] for e in each] == ["2", "3"] and each[0]["precise_total_amount_cents"] == "12.5"
    assert live_events(_metric("max_agg", "seats"), [CaseUsage(units=Decimal(40))])[0]["properties"] == {"seats": "40"}
    for metric, usage, message in (
            (_metric("count_agg"), CaseUsage(units=Decimal("2.5")), "is not a whole number"),
            (_metric("count_agg"), CaseUsage(units=Decimal(1001)), r"more than a live case sends \(1000\)"),
            (_metric("weighted_sum_agg", "x"), CaseUsage(units=Decimal(1)), "aggregates by weighted_sum_agg")):
        with pytest.raises(LiveCaseError, match=message):
            live_events(metric, [usage])


class FailingEvents:
    """A Lago that takes the customer and the subscription, then refuses the events."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get_plan_or_none(self, code: str):
        return {"code": "starter", "amount_currency": "USD"}

    async def create_customer(self, body: dict):
        self.calls.append(f"create customer {body['external_id']}")

    async def create_subscription(self, body: dict):
        self.calls.append(f"create subscription {body['external_id']}")

    async def send_events(self, events: list):
        raise LagoValidationError("POST /events/batch: code does not exist", status=422)

    async def terminate_subscription(self, external_id: str, on_termination_invoice: str | None = None):
        self.calls.append(f"terminate {external_id}")
        self.termination_invoice = on_termination_invoice

    async def delete_customer(self, external_id: str):
        self.calls.append(f"delete {external_id}")


def test_what_a_failed_live_case_created_is_removed() -> None:
    case = PricingCase("pricing_tests/x.yaml", 2, "calls", "starter", {"m": [CaseUsage(units=Decimal(2))]}, [], [],
                       None, [("charges", "m", Decimal("1.00"))])
    client = FailingEvents()
    result = asyncio.run(run_case_live(client, case, {"m": _metric("count_agg")}))
    assert not result.passed and "code does not exist" in str(result.error) and result.leftover is None
    created, sub, terminated, deleted = client.calls
    customer = created.removeprefix("create customer ")
    assert customer.startswith("lagosync-test-") and sub == f"create subscription {customer}-sub"
    assert terminated == f"terminate {customer}-sub" and deleted == f"delete {customer}"
    assert client.termination_invoice == "skip"  # a throwaway subscription leaves no invoice


def test_live_expectations_stay_exact() -> None:
    from lagosync.pricing.live import _expected_cents

    case = PricingCase("pricing_tests/x.yaml", 2, "c", "starter", {}, [], [], None,
                       [("charges", "m", Decimal("0.005")), ("charges_cents", "n", 3), ("total", None, Decimal(1))])
    # half a cent is never rounded down to a whole one to compare with Lago's integer amount
    assert _expected_cents(case, "USD") == [("m", Decimal("0.5"), "0.005 USD"), ("n", Decimal(3), "3 cents")]
