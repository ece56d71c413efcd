"""Customers (lago-behaviour#customer-upsert, lago-behaviour#customer-metadata-reconcile) and subscriptions
(lago-behaviour#subscription-response, lago-behaviour#plan-change-upgrade-downgrade)."""

from __future__ import annotations


def test_customer_post_is_upsert_and_absent_keys_untouched(api):
    # lago-behaviour#customer-upsert
    c = api.ok("POST", "/customers", customer={"external_id": "cus_1", "name": "Acme", "email": "a@acme.test",
                                               "phone": "123"})["customer"]
    c2 = api.ok("POST", "/customers", customer={"external_id": "cus_1", "name": "Acme Inc"})["customer"]
    assert c2["lago_id"] == c["lago_id"] and c2["name"] == "Acme Inc" and c2["phone"] == "123"
    c3 = api.ok("POST", "/customers", customer={"external_id": "cus_1", "phone": None})["customer"]
    assert c3["phone"] is None and c3["email"] == "a@acme.test"
    assert api.ok("GET", "/customers")["meta"]["total_count"] == 1


def test_customer_metadata_reconciled_by_id(api):
    # lago-behaviour#customer-metadata-reconcile
    c = api.ok("POST", "/customers", customer={"external_id": "cus_1", "metadata": [
        {"key": "segment", "value": "smb"}, {"key": "crm", "value": "A-1", "display_in_invoice": True}]})["customer"]
    ids = {m["key"]: m["lago_id"] for m in c["metadata"]}
    assert {m["key"]: m["display_in_invoice"] for m in c["metadata"]} == {"segment": False, "crm": True}
    c = api.ok("POST", "/customers", customer={"external_id": "cus_1", "metadata": [
        {"id": ids["segment"], "key": "segment", "value": "mid"}, {"key": "tier", "value": "gold"}]})["customer"]
    assert {m["key"]: m["value"] for m in c["metadata"]} == {"segment": "mid", "tier": "gold"}
    assert next(m for m in c["metadata"] if m["key"] == "segment")["lago_id"] == ids["segment"]
    # metadata key absent → untouched
    c = api.ok("POST", "/customers", customer={"external_id": "cus_1", "name": "x"})["customer"]
    assert len(c["metadata"]) == 2


def test_customer_metadata_key_resent_without_id_is_422(api):
    api.ok("POST", "/customers", customer={"external_id": "cus_1", "metadata": [{"key": "segment", "value": "smb"}]})
    status, body = api.post("/customers", customer={"external_id": "cus_1", "name": "changed",
                                                     "metadata": [{"key": "segment", "value": "mid"}]})
    assert status == 422 and body["error_details"] == {"key": ["value_already_exist"]}
    c = api.ok("GET", "/customers/cus_1")["customer"]
    assert c["name"] is None and c["metadata"][0]["value"] == "smb"


def test_customer_metadata_max_five(api):
    items = [{"key": f"k{i}", "value": "v"} for i in range(6)]
    status, body = api.post("/customers", customer={"external_id": "cus_1", "metadata": items})
    assert status == 422 and body["error_details"] == {"metadata": ["invalid_count"]}


def test_customer_external_id_required(api):
    status, body = api.post("/customers", customer={"name": "x"})
    assert status == 422 and body["error_details"] == {"external_id": ["value_is_mandatory"]}


def test_customer_currency_locked_once_subscribed(api):
    # lago-behaviour#customer-currency [≤v1.51.0]
    api.plan()
    api.subscribe()
    assert api.ok("GET", "/customers/cus_1")["customer"]["currency"] == "EUR"  # set from the first plan
    status, body = api.post("/customers", customer={"external_id": "cus_1", "currency": "USD"})
    assert status == 422 and body["error_details"] == {"currency": ["currencies_does_not_match"]}
    api.plan("usd", amount_currency="USD")
    status, body = api.post("/subscriptions", subscription={"external_customer_id": "cus_1", "plan_code": "usd",
                                                            "external_id": "sub_2"})
    assert status == 422 and body["error_details"] == {"currency": ["currencies_does_not_match"]}


