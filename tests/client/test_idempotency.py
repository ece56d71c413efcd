"""Creates are never duplicated by a retry (Lago has no idempotency keys, lago-behaviour#no-idempotency-keys)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from client_fakes import FakeLago, already_exists, body, not_found, reply

from lagosync.client import LagoConnectionError, LagoServerError, LagoValidationError


def run(coro):
    return asyncio.run(coro)


def commit_then(fail, times=1):
    """The first ``times`` POSTs are committed, then the response is lost with ``fail``."""
    left = [times]

    def script(request, fake):
        if request.method == "POST" and left[0] > 0:
            left[0] -= 1
            fake.default(request)  # the write lands
            if isinstance(fail, int):
                return reply(fail, {"status": fail, "error": "Bad Gateway"})
            raise fail
        return None

    return script


@pytest.mark.parametrize(
    "fail",
    [httpx.ReadError("connection reset"), httpx.RemoteProtocolError("server disconnected"),
     httpx.ReadTimeout("timed out"), httpx.WriteTimeout("timed out"), 502, 503, 504],
    ids=lambda f: f if isinstance(f, int) else type(f).__name__,
)
def test_create_that_landed_is_found_by_code_not_sent_again(fail):
    fake = FakeLago(commit_then(fail))
    c = fake.client()
    metric = run(c.create_billable_metric({"code": "api_calls", "name": "API calls"}))
    assert metric["code"] == "api_calls" and metric["lago_id"] == "id-1"
    assert fake.count("POST", "/api/v1/billable_metrics") == 1
    assert fake.count("GET", "/api/v1/billable_metrics/api_calls") == 1
    assert list(fake.store["billable_metrics"]) == ["api_calls"]


def test_create_that_did_not_land_is_sent_again_after_the_check():
    dropped = [False]

    def script(request, fake):
        if request.method == "POST" and not dropped[0]:
            dropped[0] = True
            raise httpx.ReadError("reset before commit")
        return None

    fake = FakeLago(script)
    c = fake.client()
    plan = run(c.create_plan({"code": "pro", "name": "Pro"}))
    assert plan["code"] == "pro"
    assert fake.count("POST", "/api/v1/plans") == 2
    assert fake.count("GET", "/api/v1/plans/pro") == 1
    assert len(fake.store["plans"]) == 1


def test_value_already_exist_on_a_retried_create_is_success():
    """The lookup raced the commit: the re-sent POST gets 422 value_already_exist -> fetch it."""
    state = {"posts": 0, "gets": 0}

    def script(request, fake):
        if request.method == "POST":
            state["posts"] += 1
            if state["posts"] == 1:
                raise httpx.ReadError("reset")  # the write is still in flight on the server
            fake.commit("coupons", {"code": "launch", "name": "Launch"})  # ...and lands now
            return already_exists()
        if request.method == "GET":
            state["gets"] += 1
            if state["gets"] == 1:
                return not_found("coupon_not_found")
        return None

    fake = FakeLago(script)
    c = fake.client()
    coupon = run(c.create_coupon({"code": "launch", "name": "Launch"}))
    assert coupon == {"lago_id": "id-1", "code": "launch", "name": "Launch"}
    assert state == {"posts": 2, "gets": 2}
    assert len(fake.store["coupons"]) == 1


def test_value_already_exist_on_a_first_create_is_an_error():
    fake = FakeLago()
    fake.commit("taxes", {"code": "vat"})
    c = fake.client()
    with pytest.raises(LagoValidationError) as exc:
        run(c.create_tax({"code": "vat", "name": "VAT", "rate": "20"}))
    assert str(exc.value) == (
        "Lago rejected tax 'vat' (validation_errors) on POST /taxes: code: value_already_exist"
    )
    assert fake.count("GET", "/api/v1/taxes/vat") == 0


def test_ambiguous_raw_post_without_recovery_is_not_resent():
    fake = FakeLago(commit_then(httpx.ReadError("reset")))
    c = fake.client()
    with pytest.raises(LagoConnectionError) as exc:
        run(c.request("POST", "/plans", json={"plan": {"code": "pro"}}))
    assert str(exc.value) == (
        "lost the connection to Lago (ReadError) after sending POST /plans: the request may or may "
        "not have been applied; run the command again (it checks first)"
    )
    assert fake.count("POST", "/api/v1/plans") == 1


def test_ambiguous_5xx_on_raw_post_without_recovery_is_not_resent():
    fake = FakeLago(commit_then(502))
    c = fake.client()
    with pytest.raises(LagoServerError):
        run(c.request("POST", "/plans", json={"plan": {"code": "pro"}}))
    assert fake.count("POST", "/api/v1/plans") == 1


def test_connect_error_on_a_create_is_retried_without_lookup():
    """ConnectError means nothing was sent: re-sending cannot duplicate."""
    refused = [True]

    def script(request, fake):
        if request.method == "POST" and refused[0]:
            refused[0] = False
            raise httpx.ConnectError("refused")
        return None

    fake = FakeLago(script)
    c = fake.client()
    run(c.create_add_on({"code": "setup", "amount_cents": 1000}))
    assert fake.count("POST", "/api/v1/add_ons") == 2
    assert fake.count("GET", "/api/v1/add_ons/setup") == 0


def test_delete_answered_404_after_an_ambiguous_failure_counts_as_done():
    def script(request, fake):
        if request.method == "DELETE" and fake.count("DELETE", request.url.path) == 1:
            fake.default(request)
            raise httpx.ReadError("reset")
        return None

    fake = FakeLago(script)
    fake.commit("plans", {"code": "old"})
    c = fake.client()
    assert run(c.delete_plan("old")) is None
    assert fake.count("DELETE", "/api/v1/plans/old") == 2
    assert fake.store["plans"] == {}


def test_delete_of_a_missing_object_is_still_an_error():
    from lagosync.client import LagoNotFound

    c = FakeLago().client()
    with pytest.raises(LagoNotFound):
        run(c.delete_plan("ghost"))


def test_put_is_retried_after_an_ambiguous_failure():
    def script(request, fake):
        if request.method == "PUT" and fake.count("PUT", request.url.path) == 1:
            fake.default(request)
            raise httpx.ReadTimeout("slow")
        return None

    fake = FakeLago(script)
    fake.commit("plans", {"code": "pro", "name": "Pro"})
    c = fake.client()
    assert run(c.update_plan("pro", {"name": "Pro 2"}))["name"] == "Pro 2"
    assert fake.count("PUT", "/api/v1/plans/pro") == 2


def test_customer_upsert_is_simply_resent():
    posts = []

    def script(request, fake):
        if request.url.path == "/api/v1/customers":
            posts.append(body(request))
            if len(posts) == 1:
                raise httpx.ReadError("reset")
            return reply(200, {"customer": {"external_id": "acme", "lago_id": "c1"}})
        return None

    c = FakeLago(script).client()
    assert run(c.update_customer("acme", {"name": "Acme"}))["external_id"] == "acme"
    assert posts == [{"customer": {"name": "Acme", "external_id": "acme"}}] * 2


def _subscription_lago(active: dict | None, pending: dict | None = None, fail=httpx.ReadError("reset")):
    """POST /subscriptions lands (``active``/``pending`` reflect its result) then the response is lost."""
    posts = []

    def script(request, fake):
        path = request.url.path
        if path == "/api/v1/subscriptions" and request.method == "POST":
            posts.append(body(request))
            if isinstance(fail, int):
                return reply(fail, {"status": fail, "error": "Gateway Timeout"})
            raise fail
        if path.startswith("/api/v1/subscriptions/") and request.method == "GET":
            row = pending if request.url.params.get("status") == "pending" else active
            return reply(200, {"subscription": row}) if row else not_found("subscription_not_found")
        return None

    return FakeLago(script), posts


def test_subscription_create_that_landed_is_read_back_by_external_id():
    active = {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro", "status": "active"}
    fake, posts = _subscription_lago(active)
    c = fake.client()
    sub = run(c.create_subscription({"external_id": "sub_acme", "external_customer_id": "acme",
                                     "plan_code": "pro"}))
    assert sub == active and len(posts) == 1


def test_subscription_downgrade_that_landed_is_recognised_by_next_plan_code():
    """lago-behaviour#pending-downgrade: a downgrade's response is the still-active row with ``next_plan_code``."""
    active = {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro",
              "next_plan_code": "basic", "status": "active"}
    fake, posts = _subscription_lago(active)
    sub = run(fake.client().create_subscription(
        {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "basic"}))
    assert sub["next_plan_code"] == "basic" and len(posts) == 1


