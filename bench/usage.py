"""Benchmark: the price impact on real usage for 10,000 affected subscriptions (CPU seconds, requests).

A plan with a filter and graduated ranges, subscriptions with events in the embedded Lago. Stages:
reading current usage (one request per subscription, concurrently through the client, in-process
emulator: the emulator's own aggregation and pricing are in these CPU seconds too); pricing the
readings before and after a price rise (lagosync.pricing.usage_impact, pure: 10,000 subscriptions, the
readings cycled); and what a plan does by default: the first LAGOSYNC_USAGE_SAMPLE (50) subscriptions
read and priced, so its request count stays 50 however many subscriptions the change affects.

    .venv/bin/python bench/usage.py [--quick]
"""

from __future__ import annotations

import asyncio
import copy
import json
import tempfile
import time
from pathlib import Path

from _common import Lago, machine, parser, table

from lagosync import model
from lagosync.facts import LiveFacts, LiveState
from lagosync.planner.ops import Action, Impact, Operation, Plan
from lagosync.pricing.usage_impact import Reading, usage_impact

SAMPLE = 50  # lagosync.workflow.USAGE_SAMPLE, the default of LAGOSYNC_USAGE_SAMPLE


def seed(lago: Lago, n: int) -> None:
    emu = lago.emulator

    def call(method: str, path: str, body: dict | None = None) -> dict:
        res = emu.handle(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {emu.api_key}"},
                         body=json.dumps(body).encode() if body is not None else b"")
        assert res.status == 200, (path, res.status, res.body[:300])
        return res.json()

    call("POST", "/taxes", {"tax": {"code": "vat", "name": "VAT", "rate": "20"}})
    calls = call("POST", "/billable_metrics", {"billable_metric": {
        "code": "api_call", "name": "API calls", "aggregation_type": "count_agg",
        "filters": [{"key": "endpoint", "values": ["chat", "embeddings"]}]}})["billable_metric"]
    tokens = call("POST", "/billable_metrics", {"billable_metric": {
        "code": "tokens", "name": "Tokens", "aggregation_type": "sum_agg", "field_name": "tokens"}})["billable_metric"]
    call("POST", "/plans", {"plan": {
        "code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 4900, "amount_currency": "USD",
        "pay_in_advance": False, "tax_codes": ["vat"], "charges": [
            {"billable_metric_id": calls["lago_id"], "charge_model": "standard", "properties": {"amount": "0.001"},
             "filters": [{"values": {"endpoint": ["embeddings"]}, "properties": {"amount": "0.0005"}}]},
            {"billable_metric_id": tokens["lago_id"], "charge_model": "graduated", "properties": {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 100000, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 100001, "to_value": None, "per_unit_amount": "0.00002", "flat_amount": "0"}]}}]}})
    for i in range(n):
        call("POST", "/customers", {"customer": {"external_id": f"org_{i:05d}", "currency": "USD"}})
        call("POST", "/subscriptions", {"subscription": {"external_customer_id": f"org_{i:05d}",
                                                         "plan_code": "pro", "external_id": f"sub_{i:05d}"}})
        events = [{"transaction_id": f"{i}-{j}", "code": "api_call", "external_subscription_id": f"sub_{i:05d}",
                   "properties": {"endpoint": "chat" if j % 3 else "embeddings"}} for j in range(20 + i % 30)]
        events.append({"transaction_id": f"{i}-t", "code": "tokens", "external_subscription_id": f"sub_{i:05d}",
                       "properties": {"tokens": str(50_000 * (i % 7))}})
        call("POST", "/events/batch", {"events": events})


async def read(lago: Lago, subs: list[str]) -> list[dict]:
    async with lago.client() as client:
        return list(await asyncio.gather(*(client.current_usage(f"org_{s[4:]}", s) for s in subs)))


async def catalogue(lago: Lago) -> tuple[dict, dict, dict]:
    async with lago.client() as client:
        plan = model.from_api("plan", await client.get_plan("pro"))
        metrics = {m["code"]: model.from_api("billable_metric", m) for m in await client.list_billable_metrics()}
        taxes = {t["code"]: model.from_api("tax", t) for t in await client.list_taxes()}
    return plan, metrics, taxes


def price(plan_obj: dict, metrics: dict, taxes: dict, usages: list[dict], n: int) -> tuple[float, int, int]:
    """Price ``n`` subscriptions (the readings cycled) before and after a price rise of the calls."""
    subs = [f"sub_{i:05d}" for i in range(n)]
    state = {"plan": {"pro": plan_obj}, "billable_metric": metrics, "tax": taxes,
             "subscription": {s: {"external_id": s, "external_customer_id": f"org_{s[4:]}", "plan_code": "pro"}
                              for s in subs},
             "customer": {}, "coupon": {}, "applied_coupon": {}}
    live = LiveState(state=state, raw={}, facts=LiveFacts())
    after = copy.deepcopy(plan_obj)
    for charge in after["charges"].values():
        if charge["billable_metric_code"] == "api_call":
            charge["properties"]["amount"] = "0.002"
    impacts = tuple(Impact(s, f"org_{s[4:]}", "price", "plan 'pro': api_call amount") for s in subs)
    plan = Plan(environment="local", lago_url=None, workspace_digest="bench", created_at="bench",
                operations=(Operation(Action.UPDATE, "plan", "pro", impact=impacts),))
    readings = [Reading(s, f"org_{s[4:]}", usage=usages[i % len(usages)]) for i, s in enumerate(subs)]
    start = time.process_time()
    result = usage_impact(plan, {"plan": {"pro": after}}, live, readings, versions={}, affected=n,
                          sample_size=n, requests=0, premium=False)
    cpu = time.process_time() - start
    assert len(result.rows) == n and all(r.after_cents is not None for r in result.rows)
    return cpu, len(result.rows), len(result.mismatches)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    seeded, total = (10, 200) if args.quick else (200, 10_000)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lago = Lago(Path(tmp))
        seed(lago, seeded)
        subs = [f"sub_{i:05d}" for i in range(seeded)]
        before = lago.requests
        start = time.process_time()
        usages = asyncio.run(read(lago, subs))
        read_cpu = time.process_time() - start
        read_requests = lago.requests - before
        rows.append(["read current usage (in-process Lago)", seeded, read_requests, read_cpu,
                     f"{read_cpu / seeded * 1000:.2f} ms"])
        plan_obj, metrics, taxes = asyncio.run(catalogue(lago))
        cpu, priced, mismatches = price(plan_obj, metrics, taxes, usages, total)
        rows.append(["price before/after (pure)", priced, 0, cpu, f"{cpu / priced * 1000:.2f} ms"])
        sample = min(SAMPLE, seeded)
        cpu_sample, _, _ = price(plan_obj, metrics, taxes, usages[:sample], sample)
        per_read = read_cpu / seeded
        rows.append([f"a plan: the default sample, {sample} of {total:,} affected", sample, sample,
                     per_read * sample + cpu_sample, "bounded"])
        assert mismatches == 0  # the engine agrees with the emulator's current usage
    print(table(f"price impact on real usage ({machine()})",
                ["stage", "subscriptions", "requests", "CPU s", "per subscription"], rows))


if __name__ == "__main__":
    main()
