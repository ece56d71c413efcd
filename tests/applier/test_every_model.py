""""Apply, then plan is empty" for every resource kind, every aggregation type and every charge model
an open-source Lago accepts, written as YAML and run through the CLI against the `local` emulator.
A `custom_agg` metric needs an org flag (lago-behaviour#custom-agg-flag): it fails with Lago's error in
the summary, never a traceback. `graduated_percentage` needs a premium license
(lago-behaviour#graduated-percentage-premium): the plan blocks it before apply unless the environment
says `premium: true` (tests/cli/test_pin_and_premium.py). The `custom` charge model is not accepted by
the workspace schema (the spec's enum, lago-behaviour#spec-discrepancies)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lagosync.cli import main

CATALOG = """\
taxes:
  - {code: vat, name: VAT, rate: "20", description: Standard VAT}
  - {code: low, name: Reduced, rate: "5.5"}
billable_metrics:
  - {code: calls, name: Calls, aggregation_type: count_agg,
     filters: [{key: region, values: [eu, us]}]}
  - {code: tokens, name: Tokens, aggregation_type: sum_agg, field_name: tokens}
  - {code: seats, name: Seats, aggregation_type: unique_count_agg, field_name: user_id, recurring: true}
  - {code: storage, name: Storage, aggregation_type: max_agg, field_name: gb}
  - {code: gpu, name: GPU seconds, aggregation_type: weighted_sum_agg, field_name: gpus,
     weighted_interval: seconds, recurring: true}
  - {code: users, name: Users now, aggregation_type: latest_agg, field_name: users}
  - {code: spend, name: Spend, aggregation_type: sum_agg, field_name: amount,
     rounding_function: round, rounding_precision: 2}
add_ons:
  - {code: setup, name: Setup, amount_cents: 5000, amount_currency: USD, tax_codes: [vat]}
plans:
  - code: every_model
    name: Every model
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    pay_in_advance: true
    tax_codes: [vat]
    charges:
      - billable_metric_code: calls
        charge_model: standard
        pay_in_advance: true
        invoice_display_name: API calls
        properties: {amount: "0.0010"}
        filters:
          - {invoice_display_name: EU calls, values: {region: [eu]}, properties: {amount: "0.002"}}
      - billable_metric_code: tokens
        charge_model: package
        properties: {amount: "1.50", package_size: 1000, free_units: 100}
      - billable_metric_code: seats
        charge_model: standard
        prorated: true
        properties: {amount: "5"}
      - billable_metric_code: storage
        charge_model: volume
        properties:
          volume_ranges:
            - {from_value: 0, to_value: 10, per_unit_amount: "1", flat_amount: "0"}
            - {from_value: 11, to_value: null, per_unit_amount: "0.5", flat_amount: "2"}
      - billable_metric_code: gpu
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 100, per_unit_amount: "0", flat_amount: "0"}
            - {from_value: 101, to_value: null, per_unit_amount: "0.01", flat_amount: "0"}
      - billable_metric_code: users
        charge_model: standard
        properties: {amount: "3"}
      - billable_metric_code: spend
        charge_model: percentage
        tax_codes: [low]
        properties: {rate: "2.5", fixed_amount: "0.30", free_units_per_events: 5}
  - code: dynamic
    name: Dynamic
    interval: yearly
    amount_cents: 120000
    amount_currency: USD
    bill_charges_monthly: true
    trial_period: 30
    charges:
      - {billable_metric_code: spend, charge_model: dynamic}
  - code: weekly
    name: Weekly
    interval: weekly
    amount_cents: 500
    amount_currency: EUR
    charges: []
coupons:
  - {code: ten, name: Ten, coupon_type: percentage, percentage_rate: "10", frequency: recurring,
     frequency_duration: 3, expiration: no_expiration, applies_to: {plan_codes: [every_model]}}
  - {code: metric_only, name: Metric only, coupon_type: fixed_amount, amount_cents: 500,
     amount_currency: USD, frequency: once, expiration: no_expiration,
     applies_to: {billable_metric_codes: [tokens]}}
  - {code: forever, name: Forever, coupon_type: fixed_amount, amount_cents: 100, amount_currency: USD,
     frequency: forever, expiration: no_expiration, reusable: false}
"""

ORGS = """\
orgs:
  - external_id: org_a
    name: Org A
    email: a@example.com
    currency: USD
    subscriptions:
      - {external_id: sub_a, plan_code: every_model, name: A main}
  - external_id: org_b
    name: Org B
    currency: USD
    subscriptions:
      - {external_id: sub_b, plan_code: dynamic, billing_time: anniversary}
"""

GATED = """\
billable_metrics:
  - {code: score, name: Score, aggregation_type: custom_agg, expression: "event.properties.score"}
"""


def workspace(tmp_path, extra: str | None = None):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "catalog.yaml").write_text(CATALOG)
    if extra:
        (tmp_path / "plans" / "gated.yaml").write_text(extra)
    (tmp_path / "orgs.yaml").write_text(ORGS)
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\n")
    return str(tmp_path)


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_kind_aggregation_and_charge_model_applies_then_plan_is_empty(tmp_path):
    ws = workspace(tmp_path)
    validate = run("validate", "-w", ws)
    assert validate.exit_code == 0, validate.output
    applied = run("apply", "-w", ws, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Apply summary: 20 done (20 created), 0 failed, 0 skipped." in applied.output
    assert "Lago matches the workspace (plan is empty)." in applied.output
    plan = run("plan", "-w", ws, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.output


def test_gated_metric_fails_with_lagos_error_and_the_rest_applies(tmp_path):
    ws = workspace(tmp_path, GATED)
    applied = run("apply", "-w", ws, "--auto-approve")
    assert applied.exit_code == 1, applied.output
    assert "Traceback" not in applied.output
    assert "failed:  billable_metric:score" in applied.output and "feature_unavailable" in applied.output
    assert "Apply summary: 20 done (20 created), 1 failed, 0 skipped." in applied.output
    # the audit log holds Lago's answer to each refused write: its HTTP status and its error
    audit = [json.loads(line) for line in (Path(ws) / ".lagosync" / "audit.jsonl").read_text().splitlines()]
    errors = {(r["object"], r["method"], r["path"], r["status"], r["outcome"]) for r in audit if r["outcome"] != "ok"}
    assert errors == {("billable_metric:score", "POST", "/billable_metrics", 403, "error")}
    assert all(r["environment"] == "local" and r["operation"] == "create" for r in audit)
    assert len([r for r in audit if r["outcome"] == "ok"]) == 20
    assert any("feature_unavailable" in r.get("error", "") for r in audit)
    plan = run("plan", "-w", ws, "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output  # only the refused object is left
    assert "Plan: 1 to create, 0 to update" in plan.output
