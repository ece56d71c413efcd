"""LagoClient.current_usage: the answer read and checked; a customer id with a dot sent as %2E."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from lagosync.client import LagoBadResponse, LagoClient, LagoNotFound
from lagosync.emulator import Emulator, EmulatorTransport

KEY = "lago-test-key-0042"


def _client(transport: httpx.AsyncBaseTransport) -> LagoClient:
    return LagoClient("http://lago.local/", KEY, transport=transport, environment="local", max_retries=0)


async def _setup(client: LagoClient, customer: str) -> None:
    bm = await client.create_billable_metric({"code": "calls", "name": "Calls", "aggregation_type": "count_agg"})
    await client.create_plan({"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 100,
                              "amount_currency": "USD", "pay_in_advance": False, "charges": [
                                  {"billable_metric_id": bm["lago_id"], "charge_model": "standard",
                                   "properties": {"amount": "0.25"}}]})
    await client.create_customer({"external_id": customer})
    await client.create_subscription({"external_customer_id": customer, "plan_code": "pro",
                                      "external_id": "sub.1"})
    for i in range(3):
        await client.request("POST", "/events", json={"event": {
            "transaction_id": f"t{i}", "code": "calls", "external_subscription_id": "sub.1"}})


def test_current_usage_of_a_dotted_customer_and_subscription():
    emulator = Emulator(api_key=KEY)
    seen: list[str] = []

    class Spy(EmulatorTransport):
        async def handle_async_request(self, request):
            seen.append(request.url.raw_path.decode())
            return await super().handle_async_request(request)

    async def go():
        async with _client(Spy(emulator)) as client:
            await _setup(client, "acme.com")
            usage = await client.current_usage("acme.com", "sub.1")
            with pytest.raises(LagoNotFound):
                await client.current_usage("nobody", "sub.1")
            return usage

    usage = asyncio.run(go())
    assert (usage["amount_cents"], usage["currency"]) == (75, "USD")
    assert usage["charges_usage"][0]["units"] == "3.0"
    assert any(p.startswith("/api/v1/customers/acme%2Ecom/current_usage?external_subscription_id=sub.1")
               for p in seen), seen


@pytest.mark.parametrize("answer, what", [
    ({"customer_usage": []}, "'customer_usage' is a JSON list"),
    ({"customer_usage": {"amount_cents": "75", "taxes_amount_cents": 0, "total_amount_cents": 75,
                         "currency": "USD", "charges_usage": []}}, "customer_usage.amount_cents"),
    ({"customer_usage": {"amount_cents": 75, "taxes_amount_cents": 0, "total_amount_cents": 75,
                         "currency": "USD", "charges_usage": {}}}, "charges_usage is a JSON object"),
    ({"customer_usage": {"amount_cents": 75, "taxes_amount_cents": 0, "total_amount_cents": 75,
                         "currency": "USD", "charges_usage": [{"units": 3}]}}, "charges_usage[0]"),
])
def test_a_wrong_answer_is_an_error_naming_the_endpoint(answer, what):
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(answer).encode(), headers={"content-type": "application/json"})

    async def go():
        async with _client(httpx.MockTransport(reply)) as client:
            await client.current_usage("acme", "sub_1")

    with pytest.raises(LagoBadResponse) as err:
        asyncio.run(go())
    assert what in str(err.value) and "/customers/acme/current_usage" in str(err.value)
