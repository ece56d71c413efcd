"""Price impact in every plan: the workspace's usage profiles (its pricing test cases) priced before and
after, offline, end to end through the CLI against the embedded Lago."""

from __future__ import annotations

import json
import re
from pathlib import Path

from money_helpers import cli, example

run = cli


def workspace(tmp_path: Path) -> Path:
    root = example(tmp_path, folders=("plans", "pricing_tests"))
    assert run(root, "apply", "--auto-approve").exit_code == 0
    return root


def test_a_price_rise_and_a_tax_change_are_priced_for_each_usage_profile(tmp_path):
    ws = workspace(tmp_path)
    assert json.loads(run(ws, "plan", "--format", "json").output)["price_impact"] == []  # nothing changes
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: professional")
    plans.write_text(text[:start] + re.sub(r"amount_cents: 4900", "amount_cents: 5900", text[start:], count=1))
    rows = json.loads(run(ws, "plan", "--format", "json").output)["price_impact"]
    pro = [r for r in rows if r["plan"] == "professional"]
    deltas = {r["profile"]: r["after_cents"] - r["before_cents"] for r in pro}
    # +10.00 on the base fee; the profile in its coupon's first month gets 20% off that too
    assert deltas == {"1.2M large-model tokens and 30k API calls on professional": 1000,
                      "professional in the launch_20 coupon's first month": 800}, deltas
    assert {r["plan"] for r in rows} == {"professional"}
    out = run(ws, "plan", "--no-color").output
    assert "Price impact (the workspace's usage profiles, one billing period):" in out
    assert re.search(r"= plan 'professional', .*: 73\.80 -> 83\.80 USD \(\+10\.00, \+13\.6%\) per period", out), out
    # a tax rise is priced on the plans that carry it
    plans.write_text(text)
    taxes = ws / "plans" / "taxes.yaml"
    taxes.write_text(taxes.read_text().replace('rate: "20"', 'rate: "25"'))
    rows = json.loads(run(ws, "plan", "--format", "json").output)["price_impact"]
    assert {r["plan"] for r in rows} == {"enterprise"}
    [ent] = rows
    assert ent["before_tax_before_cents"] == ent["before_tax_after_cents"]  # the same before tax
    assert ent["after_cents"] - ent["before_cents"] == round(ent["before_tax_after_cents"] * 5 / 100)
