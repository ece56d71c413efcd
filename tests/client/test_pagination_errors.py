"""Pagination (lago-behaviour#pagination), bounded concurrency, error messages (lago-behaviour#error-format) and key redaction."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from client_fakes import KEY, FakeLago, reply

from lagosync.client import (
    LagoApiError,
    LagoClient,
    LagoNotFound,
    LagoServerError,
    LagoUnauthorized,
    LagoValidationError,
)


def run(coro):
    return asyncio.run(coro)


class PagedLago:
    """``GET /customers`` over ``n`` items; async handler so concurrent requests interleave."""

    def __init__(self, n: int):
        self.items = [{"lago_id": f"c{i}", "external_id": f"cus_{i}"} for i in range(n)]
        self.in_flight = 0
        self.max_in_flight = 0
        self.pages_asked: list[int] = []
        self.per_page_asked: set[str] = set()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            page = int(request.url.params["page"])
            per_page = int(request.url.params["per_page"])
            self.pages_asked.append(page)
            self.per_page_asked.add(request.url.params["per_page"])
            for _ in range(5):  # let other requests start while this one is "in flight"
                await asyncio.sleep(0)
            total_pages = -(-len(self.items) // per_page)
            chunk = self.items[(page - 1) * per_page: page * per_page]
            return reply(200, {"customers": chunk, "meta": {
                "current_page": page if self.items else 0,
                "next_page": page + 1 if page < total_pages else None,
                "prev_page": page - 1 if page > 1 else None,
                "total_pages": total_pages, "total_count": len(self.items)}})
        finally:
            self.in_flight -= 1

    def client(self, **kw) -> LagoClient:
        return LagoClient("https://lago.example.com", KEY, transport=httpx.MockTransport(self.handler), **kw)


def test_list_all_reads_every_page_in_order_with_per_page_100():
    lago = PagedLago(250)
    c = lago.client()
    items = run(c.list_customers())
    assert [i["external_id"] for i in items] == [f"cus_{i}" for i in range(250)]
    assert c.request_count == 3
    assert lago.per_page_asked == {"100"}
    assert lago.pages_asked[0] == 1 and sorted(lago.pages_asked) == [1, 2, 3]


def test_remaining_pages_are_fetched_concurrently_within_the_bound():
    lago = PagedLago(2000)  # 20 pages
    c = lago.client(concurrency=4)
    items = run(c.list_customers())
    assert len(items) == 2000 and c.request_count == 20
    assert lago.max_in_flight == 4  # concurrent, and never more than the bound
    assert c.max_in_flight == 4


def test_default_concurrency_is_8():
    lago = PagedLago(2000)
    c = lago.client()
    run(c.list_customers())
    assert c.concurrency == 8 and lago.max_in_flight == 8


def test_empty_list_is_one_request():
    lago = PagedLago(0)
    c = lago.client()
    assert run(c.list_customers()) == []
    assert c.request_count == 1


def test_items_seen_twice_across_pages_are_kept_once():
    def handler(request):
        page = request.url.params["page"]
        first = [{"lago_id": f"a{i}"} for i in range(99)] + [{"lago_id": "b"}]  # page 1 is full
        rows = {"1": first, "2": [{"lago_id": "b"}, {"lago_id": "c"}]}[page]
        return reply(200, {"taxes": rows, "meta": {"total_pages": 2}})

    c = LagoClient("https://h", KEY, transport=httpx.MockTransport(handler))
    assert [t["lago_id"] for t in run(c.list_taxes())][98:] == ["a98", "b", "c"]


def test_pages_read_ahead_are_adopted_one_per_turn_while_the_others_are_asked():
    """The pages ``read_pages`` already has are adopted one at a time: a page still to ask is sent
    between two adoptions, not after all of them (its latency runs while the others are adopted)."""
    lago = PagedLago(500)  # 5 pages
    events: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        events.append(f"asked {request.url.params['page']}")
        return await lago.handler(request)

    def adopt(item: dict) -> dict:
        if item["external_id"].endswith("0"):
            events.append(f"adopted {int(item['external_id'][4:]) // 100 + 1}")
        return {**item, "adopted": True}

    async def scenario() -> list[dict]:
        async with LagoClient("https://lago.example.com", KEY, transport=httpx.MockTransport(handler)) as c:
            first = await c.first_page("/customers", "customers")
            read = c.read_pages("/customers", "customers", None, [2, 3, 4])
            await asyncio.gather(*read.values())
            events.clear()
            return await c.list_all("/customers", "customers", first=first, read=read, adopt=adopt)

    items = run(scenario())
    assert [i["external_id"] for i in items] == [f"cus_{i}" for i in range(500)]
    assert all(i.get("adopted") for i in items[100:400]) and not any("adopted" in i for i in items[400:])
    adopted = [e for e in events if e.startswith("adopted")]
    assert adopted == [f"adopted {p}" for p in (2, 3, 4) for _ in range(10)]
    # page 5 is asked after page 2's adoption, before page 3's
    assert events.index("asked 5") < events.index("adopted 3")


def test_list_subscriptions_sends_status_array_and_filters():
    seen = []

    def handler(request):
        seen.append(request.url.params)
        return reply(200, {"subscriptions": [], "meta": {"total_pages": 0}})

    c = LagoClient("https://h", KEY, transport=httpx.MockTransport(handler))
    run(c.list_subscriptions(statuses=["active", "pending"], external_customer_id="acme", plan_code="pro"))
    (params,) = seen
    assert params.get_list("status[]") == ["active", "pending"]
    assert params["external_customer_id"] == "acme" and params["plan_code"] == "pro"


def test_terminate_subscription_passes_status_and_invoice_option():
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path, dict(request.url.params)))
        return reply(200, {"subscription": {"external_id": "s1", "status": "canceled"}})

    c = LagoClient("https://h", KEY, transport=httpx.MockTransport(handler))
    sub = run(c.terminate_subscription("s1", status="pending", on_termination_invoice="skip"))
    assert sub["status"] == "canceled"
    assert seen == [("DELETE", "/api/v1/subscriptions/s1", {"status": "pending", "on_termination_invoice": "skip"})]


# ------------------------------------------------------------------- error messages

def error_client(status, data=None, text=None, **kw):
    return FakeLago(lambda r, f: reply(status, data, text=text)).client(**kw)


def test_not_found_names_the_object_from_the_request_body():
    c = error_client(404, {"status": 404, "error": "Not Found", "code": "plan_not_found"})
    with pytest.raises(LagoNotFound) as exc:
        run(c.create_subscription({"external_customer_id": "acme", "plan_code": "pro"}))
    assert str(exc.value) == "plan 'pro' not found (plan_not_found) on POST /subscriptions"
    e = exc.value
    assert (e.status, e.code, e.method, e.path) == (404, "plan_not_found", "POST", "/subscriptions")


def test_not_found_names_the_object_from_the_path():
    c = error_client(404, {"status": 404, "error": "Not Found", "code": "billable_metric_not_found"})
    with pytest.raises(LagoNotFound) as exc:
        run(c.get_billable_metric("tokens"))
    assert str(exc.value) == "billable metric 'tokens' not found (billable_metric_not_found) on GET /billable_metrics/tokens"


def test_unknown_route_not_found():
    c = error_client(404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})
    with pytest.raises(LagoNotFound) as exc:
        run(c.request("GET", "/nope"))
    assert str(exc.value) == "resource not found (resource_not_found) on GET /nope"


def test_validation_errors_list_fields_and_codes():
    c = error_client(422, {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                           "error_details": {"amount_cents": ["value_is_mandatory", "value_is_out_of_range"],
                                             "charges": {"0": {"properties": ["invalid_amount"]}}}})
    with pytest.raises(LagoValidationError) as exc:
        run(c.update_plan("pro", {"code": "pro", "name": "Pro"}))
    assert str(exc.value) == (
        "Lago rejected plan 'pro' (validation_errors) on PUT /plans/pro: "
        "amount_cents: value_is_mandatory, value_is_out_of_range; charges.0.properties: invalid_amount"
    )
    assert exc.value.field_codes["charges.0.properties"] == ["invalid_amount"]
    assert exc.value.has_detail("amount_cents", "value_is_mandatory")


def test_unauthorized_names_environment_and_variable():
    c = error_client(401, {"status": 401, "error": "Unauthorized"})
    with pytest.raises(LagoUnauthorized) as exc:
        run(c.list_plans())
    assert str(exc.value) == (
        "Lago rejected the API key for environment 'prod' (read from $LAGO_PROD_API_KEY) on GET /plans "
        "(401 Unauthorized): set LAGO_PROD_API_KEY to a valid key for this Lago organization"
    )
    assert c.request_count == 1  # a rejected key is not retried


def test_non_json_500_is_reported_as_such():
    c = error_client(500, text="<!DOCTYPE html><html>We're sorry, but something went wrong.</html>")
    with pytest.raises(LagoServerError) as exc:
        run(c.create_plan({"code": "pro"}))
    assert str(exc.value) == (
        "Lago returned HTTP 500 with a non-JSON body on POST /plans "
        "(not a Lago error response; check the Lago server logs or the URL)"
    )
    assert exc.value.status == 500 and exc.value.code is None


def test_forbidden_names_the_permission_code():
    c = error_client(403, {"status": 403, "error": "Forbidden", "code": "write_action_not_allowed_for_plan"})
    with pytest.raises(LagoApiError) as exc:
        run(c.delete_plan("pro"))
    assert str(exc.value) == (
        "forbidden (write_action_not_allowed_for_plan) on DELETE /plans/pro: the API key for environment "
        "'prod' is not allowed to do this (check its permissions in Lago)"
    )


def test_method_not_allowed_code():
    c = error_client(405, {"status": 405, "error": "Method Not Allowed", "code": "plan_overlapping"})
    with pytest.raises(LagoApiError) as exc:
        run(c.create_applied_coupon({"external_customer_id": "acme", "coupon_code": "x"}))
    assert str(exc.value) == "plan overlapping (plan_overlapping) on POST /applied_coupons"


def test_bad_request_shows_lago_text():
    c = error_client(400, {"status": 400, "error": "BadRequest: param is missing or the value is empty: plan"})
    with pytest.raises(LagoApiError) as exc:
        run(c.request("POST", "/plans", json={}))
    assert str(exc.value) == (
        "bad request (HTTP 400) on POST /plans: BadRequest: param is missing or the value is empty: plan"
    )


def test_non_json_success_body_is_an_error():
    c = error_client(200, text="<html>login page</html>")
    with pytest.raises(LagoServerError, match=r"non-JSON body on GET /plans/pro: is the URL a Lago API\?"):
        run(c.get_plan("pro"))


# ------------------------------------------------------------------------- redaction

def test_api_key_never_in_repr_messages_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="lagosync.client")
    answers = iter([reply(503, {}), reply(401, {"status": 401, "error": "Unauthorized"})])
    fake = FakeLago(lambda r, f: next(answers))
    c = fake.client()
    assert KEY not in repr(c) and "***" in repr(c)
    assert KEY not in repr(vars(c))
    with pytest.raises(LagoUnauthorized) as exc:
        run(c.list_plans())
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent...
    assert "Bearer ***" in caplog.text  # ...and the logged headers are redacted
    assert "lagosync/" in caplog.text
    assert KEY not in caplog.text


def test_api_key_not_in_connection_error(caplog):
    caplog.set_level(logging.DEBUG)

    def script(request, fake):
        raise httpx.ConnectError(f"refused {request.headers}")

    c = FakeLago(script).client(max_retries=1)
    with pytest.raises(LagoApiError) as exc:
        run(c.list_plans())
    assert KEY not in str(exc.value) and exc.value.__cause__ is None
    assert KEY not in caplog.text
