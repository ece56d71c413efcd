"""The plan tells the whole truth about which Lago it is for, end to end through the CLI against the
`local` emulator:

- the organization pin (lagosync.yaml `organization:`) is checked before anything is read, by every
  command that reads Lago; a saved plan records its organization and is refused elsewhere (exit 3);
- premium-only inputs (lago-behaviour#premium-ignored-fields) are blocked in the plan when the
  environment's Lago has no license (`premium:` false, the default), so apply writes nothing, and are
  planned and applied normally with `premium: true`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync.cli import main
from lagosync.emulator import Emulator

KEY = "lago-local-key"  # the local environment's key (lagosync.client.connect.LOCAL_API_KEY)

CATALOG = """\
billable_metrics:
  - {code: calls, name: Calls, aggregation_type: count_agg}
  - {code: spend, name: Spend, aggregation_type: sum_agg, field_name: amount}
plans:
  - code: trial
    name: Trial
    interval: monthly
    amount_cents: 0
    amount_currency: USD
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.01"}
"""

ORGS = """\
orgs:
  - external_id: org_a
    name: Org A
    currency: USD
    subscriptions:
      - {external_id: sub_a, plan_code: trial}
"""

MIN_AMOUNT = '        min_amount_cents: 500\n'

PREMIUM_PLAN = """\
  - code: usage
    name: Usage
    interval: monthly
    amount_cents: 0
    amount_currency: USD
    charges:
      - billable_metric_code: spend
        charge_model: graduated_percentage
        properties:
          graduated_percentage_ranges:
            - {from_value: 0, to_value: null, rate: "1", flat_amount: "0"}
      - billable_metric_code: calls
        charge_model: percentage
        properties: {rate: "2", per_transaction_min_amount: "0.5", per_transaction_max_amount: "10"}
"""


def workspace(root: Path, *, local: str = "{}", catalog: str = CATALOG) -> str:
    (root / "plans").mkdir(exist_ok=True)
    (root / "plans" / "catalog.yaml").write_text(catalog)
    (root / "orgs.yaml").write_text(ORGS)
    (root / "lagosync.yaml").write_text(f"default_environment: local\nenvironments:\n  local: {local}\n")
    return str(root)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def local_emulator(ws: str, **kw) -> Emulator:
    """The local environment's emulator, opened on its database (as `lagosync` opens it)."""
    folder = Path(ws) / ".lagosync"
    folder.mkdir(exist_ok=True)
    return Emulator(db_path=str(folder / "local.db"), api_key=KEY, **kw)


def get(emu: Emulator, path: str) -> dict:
    resp = emu.handle("GET", f"/api/v1{path}", [], {"Authorization": f"Bearer {KEY}"})
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


@pytest.fixture
def requests(monkeypatch):
    """Every (method, path) the emulator answers during the test."""
    seen: list[tuple[str, str]] = []
    handle = Emulator.handle

    def spy(self, method, path, *args, **kwargs):
        seen.append((method.upper(), path.partition("?")[0]))
        return handle(self, method, path, *args, **kwargs)

    monkeypatch.setattr(Emulator, "handle", spy)
    return seen


# ------------------------------------------------------------------ the organization pin

PINNED = '{organization: "Other Org"}'


@pytest.mark.parametrize("command", [["plan"], ["drift"], ["import"], ["apply", "--auto-approve"]],
                         ids=lambda c: c[0])
def test_every_reading_command_refuses_a_key_of_another_organization_before_reading(tmp_path, requests, command):
    ws = workspace(tmp_path, local=PINNED)
    result = run(*command, "-w", ws)
    assert result.exit_code == 1, result.output
    assert ("the API key of environment 'local' belongs to organization 'Lago emulator', but lagosync.yaml pins "
            "environment 'local' to organization 'Other Org': use an API key of 'Other Org'") in result.output
    assert "correct organization: for environment 'local' in lagosync.yaml" in result.output
    assert requests == [("GET", "/api/v1/organizations")]  # nothing else was read, nothing written
    assert "Traceback" not in result.output


def test_apply_with_a_key_of_another_organization_writes_nothing(tmp_path):
    ws = workspace(tmp_path, local=PINNED)
    result = run("apply", "-w", ws, "--auto-approve")
    assert result.exit_code == 1, result.output
    emu = local_emulator(ws)
    assert get(emu, "/plans")["plans"] == [] and get(emu, "/billable_metrics")["billable_metrics"] == []
    assert get(emu, "/customers")["customers"] == []
    assert not (Path(ws) / ".lagosync" / "audit.jsonl").exists()


