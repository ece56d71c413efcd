"""Client-level contract scenario: always against the emulator; against a real Lago too when
LAGO_API_URL and LAGO_API_KEY are set (issue 3, "Conformance"). See docs/development.md."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from lagosync.client import LagoClient, LagoNotFound, LagoValidationError
from lagosync.emulator import Emulator, EmulatorTransport


def target_client(target: str) -> LagoClient:
    if target == "emulator":
        return LagoClient("http://lago.local", "k-contract",
                          transport=EmulatorTransport(Emulator(api_key="k-contract")), environment="emulator")
    url, key = os.environ["LAGO_API_URL"], os.environ["LAGO_API_KEY"]
    return LagoClient(url, key, environment="real", api_key_env="LAGO_API_KEY")


# the real Lago case exists only when LAGO_API_URL and LAGO_API_KEY are set (nothing is reported skipped)
TARGETS = ["emulator"] + (["real"] if os.environ.get("LAGO_API_URL") and os.environ.get("LAGO_API_KEY") else [])


@pytest.mark.parametrize("target", TARGETS)
def test_client_scenario(target):
    c = target_client(target)
    tag = uuid.uuid4().hex[:8]
    metric_code, plan_code, cheap_code = f"ls_calls_{tag}", f"ls_pro_{tag}", f"ls_basic_{tag}"
    customer, sub = f"ls_cus_{tag}", f"ls_sub_{tag}"

    async def scenario():
        async with c:
            assert (await c.health()).get("version")
            m = await c.create_billable_metric({"code": metric_code, "name": "Calls", "aggregation_type": "count_agg"})
            with pytest.raises(LagoValidationError) as exc:
                await c.create_billable_metric({"code": metric_code, "name": "Calls", "aggregation_type": "count_agg"})
            assert exc.value.has_detail("code", "value_already_exist")
            charge = {"billable_metric_id": m["lago_id"], "charge_model": "standard", "properties": {"amount": "0.01"}}
            for code, cents in ((plan_code, 4900), (cheap_code, 900)):
                await c.create_plan({"code": code, "name": code, "interval": "monthly", "amount_cents": cents,
                                     "amount_currency": "EUR", "pay_in_advance": False, "charges": [charge]})
            await c.replace_plan_metadata(plan_code, {"managed_by": "lagosync"})
            assert (await c.get_plan(plan_code))["metadata"] == {"managed_by": "lagosync"}
            await c.create_customer({"external_id": customer, "name": "Contract", "currency": "EUR",
                                     "metadata": [{"key": "managed_by", "value": "lagosync"}]})
            created = await c.create_subscription({"external_id": sub, "external_customer_id": customer,
                                                   "plan_code": cheap_code, "name": "S"})
            assert created["plan_code"] == cheap_code
            upgraded = await c.create_subscription({"external_id": sub, "external_customer_id": customer,
                                                    "plan_code": plan_code, "name": "S"})
            assert upgraded["plan_code"] == plan_code  # lago-behaviour#subscription-upgrade: immediate
            downgraded = await c.create_subscription({"external_id": sub, "external_customer_id": customer,
                                                      "plan_code": cheap_code, "name": "S"})
            assert downgraded["next_plan_code"] == cheap_code  # lago-behaviour#pending-downgrade: at period end
            subs = await c.list_subscriptions(statuses=["active", "pending"], external_customer_id=customer)
            assert sorted(s["status"] for s in subs) == ["active", "pending"]
            assert plan_code in {p["code"] for p in await c.list_plans()}
            assert (await c.terminate_subscription(sub))["status"] == "terminated"
            await c.delete_customer(customer)
            for code in (plan_code, cheap_code):
                await c.delete_plan(code)
            await c.delete_billable_metric(metric_code)
            with pytest.raises(LagoNotFound):
                await c.get_billable_metric(metric_code)

    asyncio.run(scenario())
