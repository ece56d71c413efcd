"""The money defects, reproduced end to end through the CLI against the embedded Lago.

Each test starts from the example workspace applied to a fresh local Lago, makes the edit a user
would make, and checks what the plan says (the money impact first), what apply refuses or does, and
that the next plan is empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from money_helpers import cli, example


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = example(tmp_path)
    result = run(root, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return root


run = cli


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, (old, path)
    path.write_text(text.replace(old, new, count))


def plan_json(root: Path) -> dict:
    result = run(root, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def lago_get(root: Path, path: str) -> dict:
    """Read the local Lago the CLI wrote (its SQLite file under .lagosync/)."""
    from lagosync.emulator import Emulator

    emu = Emulator(str(root / ".lagosync" / "local.db"), api_key="unused")
    response = emu.handle("GET", "/api/v1" + path, [], {"authorization": "Bearer " + emu.api_key}, b"")
    return json.loads(response.body or b"{}") if response.status == 200 else {"status": response.status}


def assert_converged(root: Path) -> None:
    result = run(root, "plan", "--detailed-exitcode")
    assert result.exit_code == 0 and "No changes." in result.output, result.output


def test_a_tax_rate_rise_reprices_its_subscribers_and_needs_the_flag(ws):
    edit(ws / "plans" / "taxes.yaml", 'rate: "20"', 'rate: "25"')
    text = run(ws, "plan", "--no-color").output
    assert "Money impact: 1 subscription pays differently:" in text
    assert ("$ subscription 'sub_org_acme' of 'org_acme': tax: tax 'vat_20': rate \"20\" -> \"25\", now") in text
    assert "~ tax 'vat_20'  [changed, reprices_subscribers]" in text
    doc = plan_json(ws)
    assert [(i["operation"], i["subscription"], i["change"], i["when"]) for i in doc["impact"]] == [
        ("tax:vat_20", "sub_org_acme", "tax", "now")]
    refused = run(ws, "apply", "--auto-approve")
    assert refused.exit_code == 1 and "--allow-reprice" in refused.output
    assert lago_get(ws, "/taxes/vat_20")["tax"]["rate"] == 20.0  # nothing written
    assert run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    assert_converged(ws)


def test_a_new_version_under_a_plan_limited_coupon_is_blocked_until_the_workspace_says_what_to_do(ws):
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: starter")
    plans.write_text(text[:start] + text[start:].replace("pay_in_advance: true", "pay_in_advance: false", 1))
    out = run(ws, "plan", "--no-color").output
    assert "!! plan 'starter' cannot be updated in place" in out
    assert ("coupon 'launch_20' (applied to org 'org_initech', moving to the new version) is limited to plan "
            "'starter', and Lago locks a coupon's plans once it is applied: on the new version 'starter__v2' the "
            "discount would stop") in out
    refused = run(ws, "apply", "--auto-approve", "--allow-reprice", "--allow-destroy")
    assert refused.exit_code == 1 and "preflight found problems; nothing was written" in refused.output
    assert lago_get(ws, "/plans/starter__v2") == {"status": 404}
    # the workspace says what to do: a coupon with a new code and the same terms takes the old one's place,
    # and the old one (locked on the old version) is deleted
    edit(ws / "plans" / "extras.yaml", "  - code: launch_20\n    name: Launch discount 20%\n",
         "  - code: launch_20\n    ensure: absent\n  - code: launch_20b\n    name: Launch discount 20% (b)\n")
    edit(ws / "orgs.yaml", "coupon_code: launch_20", "coupon_code: launch_20b")
    doc = plan_json(ws)
    ops = {op["id"]: op for op in doc["operations"]}
    assert ops["plan:starter"]["blocked"] is None and ops["plan:starter"]["version"]["code"] == "starter__v2"
    assert ops["applied_coupon:org_initech/launch_20"]["action"] == "delete"
    assert ops["coupon:launch_20"]["action"] == "delete"
    changes = {(i["operation"], i["change"]) for i in doc["impact"]}
    assert {("plan:starter", "plan"), ("applied_coupon:org_initech/launch_20", "discount"),
            ("applied_coupon:org_initech/launch_20b", "discount")} <= changes
    result = run(ws, "apply", "--auto-approve", "--allow-reprice", "--allow-destroy")
    assert result.exit_code == 0, result.output
    assert "starter__v2" in lago_get(ws, "/coupons/launch_20b")["coupon"]["plan_codes"]
    assert_converged(ws)


def test_a_currency_change_with_subscribers_is_blocked_before_any_write(ws):
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: professional")
    end = text.index("  - code: enterprise")
    plans.write_text(text[:start] + text[start:end].replace("amount_currency: USD", "amount_currency: EUR")
                     + text[end:])
    orgs = ws / "orgs.yaml"
    for org in ("org_globex", "org_stark"):
        text = orgs.read_text()
        at = text.index(f"external_id: {org}")
        orgs.write_text(text[:at] + text[at:].replace("currency: USD", "currency: EUR", 1))
    assert run(ws, "validate").exit_code == 0
    out = run(ws, "plan", "--no-color").output
    assert "!! plan 'professional' cannot be updated in place" in out
    assert "is billed in USD and Lago keeps a customer's currency once it has subscriptions" in out
    assert "!! customer 'org_globex' cannot be updated in place" in out
    assert "upgrade (58800 -> 58800)" not in out
    refused = run(ws, "apply", "--auto-approve", "--allow-reprice", "--allow-destroy")
    assert refused.exit_code == 1 and "nothing was written" in refused.output
    assert lago_get(ws, "/plans/professional__v2") == {"status": 404}  # no half-made version
    assert lago_get(ws, "/customers/org_globex")["customer"]["currency"] == "USD"


def test_a_version_move_while_a_downgrade_waits_is_timed_from_the_active_plan(ws):
    plans = ws / "plans" / "plans.yaml"
    text = plans.read_text()
    start = text.index("  - code: trial")
    plans.write_text(text[:start] + text[start:].replace("interval: monthly", "interval: yearly", 1))
    assert run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    sub = lago_get(ws, "/subscriptions/sub_org_umbrella")["subscription"]
    assert (sub["plan_code"], sub["next_plan_code"]) == ("trial", "trial__v2")
    text = plans.read_text()
    plans.write_text(text[:start] + text[start:].replace("pay_in_advance: true", "pay_in_advance: false", 1))
    out = run(ws, "plan", "--no-color").output
    # the subscription is active on 'trial' (1200 a year), not on v2: moving to v3 (100 a year) is a downgrade
    assert ("$ subscription 'sub_org_umbrella' of 'org_umbrella': plan: moves from 'trial' to new "
            "version 'trial__v3' (a downgrade; yearly base 1200 -> 100 cents); its scheduled downgrade "
            "to 'trial__v2' is replaced by this move, at the end of its billing period (") in out
    assert "is an upgrade" not in out
    assert re.search(r"-/\+ plan 'trial' -> new version 'trial__v3'  \[locked_after_subscription, "
                     r"downgrade_at_period_end\]", out), out
    assert run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    sub = lago_get(ws, "/subscriptions/sub_org_umbrella")["subscription"]
    assert (sub["plan_code"], sub["next_plan_code"]) == ("trial", "trial__v3")
    assert_converged(ws)


def test_cancelling_a_scheduled_downgrade_is_in_the_impact_and_needs_the_flag(ws):
    orgs = ws / "orgs.yaml"
    text = orgs.read_text()
    at = text.index("external_id: org_stark")
    orgs.write_text(text[:at] + text[at:].replace("plan_code: professional", "plan_code: starter", 1))
    assert run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    assert lago_get(ws, "/subscriptions/sub_org_stark")["subscription"]["next_plan_code"] == "starter"
    orgs.write_text(text)  # back to professional: the downgrade is cancelled, Stark keeps paying 4900
    doc = plan_json(ws)
    assert [(i["subscription"], i["change"]) for i in doc["impact"]] == [("sub_org_stark", "timing")]
    refused = run(ws, "apply", "--auto-approve")
    assert refused.exit_code == 1 and "--allow-reprice" in refused.output
    assert lago_get(ws, "/subscriptions/sub_org_stark")["subscription"]["next_plan_code"] == "starter"
    assert run(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    assert lago_get(ws, "/subscriptions/sub_org_stark")["subscription"]["next_plan_code"] is None
    assert_converged(ws)
