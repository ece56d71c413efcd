"""Price impact on real usage, end to end through the CLI against the embedded Lago: events sent for
several subscriptions, then a price rise, a new tier and a tax change planned; each affected
subscription's current usage is read from Lago and priced before and after, with the self-check."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from money_helpers import LOCAL_ONLY, cli

from lagosync.client.connect import connect
from lagosync.emulator.errors import unprocessable
from lagosync.emulator.resources.usage import UsageMixin
from lagosync.workspace import load_workspace

NOW = "2026-08-15T12:00:00Z"  # the local Lago's clock (LAGOSYNC_EMULATOR_NOW)

CATALOG = """\
taxes:
  - {code: vat_10, name: VAT 10%, rate: "10"}
billable_metrics:
  - code: api_call
    name: API calls
    aggregation_type: count_agg
    filters:
      - {key: endpoint, values: [chat, embeddings]}
  - {code: tokens, name: Tokens, aggregation_type: sum_agg, field_name: tokens}
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    pay_in_advance: false
    charges:
      - billable_metric_code: api_call
        charge_model: standard
        properties: {amount: "0.01"}
        filters:
          - invoice_display_name: Embeddings
            values: {endpoint: [embeddings]}
            properties: {amount: "0.005"}
      - billable_metric_code: tokens
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 1000, per_unit_amount: "0", flat_amount: "0"}
            - {from_value: 1001, to_value: null, per_unit_amount: "0.001", flat_amount: "0"}
  - code: biz
    name: Business
    interval: monthly
    amount_cents: 5000
    amount_currency: USD
    pay_in_advance: false
    tax_codes: [vat_10]
    charges:
      - billable_metric_code: tokens
        charge_model: standard
        properties: {amount: "0.002"}
