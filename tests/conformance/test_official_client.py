"""The official lago-python-client (pinned 1.55.0) against the emulator's HTTP server, and against a
real Lago when LAGO_API_URL / LAGO_API_KEY are set (same scenario, parametrised target).

Client quirks (lago-behaviour#python-client-quirks): Client(api_url=".../") appends api/v1/; None fields are dropped from bodies;
child clients' find_all sends no Authorization header, so top-level list endpoints are used instead.
"""

from __future__ import annotations

import uuid

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BillableMetric,
    Charge,
    Charges,
    Customer,
    Metadata,
    MetadataList,
    Plan,
    Subscription,
)


@pytest.fixture
def lago(lago_target):
    url, key = lago_target
    return Client(api_key=key, api_url=url)


def test_contract_scenario(lago):
    run = uuid.uuid4().hex[:8]  # unique codes, so the suite can run repeatedly against a real Lago
    metric_code, cust, sub_id = f"calls_{run}", f"cus_{run}", f"sub_{run}"

    # metric
    metric = lago.billable_metrics.create(BillableMetric(
        name="API calls", code=metric_code, aggregation_type="sum_agg", field_name="count", recurring=False))
    assert metric.code == metric_code and metric.lago_id

    # plans with charges (money values as strings, lago-behaviour#charge-amounts-as-strings)
    def plan(code, amount_cents, amount="0.002"):
        return lago.plans.create(Plan(
            name=code, code=code, interval="monthly", amount_cents=amount_cents, amount_currency="EUR",
            pay_in_advance=False,
            charges=Charges(__root__=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                             properties={"amount": amount})])))

    basic = plan(f"basic_{run}", 1000)
    assert basic.charges.__root__[0].properties["amount"] == "0.002"
    plan(f"pro_{run}", 5000, "0.001")
    plan(f"max_{run}", 9000, "0.0005")

    # plan update keeping charge identity by id (lago-behaviour#plan-charges-reconciled)
    charge_id = basic.charges.__root__[0].lago_id
    updated = lago.plans.update(Plan(name="Basic", interval="monthly", charges=Charges(__root__=[Charge(
        id=charge_id, billable_metric_id=metric.lago_id, charge_model="standard",
        properties={"amount": "0.003"})])), f"basic_{run}")
    assert updated.name == "Basic" and updated.charges.__root__[0].lago_id == charge_id
    assert lago.plans.find(f"basic_{run}").charges.__root__[0].properties["amount"] == "0.003"

    # re-sending the charge without its id → 422 value_already_exist (lago-behaviour#plan-charge-code-clash)
    with pytest.raises(LagoApiError) as err:
        lago.plans.update(Plan(charges=Charges(__root__=[Charge(
            billable_metric_id=metric.lago_id, code=metric_code, charge_model="standard",
            properties={"amount": "1"})])), f"basic_{run}")
    assert err.value.status_code == 422
    assert err.value.response["error_details"] == {"code": ["value_already_exist"]}

    # customer with metadata (upsert; metadata reconciled by id, lago-behaviour#customer-metadata-reconcile)
    customer = lago.customers.create(Customer(
        external_id=cust, name="Acme", currency="EUR",
        metadata=MetadataList(__root__=[Metadata(key="segment", value="smb", display_in_invoice=False)])))
    meta = customer.metadata.__root__[0]
    assert (meta.key, meta.value) == ("segment", "smb")
    customer = lago.customers.create(Customer(
        external_id=cust, metadata=MetadataList(__root__=[
            Metadata(id=meta.lago_id, key="segment", value="mid", display_in_invoice=False),
            Metadata(key="crm", value="A-42", display_in_invoice=True)])))
    assert sorted((m.key, m.value) for m in customer.metadata.__root__) == [("crm", "A-42"), ("segment", "mid")]
    assert customer.name == "Acme"  # keys absent are untouched

    # subscription
    sub = lago.subscriptions.create(Subscription(
        external_customer_id=cust, plan_code=f"pro_{run}", external_id=sub_id, name="Pro"))
    assert sub.status == "active" and sub.plan_code == f"pro_{run}"

    # downgrade → pending until period end (lago-behaviour#pending-downgrade)
    down = lago.subscriptions.create(Subscription(
        external_customer_id=cust, plan_code=f"basic_{run}", external_id=sub_id, name="Basic"))
    assert down.lago_id == sub.lago_id and down.plan_code == f"pro_{run}"
    assert down.next_plan_code == f"basic_{run}" and down.downgrade_plan_date
    both = lago.subscriptions.find_all({"external_customer_id": cust, "status[]": ["active", "pending"]})
    assert sorted(s.status for s in both["subscriptions"]) == ["active", "pending"]

    # upgrade → immediate new row, pending downgrade canceled
    up = lago.subscriptions.create(Subscription(
        external_customer_id=cust, plan_code=f"max_{run}", external_id=sub_id, name="Max"))
    assert up.lago_id != sub.lago_id and up.plan_code == f"max_{run}" and up.status == "active"
    assert up.previous_plan_code == f"pro_{run}" and up.name == "Max"
    pending = lago.subscriptions.find_all({"external_customer_id": cust, "status[]": ["pending"]})
    assert pending["subscriptions"] == []

    # terminate
    terminated = lago.subscriptions.destroy(sub_id)
    assert terminated.status == "terminated" and terminated.terminated_at
    with pytest.raises(LagoApiError) as err:
        lago.subscriptions.find(sub_id)
    assert err.value.status_code == 404 and err.value.response["code"] == "subscription_not_found"

    # errors the way Lago renders them
    with pytest.raises(LagoApiError) as err:
        lago.plans.find(f"nope_{run}")
    assert err.value.response == {"status": 404, "error": "Not Found", "code": "plan_not_found"}


def test_list_with_pagination(lago):
    run = uuid.uuid4().hex[:8]
    codes = {f"p{i}_{run}" for i in range(5)}
    for code in codes:
        lago.plans.create(Plan(name=code, code=code, interval="monthly", amount_cents=100,
                               amount_currency="EUR", pay_in_advance=False))
    seen, page = [], 1
    while page:
        result = lago.plans.find_all({"page": page, "per_page": 2})
        meta = result["meta"]
        assert meta["current_page"] == page and len(result["plans"]) <= 2
        seen += [p.code for p in result["plans"]]
        page = meta["next_page"]
    assert codes <= set(seen)
    assert len(seen) == len(set(seen)) == meta["total_count"]


def test_unauthorized_key(lago_target):
    url, _ = lago_target
    bad = Client(api_key="definitely-wrong", api_url=url)
    with pytest.raises(LagoApiError) as err:
        bad.plans.find_all()
    assert err.value.status_code == 401
