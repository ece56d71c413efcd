"""Fixed charges through model, planner, live read and apply on the emulator (lago-behaviour#fixed-charges)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lagosync import workflow
from lagosync.cli import main
from lagosync.model import ModelError, from_api, from_yaml

ROOT = Path(__file__).resolve().parents[2]


def _plan_yaml(**extra):
    return {"code": "p", "name": "P", "interval": "monthly", "amount_cents": 1, "amount_currency": "USD", **extra}


def test_model_defaults_and_api_equivalence():
    y = from_yaml("plan", _plan_yaml(fixed_charges=[{"add_on_code": "setup", "charge_model": "standard",
                                                      "units": "2.50", "properties": {"amount": "10.0"}}]))
    fc = y["fixed_charges"]["setup"]
    assert fc == {"code": "setup", "add_on_code": "setup", "charge_model": "standard", "invoice_display_name": None,
                  "units": "2.5", "pay_in_advance": False, "prorated": False, "properties": {"amount": "10"},
                  "tax_codes": []}
    api = from_api("plan", _plan_yaml(fixed_charges=[{
        "lago_id": "x", "lago_add_on_id": "y", "code": "setup", "add_on_code": "setup", "invoice_display_name": "",
        "charge_model": "standard", "units": 2.5, "pay_in_advance": False, "prorated": False,
        "properties": {"amount": "10.00"}, "lago_parent_id": None, "taxes": []}]))
    assert api["fixed_charges"] == y["fixed_charges"]
    assert from_yaml("plan", _plan_yaml())["fixed_charges"] == {}
    with pytest.raises(ModelError, match="float"):
        from_yaml("plan", _plan_yaml(fixed_charges=[{"add_on_code": "s", "charge_model": "standard", "units": 1.5}]))


def plan_workspace(ws, env, *, prune):
    return asyncio.run(workflow.plan_workspace(ws, env, prune=prune))


def _ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy(ROOT / name, ws / name)
    shutil.copytree(ROOT / "plans", ws / "plans")
    return ws


def _run(ws: Path, *args: str):
    return CliRunner().invoke(main, [*args, "-w", str(ws)], catch_exceptions=False)


def _edit(ws: Path, old: str, new: str) -> None:
    f = ws / "plans" / "plans.yaml"
    text = f.read_text()
    assert text.count(old) == 1, old
    f.write_text(text.replace(old, new))


def test_example_workspace_apply_then_plan_empty_and_changes(tmp_path):
    ws = _ws(tmp_path)
    assert "add_on_code: onboarding" in (ws / "plans" / "plans.yaml").read_text()  # the Quickstart exercises it
    r = _run(ws, "apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert not plan_workspace(ws, None, prune=False).has_changes
    # a price change re-prices Enterprise subscribers and keeps the fixed charge's identity
    _edit(ws, 'amount: "500"', 'amount: "450"')
    plan = plan_workspace(ws, None, prune=False)
    [op] = plan.operations
    assert (op.id, op.reasons) == ("plan:enterprise", ("changed", "reprices_subscribers"))
    assert [(c.path, c.old, c.new) for c in op.changes] == [
        ("fixed_charges.onboarding.properties.amount", "500", "450")]
    assert _run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    assert not plan_workspace(ws, None, prune=False).has_changes
    # removing it (the key kept as []) deletes it: charge_removed, a destroy reason
    text = (ws / "plans" / "plans.yaml").read_text()
    (ws / "plans" / "plans.yaml").write_text(text[:text.index("    fixed_charges:\n")] + "    fixed_charges: []\n")
    [op] = plan_workspace(ws, None, prune=False).operations
    assert "charge_removed" in op.reasons and op.details["removed_fixed_charges"] == ["onboarding"]
    assert op.destructive
    assert "removes fixed charge 'onboarding' from plan 'enterprise'" in op.impacts()
    assert _run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code != 0  # refused without the flag
    assert _run(ws, "apply", "--auto-approve", "--allow-reprice", "--allow-destroy").exit_code == 0
    assert not plan_workspace(ws, None, prune=False).has_changes


def test_locked_fixed_charge_field_after_subscription_needs_new_version(tmp_path):
    ws = _ws(tmp_path)
    assert _run(ws, "apply", "--auto-approve").exit_code == 0
    _edit(ws, "        units: 1\n        pay_in_advance: true\n", "        units: 1\n        pay_in_advance: false\n")
    [op] = plan_workspace(ws, None, prune=False).operations
    assert (op.action, op.reasons[0]) == ("replace", "locked_after_subscription")
    assert op.version.locked_paths == ("fixed_charges.onboarding.pay_in_advance",)
    assert _run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    assert not plan_workspace(ws, None, prune=False).has_changes


def test_depends_on_the_add_on(tmp_path):
    ws = _ws(tmp_path)
    plan = plan_workspace(ws, None, prune=False)
    op = next(o for o in plan.operations if o.id == "plan:enterprise")
    assert "add_on:onboarding" in op.depends_on


def test_only_plans_declaring_fixed_charges_are_fetched(tmp_path):
    """lago-behaviour#plan-list-no-fixed-charges: the plan list has no fixed_charges, so each plan that declares the key costs one
    GET /plans/{code}; plans without the key leave theirs unmanaged and cost nothing more."""
    from lagosync.client.connect import connect
    from lagosync.live import read_live
    from lagosync.workspace import load_workspace

    ws = _ws(tmp_path)
    assert _run(ws, "apply", "--auto-approve").exit_code == 0
    workspace = load_workspace(ws)
    declaring = [code for code, plan in workspace.desired["plan"].items() if "fixed_charges" in plan]
    assert declaring == ["enterprise"]

    async def plan_gets():
        client = connect(workspace, "local")
        seen: list[str] = []
        original = client.request

        async def spy(method, path, **kwargs):
            if method == "GET" and path.startswith("/plans/"):
                seen.append(path)
            return await original(method, path, **kwargs)

        client.request = spy
        async with client:
            live = await read_live(client, workspace)
        return seen, live

    seen, live = asyncio.run(plan_gets())
    assert seen == ["/plans/enterprise"]
    assert set(live.state["plan"]["enterprise"]["fixed_charges"]) == {"onboarding"}
    assert live.state["plan"]["starter"]["fixed_charges"] == {}