def test_customer_delete_terminates_subscriptions(api):
    api.plan()
    api.subscribe()
    api.ok("DELETE", "/customers/cus_1")
    assert api.get("/customers/cus_1")[0] == 404
    assert api.ok("GET", "/subscriptions")["subscriptions"] == []


def test_subscription_creates_customer_implicitly(api):
    # lago-behaviour#customer-implicit-create
    api.plan()
    sub = api.subscribe(name="Main")
    assert sub["status"] == "active" and sub["plan_code"] == "pro" and sub["name"] == "Main"
    assert sub["plan"]["code"] == "pro"  # single-object responses embed the plan (lago-behaviour#subscription-response)
    assert api.ok("GET", "/customers/cus_1")["customer"]["lago_id"] == sub["lago_customer_id"]
    assert "plan" not in api.ok("GET", "/subscriptions")["subscriptions"][0]


def test_subscription_errors(api):
    api.plan()
    status, body = api.post("/subscriptions", subscription={"external_customer_id": "c", "plan_code": "nope",
                                                            "external_id": "s"})
    assert (status, body["code"]) == (404, "plan_not_found")
    status, body = api.post("/subscriptions", subscription={"plan_code": "pro", "external_id": "s"})
    assert status == 422 and body["error_details"] == {"external_customer_id": ["value_is_mandatory"]}
    status, body = api.post("/subscriptions", subscription={"external_customer_id": "c", "plan_code": "pro",
                                                            "external_id": "s", "billing_time": "weekly"})
    assert status == 422 and body["error_details"] == {"billing_time": ["value_is_invalid"]}
    api.subscribe("s1", customer="a")
    status, body = api.post("/subscriptions", subscription={"external_customer_id": "b", "plan_code": "pro",
                                                            "external_id": "s1"})
    assert status == 422 and body["error_details"] == {"external_id": ["value_already_exist"]}


def test_same_plan_returns_existing_unchanged(api):
    # lago-behaviour#plan-change-upgrade-downgrade: same plan → unchanged (name ignored)
    api.plan()
    sub = api.subscribe(name="A")
    again = api.subscribe(name="B")
    assert again["lago_id"] == sub["lago_id"] and again["name"] == "A"


def test_upgrade_is_immediate_new_row(api):
    # lago-behaviour#subscription-upgrade: yearly amount ≥ → new row now, previous_plan_code, old terminated
    api.plan("basic", amount_cents=1000)
    api.plan("pro", amount_cents=10000, interval="yearly")  # 10000/yr < 12000/yr → would be downgrade
    api.plan("max", amount_cents=2000)
    old = api.subscribe(plan="basic", name="Basic", billing_time="anniversary")
    new = api.subscribe(plan="max", name="Max", billing_time="calendar")
    assert new["lago_id"] != old["lago_id"] and new["status"] == "active"
    assert new["previous_plan_code"] == "basic" and new["plan_code"] == "max" and new["name"] == "Max"
    assert new["billing_time"] == "anniversary"  # copied from the old row
    terminated = api.ok("GET", "/subscriptions/sub_1", params={"status": "terminated"})["subscription"]
    assert terminated["lago_id"] == old["lago_id"]


def test_equal_yearly_amount_counts_as_upgrade(api):
    api.plan("monthly", amount_cents=1000)
    api.plan("yearly", amount_cents=12000, interval="yearly")
    api.subscribe(plan="monthly")
    assert api.subscribe(plan="yearly")["previous_plan_code"] == "monthly"


def test_downgrade_is_pending_until_period_end(api):
    # lago-behaviour#pending-downgrade
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.subscribe(plan="pro", name="Pro")
    resp = api.subscribe(plan="basic", name="Basic")
    assert resp["plan_code"] == "pro" and resp["status"] == "active"
    assert resp["next_plan_code"] == "basic" and resp["downgrade_plan_date"] == "2026-09-01"
    listed = api.ok("GET", "/subscriptions", params=[("status[]", "active"), ("status[]", "pending")])
    assert sorted((s["plan_code"], s["status"]) for s in listed["subscriptions"]) == [
        ("basic", "pending"), ("pro", "active")]
    pending = api.ok("GET", "/subscriptions/sub_1", params={"status": "pending"})["subscription"]
    assert pending["name"] == "Basic"
    # cancel the pending downgrade only
    canceled = api.ok("DELETE", "/subscriptions/sub_1", params={"status": "pending"})["subscription"]
    assert canceled["status"] == "canceled"
    assert api.ok("GET", "/subscriptions/sub_1")["subscription"]["next_plan_code"] is None


