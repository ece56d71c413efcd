"""Second review of retries vs Lago's natural keys (lago-behaviour#no-idempotency-keys), against the emulator
with commit-then-drop faults: the write lands, the response is lost, the client must neither
create twice nor report a failure for a write that landed."""

from __future__ import annotations

import asyncio

from lagosync.client import LagoClient, LagoValidationError
from lagosync.emulator import Emulator, EmulatorTransport
from lagosync.emulator.faults import Faults


async def _nosleep(_seconds):
    return None


def client_for(emulator, script, path_suffix):
    faults = Faults(script=list(script), match=lambda m, p: m == "POST" and p.endswith(path_suffix))
    client = LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator, faults),
                        sleep=_nosleep)
    return client, faults


def test_customer_upsert_with_new_metadata_that_landed_is_success():
    emulator = Emulator()
    client, faults = client_for(emulator, [None, "commit_drop"], "/customers")

    async def go():
        async with client:
            await client.create_customer({"external_id": "acme", "name": "Acme"})
            sent = {"external_id": "acme", "name": "Acme", "metadata": [{"key": "k", "value": "v"}]}
            result = await client.create_customer(sent)
            return result, await client.get_customer("acme")

    result, live = asyncio.run(go())
    assert faults.log == [("POST", "/api/v1/customers", "commit_drop")]
    assert [(m["key"], m["value"]) for m in live["metadata"]] == [("k", "v")]
    assert result["external_id"] == "acme"
    # POST, POST (lost), POST again -> 422 key value_already_exist, GET read-back, GET above
    assert client.request_count == 5


def test_customer_upsert_rejected_for_another_reason_is_still_an_error():
    emulator = Emulator()
    client, _ = client_for(emulator, [], "/customers")

    async def go():
        async with client:
            await client.create_customer({"external_id": "acme", "metadata": [{"key": "k", "value": "v"}]})
            # not ambiguous: re-sending a key without its id is the caller's bug (lago-behaviour#customer-metadata-reconcile)
            await client.create_customer({"external_id": "acme", "metadata": [{"key": "k", "value": "w"}]})

    try:
        asyncio.run(go())
    except LagoValidationError as exc:
        assert exc.has_detail("key", "value_already_exist") or "value_already_exist" in str(exc)
    else:
        raise AssertionError("expected a 422")


def _subscriptions(emulator, client, external_id):
    async def go():
        async with client:
            return await client.list_subscriptions(statuses=["active", "pending", "terminated", "canceled"])
    return [s for s in asyncio.run(go()) if s["external_id"] == external_id]


def _catalog(client):
    async def go():
        async with client:
            for code, cents in (("basic", 1000), ("pro", 5000)):
                await client.create_plan({"code": code, "name": code, "interval": "monthly",
                                          "amount_cents": cents, "amount_currency": "USD", "pay_in_advance": False})
    asyncio.run(go())


def test_subscription_create_and_upgrade_that_landed_create_one_row_each():
    emulator = Emulator()
    _catalog(LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator)))
    client, faults = client_for(emulator, ["commit_drop", "commit_drop"], "/subscriptions")
    body = {"external_id": "sub_acme", "external_customer_id": "acme", "name": "Acme"}

    async def go():
        async with client:
            first = await client.create_subscription({**body, "plan_code": "basic"})
            upgraded = await client.create_subscription({**body, "plan_code": "pro"})
            return first, upgraded

    first, upgraded = asyncio.run(go())
    assert [d for _, _, d in faults.log] == ["commit_drop", "commit_drop"]
    assert first["plan_code"] == "basic" and upgraded["plan_code"] == "pro"
    rows = _subscriptions(emulator, LagoClient("http://lago.local", "lago-local-key",
                                               transport=EmulatorTransport(emulator)), "sub_acme")
    assert sorted((r["plan_code"], r["status"]) for r in rows) == [("basic", "terminated"), ("pro", "active")]


def test_subscription_post_resent_blindly_is_safe_by_natural_key():
    """Even without the read-back, Lago returns the existing subscription for the same external_id
    and plan (lago-behaviour#plan-change-upgrade-downgrade): a re-sent create cannot create a second row."""
    emulator = Emulator()
    plain = LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator))
    _catalog(plain)
    body = {"subscription": {"external_id": "sub_x", "external_customer_id": "x", "plan_code": "basic"}}

    async def go():
        async with LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator)) as c:
            a = await c.request("POST", "/subscriptions", json=body)
            b = await c.request("POST", "/subscriptions", json=body)
            return a, b

    a, b = asyncio.run(go())
    assert a["subscription"]["lago_id"] == b["subscription"]["lago_id"]
    assert len(_subscriptions(emulator, plain, "sub_x")) == 1


