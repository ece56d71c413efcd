"""`lagosync import` writes what Lago holds, so the imported workspace validates and plans empty:
a scheduled downgrade is written as its target plan (not cancelled by the first apply), a
subscription on a superseded plan version gets the declared code, every customer field an org can
declare is written, and the "all values" charge filter round-trips. End to end through the CLI on
the `local` emulator of a tmp workspace."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.emulator import Emulator

KEY = "lago-local-key"  # the local environment's key


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".lagosync").mkdir(parents=True)
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    return root


class Seed:
    """Writes to the workspace's local emulator database directly (what the application or Lago's UI did)."""

    def __init__(self, root: Path):
        self.emu = Emulator(str(root / ".lagosync" / "local.db"), KEY)

    def __call__(self, method: str, path: str, body: dict | None = None) -> dict:
        res = self.emu.handle(method, f"/api/v1{path}", [], {"authorization": f"Bearer {KEY}",
                                                            "content-type": "application/json"},
                              json.dumps(body).encode() if body is not None else b"")
        assert res.status == 200, (path, res.status, res.body)
        return json.loads(res.body)

    def close(self) -> None:
        self.emu.close()


def _run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "-w", str(root)], catch_exceptions=False)


def _plan_empty(root: Path) -> None:
    res = _run(root, "plan", "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert "No changes" in res.output


def _orgs(root: Path) -> list[dict]:
    return yaml.safe_load((root / "orgs.yaml").read_text())["orgs"]


def _plan(code: str, cents: int, **extra) -> dict:
    return {"plan": {"code": code, "name": code.title(), "interval": "monthly", "amount_cents": cents,
                     "amount_currency": "USD", "pay_in_advance": False, **extra}}


def test_import_keeps_a_scheduled_downgrade(tmp_path):
    root = _workspace(tmp_path)
    seed = Seed(root)
    seed("POST", "/plans", _plan("pro", 4900))
    seed("POST", "/plans", _plan("starter", 1900))
    seed("POST", "/customers", {"customer": {"external_id": "org_acme", "name": "Acme", "currency": "USD"}})
    seed("POST", "/subscriptions", {"subscription": {"external_customer_id": "org_acme", "plan_code": "pro",
                                                     "external_id": "sub_org_acme", "name": "Acme"}})
    # a downgrade (lower yearly amount) is scheduled for the end of the period: the active row stays on pro
    sub = seed("POST", "/subscriptions", {"subscription": {"external_customer_id": "org_acme", "plan_code": "starter",
                                                           "external_id": "sub_org_acme", "name": "Acme"}})
    assert (sub["subscription"]["plan_code"], sub["subscription"]["next_plan_code"]) == ("pro", "starter")
    seed.close()

    res = _run(root, "import")
    assert res.exit_code == 0, res.output
    assert "downgrade to plan 'starter' scheduled" in res.output
    [org] = _orgs(root)
    assert org["subscriptions"] == [{"plan_code": "starter", "name": "Acme"}]
    assert _run(root, "validate").exit_code == 0
    _plan_empty(root)  # before: `pending_plan_code: "starter" -> null`, and apply cancelled the downgrade
    res = _run(root, "apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    seed = Seed(root)
    live = seed("GET", "/subscriptions/sub_org_acme")["subscription"]
    assert (live["plan_code"], live["next_plan_code"]) == ("pro", "starter")  # still scheduled
    seed.close()


def test_import_writes_declared_codes_for_a_plan_version_in_flight(tmp_path):
    """A subscription left on a superseded version (lagosync's `<code>__v<N>` naming) is written with
    the declared code and a note, its plan with price_change: new_version; the workspace validates and
    plans empty."""
    root = _workspace(tmp_path)
    seed = Seed(root)
    seed("POST", "/plans", _plan("starter", 1900, metadata={"managed_by": "lagosync",
                                                            "lagosync_superseded_by": "starter__v2"}))
    seed("POST", "/plans", _plan("starter__v2", 1900, pay_in_advance=True, metadata={
        "managed_by": "lagosync", "lagosync_code": "starter", "lagosync_version": "2"}))
    seed("POST", "/customers", {"customer": {"external_id": "org_a", "name": "A", "currency": "USD"}})
    seed("POST", "/customers", {"customer": {"external_id": "org_b", "name": "B", "currency": "USD"}})
    seed("POST", "/subscriptions", {"subscription": {"external_customer_id": "org_a", "plan_code": "starter__v2",
                                                     "external_id": "sub_org_a"}})
    seed("POST", "/subscriptions", {"subscription": {"external_customer_id": "org_b", "plan_code": "starter",
                                                     "external_id": "sub_org_b"}})
    seed.close()

    res = _run(root, "import")
    assert res.exit_code == 0, res.output
    assert ("note: org 'org_b': subscription 'sub_org_b' is on version 1 of plan 'starter', an old one; plan "
            "'starter' is written with price_change: new_version, so it stays there (a migration moves it)") in res.output
    assert sorted(p.name for p in (root / "plans").iterdir()) == ["starter.yaml"]
    assert [o["subscriptions"] for o in _orgs(root)] == [[{"plan_code": "starter"}], [{"plan_code": "starter"}]]
    assert "__v" not in (root / "orgs.yaml").read_text()
    res = _run(root, "validate")
    assert res.exit_code == 0, res.output  # before: plan_code starter__v1 did not validate
    _plan_empty(root)  # each subscription stays on its version (grandfathered)


CUSTOMER = {
    "external_id": "org_full", "name": "Full Corp", "email": "billing@full.test", "currency": "EUR",
    "country": "FR", "legal_name": "Full Corp SAS", "legal_number": "RCS 123", "tax_identification_number": "FR123",
    "net_payment_term": 30, "address_line1": "1 rue de la Paix", "address_line2": "Bat. B", "city": "Paris",
    "zipcode": "75002", "state": "IDF", "phone": "+33 1 00 00 00 00", "url": "https://full.test",
    "customer_type": "company", "firstname": "Ada", "lastname": "Lovelace", "finalize_zero_amount_invoice": "skip",
    "shipping_address": {"address_line1": "2 quai Branly", "city": "Lyon", "zipcode": "69002", "country": "FR"},
    "billing_configuration": {"document_locale": "fr"},
}


def test_import_writes_every_customer_field_an_org_can_declare(tmp_path):
    root = _workspace(tmp_path)
    seed = Seed(root)
    seed("POST", "/taxes", {"tax": {"code": "vat_fr", "name": "TVA", "rate": "20"}})
    seed("POST", "/plans", {"plan": {**_plan("pro", 4900)["plan"], "amount_currency": "EUR"}})
    seed("POST", "/customers", {"customer": {**CUSTOMER, "tax_codes": ["vat_fr"], "timezone": "Europe/Paris",
                                             "metadata": [{"key": "crm", "value": "42"}]}})
    seed("POST", "/subscriptions", {"subscription": {"external_customer_id": "org_full", "plan_code": "pro",
                                                     "external_id": "sub_full", "ending_at": "2099-06-30T00:00:00Z"}})
    seed.close()

    res = _run(root, "import")
    assert res.exit_code == 0, res.output
    [org] = _orgs(root)
    expected = {k: v for k, v in CUSTOMER.items()}
    assert {k: org[k] for k in expected} == expected
    assert org["tax_codes"] == ["vat_fr"]
    assert org["metadata"] == [{"key": "crm", "value": "42"}]
    assert org["subscriptions"] == [{"external_id": "sub_full", "plan_code": "pro",
                                     "ending_at": "2099-06-30T00:00:00Z"}]
    # Lago's defaults and fields an org cannot declare are not written
    assert not {"timezone", "account_type", "skip_invoice_custom_sections"} & set(org)
    assert set(org["billing_configuration"]) == {"document_locale"}
    res = _run(root, "validate")
    assert res.exit_code == 0, res.output
    _plan_empty(root)

    # the imported fields are managed: a change in orgs.yaml is planned and applied
    text = (root / "orgs.yaml").read_text()
    (root / "orgs.yaml").write_text(text.replace("document_locale: fr", "document_locale: de")
                                    .replace("2099-06-30T00:00:00Z", "2099-07-31T00:00:00Z"))
    res = _run(root, "plan", "--format", "json")
    changes = {(o["key"], c["path"]) for o in json.loads(res.output)["operations"] for c in o["changes"]}
    assert changes == {("org_full", "billing_configuration.document_locale"), ("sub_full", "ending_at")}
    res = _run(root, "apply", "--auto-approve")
    assert res.exit_code == 1 and "--allow-destroy" in res.output  # a new end date schedules a termination
    res = _run(root, "apply", "--auto-approve", "--allow-destroy")
    assert res.exit_code == 0, res.output
    _plan_empty(root)
    seed = Seed(root)
    assert seed("GET", "/subscriptions/sub_full")["subscription"]["ending_at"] == "2099-07-31T00:00:00Z"
    seed.close()


def test_import_round_trips_the_all_values_charge_filter(tmp_path):
    root = _workspace(tmp_path)
    seed = Seed(root)
    metric = seed("POST", "/billable_metrics", {"billable_metric": {
        "code": "tokens", "name": "Tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
        "filters": [{"key": "tier", "values": ["small", "large"]}]}})["billable_metric"]
    seed("POST", "/plans", _plan("pro", 4900, charges=[{
        "billable_metric_id": metric["lago_id"], "charge_model": "standard", "properties": {"amount": "0.01"},
        "filters": [{"values": {"tier": ["__ALL_FILTER_VALUES__"]}, "properties": {"amount": "0.02"}},
                    {"values": {"tier": ["large"]}, "properties": {"amount": "0.03"}}]}]))
    seed.close()

    res = _run(root, "import")
    assert res.exit_code == 0, res.output
    [plan] = yaml.safe_load((root / "plans" / "pro.yaml").read_text())["plans"]
    assert sorted(f["values"]["tier"][0] for f in plan["charges"][0]["filters"]) == ["__ALL_FILTER_VALUES__", "large"]
    res = _run(root, "validate")
    assert res.exit_code == 0, res.output  # before: "value '__ALL_FILTER_VALUES__' is not declared for filter 'tier'"
    _plan_empty(root)
