"""A saved plan is stale when an applied coupon it touches changed in Lago behind it, even when its
declared overrides did not: the remaining amount or duration, or the row itself (terminated and
applied again). Apply then refuses PLAN.json with exit 3 and names it. Through the CLI on `local`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner

from lagosync.cli import main
from lagosync.emulator import Emulator
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner.stale import live_fingerprints

KEY = "lago-local-key"
CATALOG = """\
coupons:
  - code: welcome
    name: Welcome
    coupon_type: percentage
    percentage_rate: "10"
    frequency: recurring
    frequency_duration: 3
    expiration: no_expiration
"""
ORGS = """\
orgs:
  - external_id: org_acme
    name: Acme
    currency: USD
    coupons:
      - coupon_code: welcome
"""


def _run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "-w", str(root)], catch_exceptions=False)


def _call(root: Path, method: str, path: str, body: dict | None = None, query=None) -> dict:
    emu = Emulator(str(root / ".lagosync" / "local.db"), KEY)
    try:
        res = emu.handle(method, f"/api/v1{path}", query or [],
                         {"authorization": f"Bearer {KEY}", "content-type": "application/json"},
                         json.dumps(body).encode() if body is not None else b"")
    finally:
        emu.close()
    assert res.status == 200, (path, res.status, res.body)
    return json.loads(res.body)


def test_saved_plan_is_stale_when_the_applied_coupon_was_reapplied_behind_it(tmp_path):
    root = tmp_path / "ws"
    (root / "plans").mkdir(parents=True)
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    (root / "plans" / "catalog.yaml").write_text(CATALOG)
    (root / "orgs.yaml").write_text(ORGS)
    res = _run(root, "apply", "--auto-approve")
    assert res.exit_code == 0, res.output

    # the plan: remove the coupon from the org (terminates it), saved for a later apply
    (root / "orgs.yaml").write_text(ORGS.replace("    coupons:\n      - coupon_code: welcome\n", "    coupons: []\n"))
    plan_file = root / "PLAN.json"
    res = _run(root, "plan", "--out", str(plan_file))
    assert res.exit_code == 0, res.output
    ops = json.loads(plan_file.read_text())["operations"]
    assert [(o["kind"], o["key"], o["action"]) for o in ops] == [("applied_coupon", "org_acme/welcome", "delete")]

    # behind the plan: someone terminates it and applies it again with the same terms (a fresh
    # balance); the canonical form (declared overrides only) is unchanged
    [applied] = _call(root, "GET", "/applied_coupons", query=[("status", "active")])["applied_coupons"]
    _call(root, "DELETE", f"/customers/org_acme/applied_coupons/{applied['lago_id']}")
    _call(root, "POST", "/applied_coupons", {"applied_coupon": {"external_customer_id": "org_acme",
                                                                "coupon_code": "welcome"}})

    res = _run(root, "apply", str(plan_file), "--auto-approve", "--allow-destroy")
    assert res.exit_code == 3, res.output  # before: applied, terminating the new coupon
    assert "applied coupon 'org_acme/welcome' changed since the plan was made" in res.output
    [still] = _call(root, "GET", "/applied_coupons", query=[("status", "active")])["applied_coupons"]
    assert still["lago_id"] != applied["lago_id"]  # nothing was written

    res = _run(root, "show", str(plan_file))
    assert "applied_coupon:org_acme/welcome was changed in Lago since the plan was made" in res.output


def test_remaining_amount_and_duration_are_part_of_the_fingerprint():
    canonical = {"external_customer_id": "org_a", "coupon_code": "c", "frequency": None, "frequency_duration": None,
                 "amount_cents": None, "amount_currency": None, "percentage_rate": None}
    raw = {"lago_id": "a1", "external_customer_id": "org_a", "coupon_code": "c", "status": "active",
           "frequency": "recurring", "frequency_duration": 3, "frequency_duration_remaining": 3,
           "amount_cents": None, "amount_cents_remaining": None, "created_at": "2025-01-01T00:00:00Z"}

    def prints(row: dict) -> str:
        live = LiveState(state={"applied_coupon": {"org_a/c": copy.deepcopy(canonical)}},
                         raw={"applied_coupon": {row["lago_id"]: row}}, facts=LiveFacts())
        return live_fingerprints(live)["applied_coupon:org_a/c"]

    base = prints(raw)
    assert prints({**raw, "frequency_duration_remaining": 2}) != base
    assert prints({**raw, "amount_cents_remaining": 500}) != base
    assert prints({**raw, "lago_id": "a2"}) != base
    assert prints({**raw, "updated_at": "2025-02-01T00:00:00Z"}) == base  # not what the plan reads
