"""Cross-cutting rules: auth, envelopes, errors, pagination, health, organization (docs/lago-behaviour.md,
"Conventions")."""

from __future__ import annotations

import json

from lagosync.emulator import LAGO_VERSION, Emulator


def test_health_needs_no_auth_and_reports_version(emulator):
    # lago-behaviour#health-endpoint
    resp = emulator.handle("GET", "/health", [], {}, b"")
    assert resp.status == 200
    assert resp.json()["version"] == LAGO_VERSION == "1.51.0"


def test_missing_or_wrong_key_is_401_with_lago_body(emulator):
    # lago-behaviour#bearer-auth, lago-behaviour#error-format: 401 {"status":401,"error":"Unauthorized"} (no code)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "emu-test-key"}):
        resp = emulator.handle("GET", "/api/v1/plans", [], headers, b"")
        assert resp.status == 401
        assert resp.json() == {"status": 401, "error": "Unauthorized"}


def test_token_is_second_word_of_header(emulator):
    resp = emulator.handle("GET", "/api/v1/plans", [], {"authorization": "Token emu-test-key"}, b"")
    assert resp.status == 200


def test_missing_root_key_is_400(api):
    # lago-behaviour#request-root-key: wrap_parameters false, missing root → 400 BadRequest
    status, body = api.post("/plans", raw={"name": "x", "code": "x"})
    assert status == 400
    assert body["status"] == 400 and body["error"].startswith("BadRequest: ")
    assert "plan" in body["error"] and "code" not in body


def test_invalid_json_is_400(emulator):
    resp = emulator.handle("POST", "/api/v1/plans", [], {"Authorization": "Bearer emu-test-key"}, b"{nope")
    assert resp.status == 400


def test_unknown_route_is_404_resource_not_found(api):
    status, body = api.get("/nothing_here")
    assert (status, body) == (404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})


def test_not_found_codes_per_resource(api):
    # lago-behaviour#not-found-codes: 404 "<resource>_not_found"
    cases = {
        "/plans/nope": "plan_not_found", "/billable_metrics/nope": "billable_metric_not_found",
        "/customers/nope": "customer_not_found", "/subscriptions/nope": "subscription_not_found",
        "/coupons/nope": "coupon_not_found", "/add_ons/nope": "add_on_not_found", "/taxes/nope": "tax_not_found",
        "/events/nope": "event_not_found",
    }
    for path, code in cases.items():
        status, body = api.get(path)
        assert status == 404 and body == {"status": 404, "error": "Not Found", "code": code}, path


def test_successful_writes_return_200(api):
    # lago-behaviour#writes-return-200: 200, never 201
    status, _ = api.post("/taxes", tax={"name": "VAT", "code": "vat", "rate": "20"})
    assert status == 200