def test_upgrade_cancels_pending_downgrade(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    api.plan("max", amount_cents=9000)
    api.subscribe(plan="pro")
    api.subscribe(plan="basic")
    api.subscribe(plan="max", name="Max")
    assert api.get("/subscriptions/sub_1", params={"status": "pending"})[0] == 404
    canceled = api.ok("GET", "/subscriptions/sub_1", params={"status": "canceled"})["subscription"]
    assert canceled["plan_code"] == "basic"


def test_upgrade_without_name_gives_empty_name(api):
    # lago-behaviour#subscription-plan-change-name: the new row's name is taken from the request as-is
    api.plan("basic", amount_cents=1000)
    api.plan("max", amount_cents=2000)
    api.subscribe(plan="basic", name="Basic")
    assert api.subscribe(plan="max")["name"] == ""


def test_future_subscription_is_pending_and_swaps_plan(api):
    api.plan("pro", amount_cents=5000)
    api.plan("basic", amount_cents=1000)
    sub = api.subscribe(plan="pro", subscription_at="2027-01-01T00:00:00Z")
    assert sub["status"] == "pending"
    swapped = api.subscribe(plan="basic", subscription_at="2027-01-01T00:00:00Z", name="B")
    assert swapped["lago_id"] == sub["lago_id"] and swapped["plan_code"] == "basic"


def test_list_defaults_to_active_and_filters(api):
    # lago-behaviour#subscription-list-status: GET /subscriptions only active unless status[] given
    api.plan()
    api.subscribe("s1", customer="a")
    api.subscribe("s2", customer="b")
    api.ok("DELETE", "/subscriptions/s2")
    assert [s["external_id"] for s in api.ok("GET", "/subscriptions")["subscriptions"]] == ["s1"]
    body = api.ok("GET", "/subscriptions", params={"status[]": "terminated"})
    assert [s["external_id"] for s in body["subscriptions"]] == ["s2"]
    body = api.ok("GET", "/subscriptions", params={"external_customer_id": "a"})
    assert [s["external_id"] for s in body["subscriptions"]] == ["s1"]
    body = api.ok("GET", "/subscriptions", params={"plan_code": "other"})
    assert body["subscriptions"] == []


def test_update_subscription(api):
    # lago-behaviour#subscription-update: PUT updates name, ending_at (null clears); no plan_code
    api.plan()
    api.subscribe()
    sub = api.ok("PUT", "/subscriptions/sub_1", subscription={"name": "Renamed", "ending_at": "2027-01-01T00:00:00Z",
                                                              "plan_code": "ignored"})["subscription"]
    assert sub["name"] == "Renamed" and sub["ending_at"] == "2027-01-01T00:00:00Z" and sub["plan_code"] == "pro"
    sub = api.ok("PUT", "/subscriptions/sub_1", subscription={"ending_at": None})["subscription"]
    assert sub["ending_at"] is None
    status, body = api.put("/subscriptions/sub_1", subscription={"ending_at": "2020-01-01T00:00:00Z"})
    assert status == 422 and body["error_details"] == {"ending_at": ["invalid_date"]}
    assert api.put("/subscriptions/nope", subscription={"name": "x"})[0] == 404


def test_terminate(api):
    # lago-behaviour#subscription-terminate: active → terminated; then 404
    api.plan()
    api.subscribe()
    sub = api.ok("DELETE", "/subscriptions/sub_1", params={"on_termination_invoice": "skip"})["subscription"]
    assert sub["status"] == "terminated" and sub["terminated_at"] and sub["on_termination_invoice"] == "skip"
    assert api.delete("/subscriptions/sub_1")[1]["code"] == "subscription_not_found"


def test_resubscribe_after_termination_creates_new_row(api):
    api.plan()
    first = api.subscribe()
    api.ok("DELETE", "/subscriptions/sub_1")
    second = api.subscribe()
    assert second["lago_id"] != first["lago_id"] and second["status"] == "active"
