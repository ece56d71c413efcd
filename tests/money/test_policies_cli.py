"""Billing policies of lagosync.yaml, end to end through the CLI: each kind passing and failing, the exit
code of `plan --detailed-exitcode`, apply's refusal and `--override-policy` (recorded in the audit log)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from money_helpers import cli, example

SETTINGS = "default_environment: local\nenvironments:\n  local: {}\n  production:\n    api_url: https://x.test\n" \
           "    api_key_env: LAGO_X\n"


run = cli


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = example(tmp_path, SETTINGS)
    assert run(root, "apply", "--auto-approve").exit_code == 0
    return root


def policies(root: Path, body: str) -> None:
    (root / "lagosync.yaml").write_text(SETTINGS + "policies:\n" + body)


def raise_starter(root: Path, cents: int) -> None:
    plans = root / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: starter")
    head, tail = text[:start], text[start:]
    tail = re.sub(r"amount_cents: [0-9]+", f"amount_cents: {cents}", tail, count=1)
    plans.write_text(head + tail)


def results(root: Path) -> dict:
    doc = json.loads(run(root, "plan", "--format", "json").output)
    return {p["name"]: p for p in doc["policies"]}


def test_max_increase_passes_under_and_fails_over_the_limit(ws):
    policies(ws, '  - {name: ten-percent, kind: max_increase, percent: "10"}\n')
    raise_starter(ws, 2000)  # +5.3%
    assert results(ws)["ten-percent"]["ok"]
    assert run(ws, "plan", "--detailed-exitcode").exit_code == 2  # changes, no violation
    raise_starter(ws, 2900)  # from 2000 in the file: the live plan is still 1900, so +52.6%
    res = results(ws)["ten-percent"]
    assert not res["ok"] and "sub_org_initech: the yearly base fee rises by 52.6% (22800 -> 34800 cents" in \
        res["violations"][0]
    assert run(ws, "plan", "--detailed-exitcode").exit_code == 4
    text = run(ws, "plan", "--no-color").output
    assert "! policy 'ten-percent' (max_increase): violated: sub_org_initech" in text


def test_a_violated_policy_refuses_apply_until_it_is_overridden_and_the_override_is_audited(ws):
    policies(ws, '  - {name: ten-percent, kind: max_increase, percent: "10"}\n')
    raise_starter(ws, 2900)
    refused = run(ws, "apply", "--auto-approve", "--allow-reprice")
    assert refused.exit_code == 1 and "violates billing policies" in refused.output
    assert "--override-policy ten-percent" in refused.output
    wrong = run(ws, "apply", "--auto-approve", "--allow-reprice", "--override-policy", "nope")
    assert wrong.exit_code == 1 and "no such policy applies to this plan" in wrong.output
    done = run(ws, "apply", "--auto-approve", "--allow-reprice", "--override-policy", "ten-percent")
    assert done.exit_code == 0, done.output
    audit = [json.loads(line) for line in (ws / ".lagosync" / "audit.jsonl").read_text().splitlines()]
    assert [r["object"] for r in audit if r["operation"] == "override_policy"] == ["policy:ten-percent"]


def test_no_reprice_in_place_points_to_a_new_version(ws):
    policies(ws, "  - {name: versions-only, kind: no_reprice_in_place}\n")
    raise_starter(ws, 2000)
    res = results(ws)["versions-only"]
    assert not res["ok"] and "use price_change: new_version" in res["violations"][0]
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: starter")
    plans.write_text(text[:start] + text[start:].replace("    pay_in_advance: true\n",
                                                         "    pay_in_advance: true\n    price_change: new_version\n", 1))
    assert results(ws)["versions-only"]["ok"]  # a new version re-prices nobody


def test_max_subscriptions_counts_who_pays_differently(ws):
    policies(ws, "  - {name: small-batches, kind: max_subscriptions, max: 1}\n")
    (ws / "plans" / "taxes.yaml").write_text((ws / "plans" / "taxes.yaml").read_text().replace('rate: "20"', 'rate: "21"'))
    assert results(ws)["small-batches"]["ok"]  # one subscription (enterprise carries the tax)
    raise_starter(ws, 2000)
    res = results(ws)["small-batches"]
    assert not res["ok"] and res["violations"] == ["2 subscriptions pay differently, more than 1"]


def test_requires_approval_for_terminations_and_per_environment(ws):
    policies(ws, "  - {name: approve-ends, kind: requires_approval, changes: [termination, discount]}\n"
                 "  - {name: prod-only, kind: max_subscriptions, max: 0, environments: [production]}\n")
    assert results(ws)["approve-ends"]["ok"] and "prod-only" not in results(ws)  # local: not applied
    orgs = ws / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("    coupons:\n      - coupon_code: launch_20\n", "    coupons: []\n"))
    res = results(ws)["approve-ends"]
    assert not res["ok"] and "(discount)" in res["violations"][0]
    assert run(ws, "apply", "--auto-approve", "--allow-destroy", "--allow-reprice").exit_code == 1
    done = run(ws, "apply", "--auto-approve", "--allow-destroy", "--allow-reprice", "--override-policy", "approve-ends")
    assert done.exit_code == 0, done.output


def test_policies_are_validated(ws):
    policies(ws, '  - {name: a, kind: max_increase}\n  - {name: a, kind: max_subscriptions, max: 1, '
                 'environments: [staging]}\n  - {name: b, kind: teleport}\n')
    out = run(ws, "validate").output
    assert "a max_increase policy needs percent or amount_cents" in out
    assert "duplicate policy name 'a'" in out and "unknown environment 'staging'" in out
    assert "teleport" in out
