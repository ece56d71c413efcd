"""Lago's "all values" charge filter (`values: {key: ["__ALL_FILTER_VALUES__"]}`,
lago-behaviour#charge-filter-all-values): validate accepts it alone, apply creates it, the re-plan is
empty; mixed with other values validate refuses it as Lago does. Through the CLI on `local`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lagosync.cli import main
from lagosync.emulator import Emulator

CATALOG = """\
billable_metrics:
  - code: tokens
    name: Tokens
    aggregation_type: sum_agg
    field_name: tokens
    filters:
      - key: tier
        values: [small, large]
plans:
  - code: starter
    name: Starter
    interval: monthly
    amount_cents: 1900
    amount_currency: USD
    charges:
      - billable_metric_code: tokens
        charge_model: standard
        properties: {amount: "0.01"}
        filters:
          - values: {tier: [__ALL_FILTER_VALUES__]}
            properties: {amount: "0.02"}
          - values: {tier: [large]}
            properties: {amount: "0.03"}
"""


def _workspace(tmp_path: Path, catalog: str) -> Path:
    root = tmp_path / "ws"
    (root / "plans").mkdir(parents=True)
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    (root / "plans" / "catalog.yaml").write_text(catalog)
    return root


def _run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "-w", str(root)], catch_exceptions=False)


def test_all_values_filter_validates_applies_and_plans_empty(tmp_path):
    root = _workspace(tmp_path, CATALOG)
    res = _run(root, "validate")
    assert res.exit_code == 0, res.output  # before: "value '__ALL_FILTER_VALUES__' is not declared for filter 'tier'"
    res = _run(root, "apply", "--auto-approve")
    assert res.exit_code == 0, res.output
    res = _run(root, "plan", "--detailed-exitcode")
    assert res.exit_code == 0 and "No changes" in res.output, res.output
    emu = Emulator(str(root / ".lagosync" / "local.db"), "lago-local-key")
    got = emu.handle("GET", "/api/v1/plans/starter", [], {"authorization": "Bearer lago-local-key"})
    emu.close()
    filters = json.loads(got.body)["plan"]["charges"][0]["filters"]
    # Lago stores and returns the marker as written, not the metric's values
    assert sorted(f["values"]["tier"] for f in filters) == [["__ALL_FILTER_VALUES__"], ["large"]]


def test_all_values_marker_mixed_with_values_is_refused(tmp_path):
    root = _workspace(tmp_path, CATALOG.replace("[__ALL_FILTER_VALUES__]", "[__ALL_FILTER_VALUES__, small]"))
    res = _run(root, "validate")
    assert res.exit_code == 1
    assert ("plans/catalog.yaml:20:29: plans[0].charges[0].filters[0].values.tier[0]: '__ALL_FILTER_VALUES__' "
            "(every value of filter 'tier') must be the only value of its list (write values: "
            "{tier: [__ALL_FILTER_VALUES__]} alone, or list the values)") in res.output
    assert "is not declared" not in res.output


def test_emulator_refuses_the_marker_mixed_with_values(tmp_path):
    """As Lago's ChargeFilterValue#validate_values: the marker counts only as the single value."""
    emu = Emulator(":memory:", "k")
    h = {"authorization": "Bearer k", "content-type": "application/json"}
    bm = json.loads(emu.handle("POST", "/api/v1/billable_metrics", [], h, json.dumps({"billable_metric": {
        "code": "m", "name": "M", "aggregation_type": "count_agg",
        "filters": [{"key": "tier", "values": ["a", "b"]}]}}).encode()).body)["billable_metric"]

    def plan(code: str, values: list[str]) -> int:
        body = {"plan": {"code": code, "name": code, "interval": "monthly", "amount_cents": 0, "amount_currency": "USD",
                         "pay_in_advance": False, "charges": [{
                             "billable_metric_id": bm["lago_id"], "charge_model": "standard",
                             "properties": {"amount": "1"},
                             "filters": [{"values": {"tier": values}, "properties": {"amount": "2"}}]}]}}
        return emu.handle("POST", "/api/v1/plans", [], h, json.dumps(body).encode()).status

    assert plan("alone", ["__ALL_FILTER_VALUES__"]) == 200
    assert plan("mixed", ["__ALL_FILTER_VALUES__", "a"]) == 422
    assert plan("listed", ["a", "b"]) == 200