def test_subscription_starting_later_is_found_among_pending():
    pending = {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro", "status": "pending"}
    fake, posts = _subscription_lago(None, pending, fail=504)
    sub = run(fake.client().create_subscription(
        {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "pro"}))
    assert sub["status"] == "pending" and len(posts) == 1


def test_subscription_create_that_did_not_land_is_resent():
    active = {"external_id": "sub_acme", "external_customer_id": "acme", "plan_code": "basic", "status": "active"}
    fake, posts = _subscription_lago(active)
    c = fake.client(max_retries=2)
    with pytest.raises(LagoConnectionError):
        run(c.create_subscription({"external_id": "sub_acme", "external_customer_id": "acme",
                                   "plan_code": "pro"}))
    assert len(posts) == 3  # the upgrade never showed up, so it was re-sent each time


def test_applied_coupon_that_landed_is_found_by_customer_and_code():
    posts = []

    def script(request, fake):
        if request.url.path == "/api/v1/applied_coupons":
            if request.method == "POST":
                posts.append(1)
                raise httpx.ReadError("reset")
            params = request.url.params
            assert params.get_list("coupon_code[]") == ["launch"]
            assert params.get("external_customer_id") == "acme" and params.get("status") == "active"
            return reply(200, {"applied_coupons": [
                {"lago_id": "ac1", "coupon_code": "launch", "external_customer_id": "acme"}],
                "meta": {"current_page": 1, "total_pages": 1}})
        return None

    c = FakeLago(script).client()
    applied = run(c.create_applied_coupon({"external_customer_id": "acme", "coupon_code": "launch"}))
    assert applied["lago_id"] == "ac1" and posts == [1]


def test_plan_metadata_replace_is_retried_as_idempotent():
    calls = []

    def script(request, fake):
        if request.url.path == "/api/v1/plans/pro/metadata":
            calls.append(body(request))
            if len(calls) == 1:
                raise httpx.ReadError("reset")
            return reply(200, {"metadata": body(request)["metadata"]})
        return None

    c = FakeLago(script).client()
    assert run(c.replace_plan_metadata("pro", {"managed_by": "lagosync"})) == {"managed_by": "lagosync"}
    assert calls == [{"metadata": {"managed_by": "lagosync"}}] * 2
