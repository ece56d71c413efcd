"""lagosync drift against the emulator: a UI-style edit (raw HTTP PUT) shows up with exit 2 and the
exact field; ignore rules (and their expiry), unmanaged objects, user customers, fingerprint."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from lagosync.client import LagoClient
from lagosync.drift import run_drift
from lagosync.emulator import Emulator, EmulatorTransport
from lagosync.errors import UserError

KEY = "drift-key"
CATALOG = """\
billable_metrics:
  - code: calls
    name: Calls
    aggregation_type: sum_agg
    field_name: n
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 4900
    amount_currency: EUR
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.002"}
"""


async def _no_sleep(_s: float) -> None:
    return None


class World:
    def __init__(self, root: Path, settings: str = ""):
        self.root = root
        self.emulator = Emulator(":memory:", KEY)
        (root / "plans").mkdir(exist_ok=True)
        (root / "plans" / "catalog.yaml").write_text(CATALOG)
        self.settings(settings)

    def settings(self, extra: str) -> None:
        (self.root / "lagosync.yaml").write_text(
            "default_environment: local\nenvironments:\n  local: {}\nuser_id_prefix: usr_\n" + extra)

    def factory(self):
        return lambda ws, env: LagoClient("http://lago.local", KEY, environment=env, sleep=_no_sleep,
                                          transport=EmulatorTransport(self.emulator))

    def call(self, method, path, **kw):
        async def go():
            async with self.factory()(None, "local") as c:
                return await c.request(method, path, **kw)
        return asyncio.run(go())

    def drift(self, fmt="json", today=dt.date(2026, 8, 1)):
        text, code = run_drift(self.root, None, fmt, client_factory=self.factory(), today=today)
        return (json.loads(text) if fmt == "json" else text), code


@pytest.fixture
def world(tmp_path):
    from lagosync.applier import apply

    w = World(tmp_path)
    assert apply(tmp_path, None, auto_approve=True, client_factory=w.factory(),
                 out=lambda s: None, err=lambda s: None).ok
    return w


def test_no_drift_after_apply(world):
    report, code = world.drift()
    assert code == 0 and report["has_drift"] is False
    assert report["summary"] == {"changed": 0, "missing": 0, "unmanaged": 0, "user_customers": 0, "ignored": 0}
    assert report["coverage"]["declared"] == report["coverage"]["live"] == 2
    assert report["fingerprint"].startswith("sha256:")


def test_ui_edit_shows_the_exact_field_with_exit_2(world):
    plan = world.call("GET", "/plans/pro")["plan"]
    charge = plan["charges"][0]
    # what the Lago UI does: a PUT of the plan with the charge's new price
    world.call("PUT", "/plans/pro", json={"plan": {"name": "Pro", "charges": [{
        "id": charge["lago_id"], "billable_metric_id": charge["lago_billable_metric_id"],
        "charge_model": "standard", "properties": {"amount": "0.003"}}]}})
    report, code = world.drift()
    assert code == 2
    assert report["changed"] == [{
        "kind": "plan", "key": "pro", "id": "plan:pro", "source": "plans/catalog.yaml:7",
        "fields": [{"path": "charges.calls.properties.amount", "declared": "0.002", "live": "0.003"}]}]
    text, code = world.drift("text")
    assert code == 2 and 'charges.calls.properties.amount: declared "0.002", live "0.003"' in text
    md, _ = world.drift("markdown")
    assert "| `plan:pro` | `charges.calls.properties.amount` |" in md
    # the fingerprint depends on the drift, not on when it was read
    first = world.drift()[0]["fingerprint"]
    assert world.drift(today=dt.date(2026, 8, 2))[0]["fingerprint"] == first == report["fingerprint"]
    world.call("PUT", "/plans/pro", json={"plan": {"name": "Pro 2"}})
    assert world.drift()[0]["fingerprint"] != first


def test_missing_unmanaged_and_user_customers(world):
    world.call("DELETE", "/billable_metrics/calls")  # also drops the charge (lago-behaviour#metric-delete)
    world.call("POST", "/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}})
    world.call("POST", "/customers", json={"customer": {"external_id": "usr_9", "name": "u", "currency": "EUR"}})
    world.call("POST", "/subscriptions", json={"subscription": {
        "external_customer_id": "usr_9", "plan_code": "pro", "external_id": "sub_usr_9"}})
    report, code = world.drift()
    assert code == 2
    assert [m["id"] for m in report["missing"]] == ["billable_metric:calls"]
    assert {u["id"] for u in report["unmanaged"]} == {"tax:vat", "customer:usr_9", "subscription:sub_usr_9"}
    assert report["user_customers"] == [{"external_id": "usr_9", "migrating_to": None, "subscriptions": [
        {"external_id": "sub_usr_9", "plan_code": "pro"}]}]
    assert report["coverage"]["live"] == 4 and report["coverage"]["declared"] == 1


def test_ignore_rules_and_expiry(world):
    world.call("PUT", "/plans/pro", json={"plan": {"name": "Pro (UI)", "description": "set in the UI"}})
    world.call("POST", "/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}})
    world.settings(
        "ignore:\n"
        "  - {kind: plan, key: pro, field: name, reason: marketing renames in the UI}\n"
        "  - {kind: tax, key: '*', reason: finance owns taxes, expires: '2026-12-31'}\n"
        "  - {kind: plan, key: pro, field: description, reason: temp, expires: '2026-07-01'}\n")
    report, code = world.drift()
    assert code == 2  # the description rule expired
    assert report["changed"][0]["fields"] == [
        {"path": "description", "declared": None, "live": "set in the UI"}]
    assert report["unmanaged"] == []
    assert {(i["id"], i.get("path")) for i in report["ignored"]} == {("plan:pro", "name"), ("tax:vat", None)}
    assert len(report["warnings"]) == 1 and "expired on 2026-07-01" in report["warnings"][0]
    # on its expiry day a rule still ignores
    report, code = world.drift(today=dt.date(2026, 7, 1))
    assert code == 0 and report["warnings"] == []


def test_bad_format_is_a_user_error(world):
    with pytest.raises(UserError, match="--format"):
        run_drift(world.root, None, "yaml", client_factory=world.factory())
