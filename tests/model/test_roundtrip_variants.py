"""No perpetual diffs (principle 4): YAML spellings that differ from what Lago returns (tax rate
"20.0"/"5.50" vs floats, trial_period 14 and "7.5" vs floats, percentage_rate "10.50", expiration_at,
package free_units, graduated to_value null/int, "0.0010" amounts, pricing_group_keys) apply once, then
plan is empty, through the CLI and the embedded emulator. (The schema already rejects a quoted
free_units, grouped_by and a float trial_period, with a hint.)"""

from __future__ import annotations

from click.testing import CliRunner

from lagosync.cli import main

CATALOG = """\
taxes:
  - {code: vat, name: VAT, rate: "20.0"}
  - {code: low, name: Low, rate: "5.50"}
billable_metrics:
  - {code: calls, name: Calls, aggregation_type: count_agg}
  - {code: tokens, name: Tokens, aggregation_type: sum_agg, field_name: tokens}
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 4900
    amount_currency: USD
    trial_period: 14
    tax_codes: [vat, low]
    charges:
      - billable_metric_code: calls
        charge_model: package
        properties: {amount: "1.50", package_size: 1000, free_units: 100}
      - billable_metric_code: tokens
        charge_model: graduated
        properties:
          pricing_group_keys: [model]
          graduated_ranges:
            - {from_value: 0, to_value: 1000, per_unit_amount: "0.0010", flat_amount: "0"}
            - {from_value: 1001, to_value: null, per_unit_amount: "0.0005", flat_amount: "1.00"}
  - code: yearly
    name: Yearly
    interval: yearly
    amount_cents: 50000
    amount_currency: USD
    trial_period: "7.5"
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.020", pricing_group_keys: [region]}
coupons:
  - code: ten
    name: Ten percent
    coupon_type: percentage
    percentage_rate: "10.50"
    frequency: once
    expiration: time_limit
    expiration_at: "2031-12-31T23:59:59Z"
    reusable: false
"""


def test_variant_spellings_round_trip_to_an_empty_plan(tmp_path):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "lagosync.yaml").write_text("default_environment: local\n")
    runner = CliRunner()
    validate = runner.invoke(main, ["validate", "-w", str(tmp_path)])
    assert validate.exit_code == 0, validate.output
    apply = runner.invoke(main, ["apply", "-w", str(tmp_path), "--auto-approve"])
    assert apply.exit_code == 0, apply.output
    plan = runner.invoke(main, ["plan", "-w", str(tmp_path), "--detailed-exitcode"])
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.output or "no changes" in plan.output.lower()