def test_catalog_create_that_landed_is_found_by_code():
    emulator = Emulator()
    client, faults = client_for(emulator, ["commit_drop"], "/taxes")

    async def go():
        async with client:
            created = await client.create_tax({"code": "vat", "name": "VAT", "rate": "20.0"})
            return created, await client.list_taxes()

    created, taxes = asyncio.run(go())
    assert faults.log and created["code"] == "vat" and [t["code"] for t in taxes] == ["vat"]
    assert client.request_count == 3  # POST (lost), GET by code (found: not re-sent), list


def _plan_with_a_charge(emulator):
    """Metrics calls + seats; plan pro with one standard charge on calls. Returns (calls, seats, charge)."""
    client = LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator),
                        sleep=_nosleep)

    async def go():
        async with client:
            calls = await client.create_billable_metric({"code": "calls", "name": "Calls",
                                                         "aggregation_type": "count_agg"})
            seats = await client.create_billable_metric({"code": "seats", "name": "Seats",
                                                         "aggregation_type": "count_agg"})
            plan = await client.create_plan({
                "code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 100,
                "amount_currency": "EUR", "pay_in_advance": False, "charges": [{"billable_metric_id": calls["lago_id"],
                                                       "charge_model": "standard", "properties": {"amount": "1"}}]})
            return calls, seats, plan["charges"][0]

    return asyncio.run(go())


def _put_client(emulator, script):
    faults = Faults(script=list(script), match=lambda m, p: m == "PUT")
    return LagoClient("http://lago.local", "lago-local-key", transport=EmulatorTransport(emulator, faults),
                      sleep=_nosleep), faults


def _charges(emulator):
    plan = emulator.handle("GET", "/api/v1/plans/pro", [], {"Authorization": "Bearer lago-local-key"}, b"")
    return sorted((c["billable_metric_code"], c["properties"]["amount"]) for c in plan.json()["plan"]["charges"])


def test_plan_update_adding_a_charge_that_landed_is_success():
    """PUT /plans/pro adding a charge (no id) lands, the response is lost; the re-sent PUT gets 422
    code value_already_exist (lago-behaviour#plan-charge-code-clash); the plan read back holds exactly the sent charges: success."""
    emulator = Emulator()
    calls, seats, charge = _plan_with_a_charge(emulator)
    client, faults = _put_client(emulator, ["commit_drop"])
    body = {"name": "Pro", "charges": [
        {"id": charge["lago_id"], "billable_metric_id": calls["lago_id"], "charge_model": "standard",
         "properties": {"amount": "2"}},
        {"billable_metric_id": seats["lago_id"], "charge_model": "standard", "properties": {"amount": "3.50"}}]}
    result = asyncio.run(client.update_plan("pro", body))
    assert faults.log == [("PUT", "/api/v1/plans/pro", "commit_drop")]
    assert client.request_count == 3  # PUT (lost), PUT again -> 422, GET read-back
    assert sorted(c["billable_metric_code"] for c in result["charges"]) == ["calls", "seats"]
    assert _charges(emulator) == [("calls", "2"), ("seats", "3.50")]


def test_plan_update_rejected_after_an_ambiguous_failure_is_still_an_error():
    """A 503 (maybe forwarded) then a genuine 422: the existing charge re-sent without its id, with other
    properties (lago-behaviour#charge-full-replace). The read-back plan does not hold the sent charges, so the 422 is raised."""
    emulator = Emulator()
    calls, _, _ = _plan_with_a_charge(emulator)
    client, faults = _put_client(emulator, ["503"])
    body = {"charges": [{"billable_metric_id": calls["lago_id"], "code": "calls", "charge_model": "standard",
                         "properties": {"amount": "5"}}]}
    try:
        asyncio.run(client.update_plan("pro", body))
    except LagoValidationError as exc:
        assert exc.has_detail("code", "value_already_exist")
    else:
        raise AssertionError("expected a 422")
    assert faults.log == [("PUT", "/api/v1/plans/pro", "503")]
    assert client.request_count == 3  # PUT (503), PUT -> 422, GET read-back (not landed)
    assert _charges(emulator) == [("calls", "1")]


def test_plan_update_without_charges_is_not_read_back():
    emulator = Emulator()
    _plan_with_a_charge(emulator)
    client, _ = _put_client(emulator, ["commit_drop"])
    assert asyncio.run(client.update_plan("pro", {"name": "Pro 2"}))["name"] == "Pro 2"
    assert client.request_count == 2  # PUT (lost), PUT again