def test_show_checks_the_pin_too(tmp_path):
    ws = workspace(tmp_path)
    out = str(tmp_path / "plan.json")
    assert run("plan", "-w", ws, "--out", out).exit_code == 0
    (tmp_path / "lagosync.yaml").write_text(f"default_environment: local\nenvironments:\n  local: {PINNED}\n")
    shown = run("show", out, "-w", ws)
    assert shown.exit_code == 1, shown.output
    assert "belongs to organization 'Lago emulator', but lagosync.yaml pins" in shown.output


def test_the_pin_accepts_the_organization_name_or_its_lago_id(tmp_path):
    ws = workspace(tmp_path, local='{organization: "Lago emulator"}')
    planned = run("plan", "-w", ws, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    lago_id = get(local_emulator(ws), "/organizations")["organization"]["lago_id"]
    (tmp_path / "lagosync.yaml").write_text(
        f"default_environment: local\nenvironments:\n  local: {{organization: \"{lago_id}\"}}\n")
    planned = run("plan", "-w", ws, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert lago_id not in planned.output  # ids are checked, never printed


def test_a_saved_plan_records_its_organization_and_is_refused_for_another_one(tmp_path, requests):
    ws = workspace(tmp_path)
    local_emulator(ws).set_organization_name("Org A")
    out = tmp_path / "plan.json"
    assert run("plan", "-w", ws, "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text())["organization"] == "Org A"
    local_emulator(ws).set_organization_name("Org B")  # the same URL now answers for another organization
    requests.clear()
    applied = run("apply", str(out), "-w", ws)
    assert applied.exit_code == 3, applied.output
    assert ("plan was made for organization 'Org A', but the API key of environment 'local' belongs to "
            "organization 'Org B'") in applied.output
    assert all(method == "GET" for method, _ in requests)  # refused before any write
    assert get(local_emulator(ws), "/plans")["plans"] == []
    # show says the same as a warning
    shown = run("show", str(out), "-w", ws)
    assert shown.exit_code == 0, shown.output
    assert "Warning: this plan was made for organization 'Org A'" in shown.output


# ------------------------------------------------------------------ premium-only inputs

def test_min_amount_cents_without_a_license_is_blocked_in_the_plan_and_apply_writes_nothing(tmp_path):
    ws = workspace(tmp_path, catalog=CATALOG + MIN_AMOUNT)
    planned = run("plan", "-w", ws, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "!! plan 'trial' cannot be created as declared  [new, premium_only]" in planned.output
    assert ("plan 'trial': cannot change charges.calls.min_amount_cents: this Lago has no premium license, so it "
            "ignores this input") in planned.output
    assert ("to do: remove it from the workspace, or set premium: true for environment 'local' in lagosync.yaml "
            "if this Lago has a license") in planned.output
    applied = run("apply", "-w", ws, "--auto-approve")
    assert applied.exit_code == 1, applied.output
    assert "preflight found problems; nothing was written" in applied.output
    emu = local_emulator(ws)
    assert get(emu, "/plans")["plans"] == [] and get(emu, "/billable_metrics")["billable_metrics"] == []


def test_adding_min_amount_cents_to_a_subscribed_plan_creates_no_orphan_version(tmp_path):
    ws = workspace(tmp_path)
    assert run("apply", "-w", ws, "--auto-approve").exit_code == 0
    (tmp_path / "plans" / "catalog.yaml").write_text(CATALOG + MIN_AMOUNT)
    planned = run("plan", "-w", ws)
    assert "!! plan 'trial' cannot be updated in place  [premium_only]" in planned.output
    assert "__v" not in planned.output  # no version is named: none will be made
    applied = run("apply", "-w", ws, "--auto-approve", "--allow-reprice")
    assert applied.exit_code == 1, applied.output
    assert "preflight found problems; nothing was written" in applied.output
    assert [p["code"] for p in get(local_emulator(ws), "/plans")["plans"]] == ["trial"]
    assert "__v" not in run("plan", "-w", ws).output


def test_with_premium_true_the_premium_inputs_apply_and_the_plan_is_then_empty(tmp_path):
    ws = workspace(tmp_path, local="{premium: true}", catalog=CATALOG + MIN_AMOUNT + PREMIUM_PLAN)
    planned = run("plan", "-w", ws)
    assert "premium_only" not in planned.output
    applied = run("apply", "-w", ws, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Lago matches the workspace (plan is empty)." in applied.output
    again = run("plan", "-w", ws, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    plans = {p["code"]: p for p in get(local_emulator(ws, premium=True), "/plans")["plans"]}
    assert plans["trial"]["charges"][0]["min_amount_cents"] == 500
    usage = {c["charge_model"]: c for c in plans["usage"]["charges"]}
    assert usage["percentage"]["properties"]["per_transaction_max_amount"] == "10"
