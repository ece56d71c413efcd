"""Validation of plan fixed charges (lago-behaviour#fixed-charges): schema shapes and semantic checks, exact messages."""

from __future__ import annotations

from pathlib import Path

from lagosync.workspace import validate_workspace

SETTINGS = "default_environment: local\nenvironments:\n  local: {}\n"

CATALOG = """\
taxes:
  - {code: vat, name: VAT, rate: "20"}
add_ons:
  - code: setup
    name: Setup
    amount_cents: 10000
    amount_currency: USD
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    fixed_charges:
"""


def _run(tmp_path: Path, fixed: str) -> list[str]:
    (tmp_path / "lagosync.yaml").write_text(SETTINGS)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.yaml").write_text(CATALOG + fixed)
    return [d.format() for d in validate_workspace(tmp_path)]


def test_valid_fixed_charges(tmp_path):
    fixed = """\
      - add_on_code: setup
        charge_model: standard
        units: 1
        tax_codes: [vat]
        properties: {amount: "100.50"}
      - add_on_code: setup
        code: setup_seats
        charge_model: volume
        units: "2.5"
        apply_units_immediately: true
        properties:
          volume_ranges:
            - {from_value: 0, to_value: 10, per_unit_amount: "1", flat_amount: "0"}
            - {from_value: 11, to_value: null, per_unit_amount: "0.5", flat_amount: "0"}
"""
    assert _run(tmp_path, fixed) == []


def test_unknown_add_on_code(tmp_path):
    fixed = """\
      - add_on_code: setpu
        charge_model: standard
        units: 1
        properties: {amount: "1"}
"""
    assert _run(tmp_path, fixed) == [
        "plans/p.yaml:15:22: plans[0].fixed_charges[0].add_on_code: unknown add-on 'setpu' "
        "(did you mean 'setup'? otherwise define it under add_ons, or fix the code)"
    ]


def test_add_on_declared_absent(tmp_path):
    (tmp_path / "lagosync.yaml").write_text(SETTINGS)
    (tmp_path / "plans").mkdir()
    text = CATALOG.replace("    amount_currency: USD\nplans", "    amount_currency: USD\n    ensure: absent\nplans")
    text += "      - {add_on_code: setup, charge_model: standard, units: 1, properties: {amount: \"1\"}}\n"
    (tmp_path / "plans" / "p.yaml").write_text(text)
    got = [d.format() for d in validate_workspace(tmp_path)]
    assert got == [
        "plans/p.yaml:16:23: plans[0].fixed_charges[0].add_on_code: add-on 'setup' is declared with "
        "ensure: absent (plans/p.yaml:4) (remove this reference, or keep the add-on)"
    ]


def test_duplicate_fixed_charge_code(tmp_path):
    fixed = """\
      - {add_on_code: setup, charge_model: standard, units: 1, properties: {amount: "1"}}
      - {add_on_code: setup, charge_model: standard, units: 2, properties: {amount: "1"}}
"""
    assert _run(tmp_path, fixed) == [
        "plans/p.yaml:16:23: plans[0].fixed_charges[1].add_on_code: fixed charge code 'setup' is used twice "
        "in plan 'pro' (fixed_charges[0]) (give one fixed charge an explicit, unique code; the default is "
        "the add-on code)"
    ]


def test_ranges_must_chain(tmp_path):
    fixed = """\
      - add_on_code: setup
        charge_model: graduated
        units: 3
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 10, per_unit_amount: "1", flat_amount: "0"}
            - {from_value: 15, to_value: null, per_unit_amount: "1", flat_amount: "0"}
"""
    assert _run(tmp_path, fixed) == [
        "plans/p.yaml:21:28: plans[0].fixed_charges[0].properties.graduated_ranges[1].from_value: from_value 15 "
        "does not follow the previous range's to_value 10 (start this range at 10 or 11 so ranges chain "
        "without gaps or overlaps)"
    ]


def test_money_and_units_shapes(tmp_path):
    fixed = """\
      - add_on_code: setup
        charge_model: standard
        units: 1.5
        properties: {amount: 12.5}
"""
    got = _run(tmp_path, fixed)
    assert got == [
        'plans/p.yaml:17:16: plans[0].fixed_charges[0].units: 1.5 is a number; write it as a decimal string "1.5" '
        "(units is a quantity: an integer or a decimal string)",
        'plans/p.yaml:18:30: plans[0].fixed_charges[0].properties.amount: 12.5 is a number; write it as a '
        'decimal string "12.5" (Lago rejects numbers)',
    ]


def test_model_not_allowed_and_prorated_rule(tmp_path):
    fixed = """\
      - {add_on_code: setup, charge_model: package, units: 1, properties: {amount: "1"}}
      - add_on_code: setup
        code: s2
        charge_model: graduated
        pay_in_advance: true
        prorated: true
        units: 1
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: null, per_unit_amount: "1", flat_amount: "0"}
"""
    got = _run(tmp_path, fixed)
    assert got[0] == ("plans/p.yaml:15:44: plans[0].fixed_charges[0].charge_model: 'package' is not a valid "
                      "charge_model (allowed: standard, graduated, volume)")
    assert got[1] == (
        "plans/p.yaml:20:19: plans[0].fixed_charges[1].prorated: prorated is not allowed on a pay_in_advance "
        "fixed charge with charge_model graduated (remove prorated or pay_in_advance, or use standard or "
        "volume)"
    )
    assert len(got) == 2