def test_pagination_meta_and_default_per_page(api):
    # lago-behaviour#pagination: default per_page 100; meta fields; next/prev null at the ends
    for i in range(105):
        api.ok("POST", "/taxes", tax={"name": f"t{i}", "code": f"t{i:03d}", "rate": "1"})
    body = api.ok("GET", "/taxes")
    assert len(body["taxes"]) == 100
    assert body["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 105}
    body = api.ok("GET", "/taxes", params={"page": 2})
    assert len(body["taxes"]) == 5
    assert body["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 105}
    body = api.ok("GET", "/taxes", params={"page": 3, "per_page": 50})
    assert body["meta"]["next_page"] is None and len(body["taxes"]) == 5


def test_empty_list_meta_has_zero_pages(api):
    # lago-behaviour#pagination: 0 rows → current_page 0, total_pages 0
    body = api.ok("GET", "/plans")
    assert body == {"plans": [], "meta": {"current_page": 0, "next_page": None, "prev_page": None,
                                          "total_pages": 0, "total_count": 0}}


def test_default_order_is_created_at_desc(api, clock):
    # lago-behaviour#list-order: created_at DESC
    for code in ("a", "b", "c"):
        clock.advance(seconds=1)
        api.ok("POST", "/taxes", tax={"name": code, "code": code, "rate": "1"})
    assert [t["code"] for t in api.ok("GET", "/taxes")["taxes"]] == ["c", "b", "a"]


def test_codes_may_contain_dots_and_escapes(api):
    # lago-behaviour#codes-any-characters: codes accept any chars incl. dots
    api.metric("api.calls v2")
    body = api.ok("GET", "/billable_metrics/api.calls%20v2")
    assert body["billable_metric"]["code"] == "api.calls v2"


def test_organization_get_and_put(api):
    # lago-behaviour#organizations-endpoint (GET undocumented but exists)
    org = api.ok("GET", "/organizations")["organization"]
    assert org["lago_id"] and org["name"]
    body = api.ok("PUT", "/organizations", organization={"email": "billing@acme.test", "default_currency": "EUR"})
    assert body["organization"]["email"] == "billing@acme.test"
    assert api.ok("GET", "/organizations")["organization"]["default_currency"] == "EUR"


def test_file_storage_persists_across_instances(tmp_path):
    db = tmp_path / "lago.db"
    headers = {"Authorization": "Bearer k"}
    emu = Emulator(str(db), api_key="k")
    body = json.dumps({"tax": {"name": "VAT", "code": "vat", "rate": 20}}).encode()
    assert emu.handle("POST", "/api/v1/taxes", [], headers, body).status == 200
    emu.close()
    emu2 = Emulator(str(db), api_key="k")
    resp = emu2.handle("GET", "/api/v1/taxes/vat", [], headers, b"")
    assert resp.status == 200 and resp.json()["tax"]["rate"] == 20.0
    emu2.close()


def test_failed_request_changes_nothing(api):
    """Each request is one transaction: a 422 leaves no partial write behind."""
    metric = api.metric()
    api.plan(charges=[{"billable_metric_id": metric["lago_id"], "charge_model": "standard",
                       "properties": {"amount": "1"}}])
    before = api.ok("GET", "/plans/pro")
    status, _ = api.put("/plans/pro", plan={"name": "Renamed", "amount_cents": -5})
    assert status == 422
    assert api.ok("GET", "/plans/pro") == before


def _raw_get(emulator, path, **params):
    response = emulator.handle("GET", path, list(params.items()), {"Authorization": f"Bearer {emulator.api_key}"})
    assert response.status == 200, response.body
    return response.body


def _customers_and_subscriptions(api, n=150):
    api.plan("pro")
    for i in range(n):
        api.subscribe(ext=f"sub_{i:03d}", plan="pro", customer=f"cus_{i:03d}")


def test_list_pages_kept_until_a_write_answer_as_when_serialised_again(api, emulator, monkeypatch):
    """Customer and subscription pages are kept encoded until the next commit (Emulator.paginate):
    the same bytes as a page serialised and encoded anew, and a write is seen by the next read."""
    _customers_and_subscriptions(api)
    pages = [("/api/v1/customers", {"page": p}) for p in ("1", "2")] + [
        ("/api/v1/subscriptions", {"page": p, "status[]": "active"}) for p in ("1", "2")] + [
        ("/api/v1/customers", {"page": "3", "per_page": "7"}), ("/api/v1/customers", {"page": "9"})]
    first = [_raw_get(emulator, path, **params) for path, params in pages]
    serialised: list[str] = []
    resources = type(emulator.res)
    customer_out, sub_out = resources._customer_out, resources._sub_out
    monkeypatch.setattr(resources, "_customer_out", lambda self, c, single=True: serialised.append(
        c["external_id"]) or customer_out(self, c, single))
    monkeypatch.setattr(resources, "_sub_out", lambda self, s, single=True: serialised.append(
        s["external_id"]) or sub_out(self, s, single))
    assert [_raw_get(emulator, path, **params) for path, params in pages] == first  # kept: not serialised again
    assert serialised == []
    paginate = Emulator.paginate  # the answer as without keeping: a dict, encoded by handle()
    monkeypatch.setattr(Emulator, "paginate", lambda self, req, rows, root, serialize, kept=None: paginate(
        self, req, rows, root, serialize))
    assert [_raw_get(emulator, path, **params) for path, params in pages] == first
    assert len(serialised) == 307  # 100 + 50 customers, 100 + 50 subscriptions, 7
    monkeypatch.setattr(Emulator, "paginate", paginate)

    _raw_get(emulator, "/api/v1/customers", page="2")
    api.ok("POST", "/customers", customer={"external_id": "cus_000", "name": "Renamed"})  # on page 2 (newest first)
    page = json.loads(_raw_get(emulator, "/api/v1/customers", page="2"))
    assert {c["external_id"]: c["name"] for c in page["customers"]}["cus_000"] == "Renamed"


def test_kept_list_pages_are_bounded(api, emulator, monkeypatch):
    """At most KEPT_PAGES_BYTES of encoded pages are kept; past it a page is serialised each time."""
    _customers_and_subscriptions(api, n=3)
    monkeypatch.setattr("lagosync.emulator.core.KEPT_PAGES_BYTES", 0)
    emulator._pages.clear()
    body = _raw_get(emulator, "/api/v1/customers")
    assert not emulator._pages and _raw_get(emulator, "/api/v1/customers") == body
    assert len(json.loads(body)["customers"]) == 3


def test_kept_subscription_pages_follow_the_day(api, emulator, clock):
    """A listed subscription's billing period is the current day's: a page kept yesterday is not
    answered today, though nothing was written."""
    _customers_and_subscriptions(api, n=3)

    def periods():
        body = json.loads(_raw_get(emulator, "/api/v1/subscriptions"))
        return {s["current_billing_period_started_at"] for s in body["subscriptions"]}
    assert periods() == {"2026-08-01T00:00:00Z"}
    clock.advance(days=31)
    assert periods() == {"2026-09-01T00:00:00Z"}