"""

ORGS = "orgs:\n" + "".join(
    f"  - external_id: {org}\n    name: {org}\n    currency: USD\n    subscriptions:\n"
    f"      - {{plan_code: {plan}, billing_time: calendar}}\n"
    for org, plan in (("org_a", "pro"), ("org_b", "pro"), ("org_c", "pro"), ("org_d", "biz")))


def _events(sub: str, code: str, n: int, **props) -> list[dict]:
    return [{"transaction_id": f"{sub}-{code}-{props.get('endpoint', '')}-{i}", "code": code,
             "external_subscription_id": sub, "properties": props} for i in range(n)]


async def _send(root: Path, events: list[dict]) -> None:
    async with connect(load_workspace(root), "local") as client:
        for i in range(0, len(events), 100):
            await client.request("POST", "/events/batch", json={"events": events[i:i + 100]})


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("LAGOSYNC_EMULATOR_NOW", NOW)
    monkeypatch.delenv("LAGOSYNC_USAGE_SAMPLE", raising=False)
    root = tmp_path / "ws"
    (root / "plans").mkdir(parents=True)
    (root / "plans" / "catalog.yaml").write_text(CATALOG)
    (root / "orgs.yaml").write_text(ORGS)
    (root / "lagosync.yaml").write_text(LOCAL_ONLY)
    assert cli(root, "apply", "--auto-approve").exit_code == 0
    events = (_events("sub_org_a", "api_call", 100, endpoint="chat")
              + _events("sub_org_a", "api_call", 40, endpoint="embeddings")
              + [{"transaction_id": "a-tokens", "code": "tokens", "external_subscription_id": "sub_org_a",
                  "properties": {"tokens": "3000"}}]
              + _events("sub_org_b", "api_call", 10, endpoint="chat")
              + [{"transaction_id": "b-tokens", "code": "tokens", "external_subscription_id": "sub_org_b",
                  "properties": {"tokens": "500"}},
                 {"transaction_id": "d-tokens", "code": "tokens", "external_subscription_id": "sub_org_d",
                  "properties": {"tokens": "10000"}}])
    asyncio.run(_send(root, events))
    return root


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "plans" / "catalog.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _usage(root: Path) -> dict:
    result = cli(root, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["usage_impact"]


def _per_sub(usage: dict) -> dict[str, tuple[int, int]]:
    return {r["subscription"]: (r["before_cents"], r["after_cents"]) for r in usage["rows"]}


def test_a_price_rise_priced_on_each_subscriptions_real_usage(ws):
    assert json.loads(cli(ws, "plan", "--format", "json").output)["usage_impact"] is None  # nothing changes
    _edit(ws, 'properties: {amount: "0.01"}', 'properties: {amount: "0.02"}')  # chat calls double
    usage = _usage(ws)
    # org_a: 10.00 + 100 chat x 0.01 + 40 embeddings x 0.005 + 2,000 tokens over the free 1,000 x 0.001
    assert _per_sub(usage) == {"sub_org_a": (1320, 1420), "sub_org_b": (1010, 1020), "sub_org_c": (1000, 1000)}
    assert {r["subscription"]: r["customer"] for r in usage["rows"]} == {
        "sub_org_a": "org_a", "sub_org_b": "org_b", "sub_org_c": "org_c"}
    # the self-check: the engine's price of the usage alone is Lago's current usage, subscription by subscription
    assert {r["subscription"]: (r["engine_usage_cents"], r["lago_usage_cents"]) for r in usage["rows"]} == {
        "sub_org_a": (320, 320), "sub_org_b": (10, 10), "sub_org_c": (0, 0)}
    assert usage["mismatches"] == [] and usage["notes"] == []
    assert (usage["affected"], usage["read"], usage["requests"], usage["sample_size"]) == (3, 3, 3, 50)
    [stats] = usage["stats"]
    assert (stats["currency"], stats["min_cents"], stats["median_cents"], stats["max_cents"],
            stats["total_cents"]) == ("USD", 0, "10", 100, 110)
    assert stats["top"] == [{"subscription": "sub_org_a", "change": "+1.00"},
                            {"subscription": "sub_org_b", "change": "+0.10"}]
    text = cli(ws, "plan", "--no-color").output
    assert ("Price impact on real usage (each subscription's current billing period so far; 3 of 3 affected "
            "subscription(s) read, 3 request(s) to Lago):") in text
    assert "= subscription 'sub_org_a' of 'org_a' (plan 'pro'): 13.20 -> 14.20 USD (+1.00, +7.6%)" in text
    assert ("change per subscription (3, USD): min +0.00, median +0.10, max +1.00; total change +1.10 USD "
            "per period") in text
    assert "top movers: 'sub_org_a' +1.00, 'sub_org_b' +0.10" in text
    # the docs show this output (docs/plans.md, moved from README): every line of its example is what the plan prints
    root = Path(__file__).resolve().parents[2]
    readme = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    shown = readme[readme.index("Price impact on real usage (each"):]
    shown = shown[:shown.index("```")].rstrip("\n").splitlines()
    assert len(shown) == 6 and all(line in text.splitlines() for line in shown), shown
    # right after the money impact
    assert text.index("Money impact") < text.index("Price impact on real usage") < text.index("Blast radius")
    md = cli(ws, "plan", "--format", "markdown").output
    assert "**Price impact on real usage" in md
    assert "- = subscription 'sub_org_a' of 'org_a' (plan 'pro'): 13.20 -&gt; 14.20 USD" in md


def test_a_new_tier_and_a_tax_change(ws):
    _edit(ws, '            - {from_value: 1001, to_value: null, per_unit_amount: "0.001", flat_amount: "0"}',
          '            - {from_value: 1001, to_value: 2000, per_unit_amount: "0.001", flat_amount: "0"}\n'
          '            - {from_value: 2001, to_value: null, per_unit_amount: "0.002", flat_amount: "0"}')
    usage = _usage(ws)
    # only org_a passes 2,000 tokens: its last 1,000 now cost 0.002 each
    assert _per_sub(usage) == {"sub_org_a": (1320, 1420), "sub_org_b": (1010, 1010), "sub_org_c": (1000, 1000)}
    assert usage["stats"][0]["top"] == [{"subscription": "sub_org_a", "change": "+1.00"}]
    assert cli(ws, "apply", "--auto-approve", "--allow-reprice").exit_code == 0
    _edit(ws, 'rate: "10"', 'rate: "15"')
    usage = _usage(ws)
    # org_d on biz: 50.00 + 10,000 tokens x 0.002 = 70.00, taxed 10% -> 15%
    assert _per_sub(usage) == {"sub_org_d": (7700, 8050)}
    assert [(r["engine_usage_cents"], r["lago_usage_cents"]) for r in usage["rows"]] == [(2200, 2200)]
    assert usage["stats"][0]["total_cents"] == 350


def test_the_sample_is_bounded_and_a_failed_read_is_a_note(ws, monkeypatch):
    _edit(ws, 'properties: {amount: "0.01"}', 'properties: {amount: "0.02"}')
    monkeypatch.setenv("LAGOSYNC_USAGE_SAMPLE", "2")
    usage = _usage(ws)
    assert (usage["affected"], usage["read"], usage["requests"]) == (3, 2, 2)
    assert sorted(_per_sub(usage)) == ["sub_org_a", "sub_org_b"]
    assert "2 of 3 affected subscription(s) read, a sample of 2, 2 request(s)" in cli(ws, "plan").output
    monkeypatch.setenv("LAGOSYNC_USAGE_SAMPLE", "3")
    real = UsageMixin.current_usage

    def broken(self, req):
        if req.q("external_subscription_id") == "sub_org_b":
            raise unprocessable({"billable_metric": ["weighted_sum_agg_not_modelled"]})
        return real(self, req)

    monkeypatch.setattr(UsageMixin, "current_usage", broken)
    result = cli(ws, "plan", "--no-color")
    assert result.exit_code == 0  # never fails the plan
    assert re.search(r"note: the current usage of subscription 'sub_org_b' could not be read: .*"
                     r"weighted_sum_agg_not_modelled", result.output), result.output
    assert sorted(_per_sub(_usage(ws))) == ["sub_org_a", "sub_org_c"]


def test_the_self_check_says_when_lago_and_the_engine_disagree(ws, monkeypatch):
    _edit(ws, 'properties: {amount: "0.01"}', 'properties: {amount: "0.02"}')
    real = UsageMixin.current_usage

    def off_by_one(self, req):
        body = real(self, req)
        if req.q("external_subscription_id") == "sub_org_a":
            body["customer_usage"]["total_amount_cents"] += 1
        return body

    monkeypatch.setattr(UsageMixin, "current_usage", off_by_one)
    usage = _usage(ws)
    assert usage["mismatches"] == [
        "lagosync's pricing engine computes 3.20 USD, Lago says 3.21 USD for the current usage of subscription "
        "'sub_org_a': the price impact may be wrong"]
    text = cli(ws, "plan", "--no-color").output
    root = Path(__file__).resolve().parents[2]  # README.md and the reference in docs/ (docs/plans.md)
    readme = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    [shown] = [line for line in readme.splitlines() if line.startswith("  ! lagosync's pricing engine")]
    assert shown in text.splitlines()
    assert "> - lagosync's pricing engine computes 3.20 USD" in cli(ws, "plan", "--format", "markdown").output


def test_a_new_version_grandfathers_then_a_migration_prices_the_target_version(ws):
    _edit(ws, "    amount_cents: 1000\n", "    amount_cents: 1000\n    price_change: new_version\n")
    _edit(ws, 'properties: {amount: "0.01"}', 'properties: {amount: "0.02"}')
    assert _usage(ws) is None  # a new version for new subscribers: nobody pays differently
    assert cli(ws, "apply", "--auto-approve").exit_code == 0
    path = ws / "plans" / "catalog.yaml"
    path.write_text(path.read_text() + "migrations:\n  - {code: pro-v2, plan_code: pro, at: now}\n")
    usage = _usage(ws)
    # each moves from version 1 (read from Lago, 1 request) to version 2 (the workspace's plan)
    assert _per_sub(usage) == {"sub_org_a": (1320, 1420), "sub_org_b": (1010, 1020), "sub_org_c": (1000, 1000)}
    assert {(r["plan_before"], r["plan_after"]) for r in usage["rows"]} == {("pro__v1", "pro")}
    assert usage["requests"] == 4 and usage["mismatches"] == []
