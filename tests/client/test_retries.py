"""Base URL, headers, envelopes, retries/backoff, Retry-After and the rate limiter."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest
from client_fakes import KEY, FakeLago, Recorder, body, reply

from lagosync import __version__
from lagosync.client import (
    LagoClient,
    LagoConnectionError,
    LagoRateLimited,
    LagoServerError,
    normalize_base_url,
)
from lagosync.errors import UserError


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(
    "url",
    ["https://lago.example.com", "https://lago.example.com/", "https://lago.example.com/api/v1",
     "https://lago.example.com/api/v1/", "  https://lago.example.com  "],
)
def test_base_url_forms_normalise_to_api_v1(url):
    assert normalize_base_url(url) == "https://lago.example.com/api/v1"


def test_base_url_keeps_a_path_prefix():
    assert normalize_base_url("http://host:3000/lago/") == "http://host:3000/lago/api/v1"


@pytest.mark.parametrize("url", ["lago.example.com", "ftp://x", "", "https://"])
def test_bad_base_url_is_a_user_error(url):
    with pytest.raises(UserError, match="invalid Lago API URL"):
        normalize_base_url(url)


@pytest.mark.parametrize("url", ["https://lago.example.com", "https://lago.example.com/api/v1/"])
def test_requests_carry_auth_user_agent_and_envelope(url):
    seen = []

    def handler(request):
        seen.append(request)
        return reply(200, {"plan": {"code": "pro", "lago_id": "x"}})

    async def go():
        async with LagoClient(url, KEY, transport=httpx.MockTransport(handler)) as c:
            return await c.create_plan({"code": "pro", "name": "Pro"})

    plan = run(go())
    assert plan == {"code": "pro", "lago_id": "x"}
    (req,) = seen
    assert str(req.url) == "https://lago.example.com/api/v1/plans"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["user-agent"] == f"lagosync/{__version__}"
    assert req.headers["content-type"] == "application/json"
    assert body(req) == {"plan": {"code": "pro", "name": "Pro"}}


def test_codes_are_escaped_as_one_path_segment():
    fake = FakeLago()
    fake.commit("plans", {"code": "a/b.c d"})
    c = fake.client()
    assert run(c.get_plan("a/b.c d"))["code"] == "a/b.c d"
    assert fake.requests[0].url.raw_path == b"/api/v1/plans/a%2Fb.c%20d"


def test_key_is_trimmed_and_control_characters_rejected():
    c = LagoClient("https://h", "  abc\n")
    assert c._key.reveal() == "abc"
    with pytest.raises(UserError, match=r"environment 'prod' \(from \$K\) contains spaces") as exc:
        LagoClient("https://h", "ab c", environment="prod", api_key_env="K")
    assert "ab c" not in str(exc.value)
    with pytest.raises(UserError, match="is empty"):
        LagoClient("https://h", "  ")


def test_503_is_retried_with_exponential_backoff_and_jitter():
    statuses = iter([503, 502, 504, 200])

    def script(request, fake):
        status = next(statuses)
        return reply(status, {"plan": {"code": "pro"}} if status == 200 else {"status": status, "error": "x"})

    fake = FakeLago(script)
    sleep = Recorder()
    c = fake.client(sleep=sleep, backoff=0.5)
    assert run(c.get_plan("pro")) == {"code": "pro"}
    assert c.request_count == 4
    assert len(sleep.waits) == 3
    for attempt, wait in enumerate(sleep.waits):
        base = 0.5 * 2**attempt
        assert base * 0.5 <= wait < base, (attempt, wait)
    # jitter: the waits are not exactly the bare exponential values
    assert sleep.waits != [0.5, 1.0, 2.0]


def test_backoff_is_capped():
    c = FakeLago().client(backoff=10)
    assert all(c._backoff_delay(n) < 30.0 for n in range(10))


def test_gives_up_after_max_retries_with_a_clear_message():
    fake = FakeLago(lambda r, f: reply(503, {"status": 503, "error": "Service Unavailable"}))
    c = fake.client(max_retries=2)
    with pytest.raises(LagoServerError) as exc:
        run(c.get_plan("pro"))
    assert str(exc.value) == "Lago server error (HTTP 503: Service Unavailable) on GET /plans/pro after 3 attempts"
    assert c.request_count == 3


def test_500_on_a_write_is_not_retried_but_a_read_is():
    fake = FakeLago(lambda r, f: reply(500, text="<html>boom</html>"))
    c = fake.client()
    with pytest.raises(LagoServerError):
        run(c.create_tax({"code": "vat", "name": "VAT", "rate": "20"}))
    assert c.request_count == 1
    c = fake.client(max_retries=2)
    with pytest.raises(LagoServerError) as exc:
        run(c.list_plans())
    assert c.request_count == 3  # a GET changes nothing: retried like a 503
    assert "after 3 attempts" in str(exc.value) and "may or may not" not in str(exc.value)


def test_retry_after_seconds_is_honoured():
    answers = iter([reply(429, {"status": 429, "error": "Too Many Requests"}, headers={"Retry-After": "7"}),
                    reply(200, {"plan": {"code": "pro"}})])
    fake = FakeLago(lambda r, f: next(answers))
    sleep = Recorder()
    c = fake.client(sleep=sleep)
    run(c.get_plan("pro"))
    assert sleep.waits == [7.0]
    assert c.request_count == 2


def test_x_ratelimit_reset_is_honoured_when_no_retry_after():
    answers = iter([reply(429, {}, headers={"X-RateLimit-Reset": "3", "X-RateLimit-Remaining": "0"}),
                    reply(429, {}, headers={"X-RateLimit-Reset": "0.25"}),
                    reply(200, {"plan": {"code": "pro"}})])
    fake = FakeLago(lambda r, f: next(answers))
    sleep = Recorder()
    c = fake.client(sleep=sleep)
    run(c.get_plan("pro"))
    assert sleep.waits == [3.0, 0.25]


def test_retry_after_http_date_is_honoured():
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    answers = iter([reply(429, {}, headers={"Retry-After": when}), reply(200, {"plan": {}})])
    sleep = Recorder()
    c = FakeLago(lambda r, f: next(answers)).client(sleep=sleep)
    run(c.get_plan("pro"))
    assert len(sleep.waits) == 1 and 17 <= sleep.waits[0] <= 20


def test_429_without_headers_uses_backoff():
    answers = iter([reply(429, {}), reply(200, {"plan": {}})])
    sleep = Recorder()
    c = FakeLago(lambda r, f: next(answers)).client(sleep=sleep, backoff=1.0)
    run(c.get_plan("pro"))
    assert len(sleep.waits) == 1 and 0.5 <= sleep.waits[0] < 1.0


def test_429_on_a_create_is_retried_because_lago_did_not_process_it():
    answers = iter([reply(429, {}, headers={"Retry-After": "1"})])

    def script(request, fake):
        if request.method == "POST":
            return next(answers, None)
        return None

    fake = FakeLago(script)
    c = fake.client()
    assert run(c.create_plan({"code": "pro"}))["code"] == "pro"
    assert fake.count("POST", "/api/v1/plans") == 2
    assert fake.count("GET", "/api/v1/plans/pro") == 0  # 429 is not ambiguous: no lookup needed


def test_persistent_429_raises_rate_limited():
    c = FakeLago(lambda r, f: reply(429, {}, headers={"Retry-After": "1"})).client(max_retries=3)
    with pytest.raises(LagoRateLimited) as exc:
        run(c.list_taxes())
    assert str(exc.value) == (
        "rate limited by Lago (HTTP 429) on GET /taxes after 4 attempts; "
        "lower the client rate limit (LAGOSYNC_RATE_LIMIT) or retry later"
    )


def test_connection_errors_and_timeouts_on_reads_are_retried():
    errors = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")])

    def script(request, fake):
        err = next(errors, None)
        if err is not None:
            raise err
        return reply(200, {"tax": {"code": "vat"}})

    sleep = Recorder()
    c = FakeLago(script).client(sleep=sleep)
    assert run(c.get_tax("vat")) == {"code": "vat"}
    assert c.request_count == 4 and len(sleep.waits) == 3


def test_unreachable_host_message_names_environment_and_url():
    def script(request, fake):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    c = FakeLago(script).client(max_retries=1)
    with pytest.raises(LagoConnectionError) as exc:
        run(c.list_plans())
    assert str(exc.value) == (
        "cannot reach Lago at https://lago.example.com/api/v1 for environment 'prod' on GET /plans after 2 "
        "attempts: connection refused by lago.example.com:443 (nothing listens there); is Lago running at that "
        "address and port? check the URL and the network"
    )


def test_timeout_is_configurable_and_defaults_to_30s():
    assert LagoClient("https://h", "k").timeout == 30.0
    c = LagoClient("https://h", "k", timeout=2.5)
    async def go():
        async with c:
            return c._http.timeout
    assert run(go()).read == 2.5


def test_rate_limiter_spaces_request_starts():
    sleep = Recorder()
    fake = FakeLago(lambda r, f: reply(200, {"taxes": [], "meta": {"total_pages": 1}}))
    c = fake.client(sleep=sleep, rate_limit=10, clock=lambda: 100.0)  # frozen clock

    async def go():
        for _ in range(4):
            await c.request("GET", "/taxes")

    run(go())
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.3])


def test_rate_limiter_does_not_wait_when_time_has_passed():
    sleep = Recorder()
    now = [0.0]
    fake = FakeLago(lambda r, f: reply(200, {}))
    c = fake.client(sleep=sleep, rate_limit=2, clock=lambda: now[0])

    async def go():
        for _ in range(3):
            await c.request("GET", "/taxes")
            now[0] += 1.0

    run(go())
    assert sleep.waits == []


def test_invalid_settings_are_user_errors():
    with pytest.raises(UserError):
        LagoClient("https://h", "k", concurrency=0)
    with pytest.raises(UserError):
        LagoClient("https://h", "k", rate_limit=-1)


def test_retry_after_on_503_is_honoured():
    answers = iter([reply(503, {}, headers={"Retry-After": "2"}), reply(200, {"plan": {}})])
    sleep = Recorder()
    c = FakeLago(lambda r, f: next(answers)).client(sleep=sleep)
    run(c.get_plan("pro"))
    assert sleep.waits == [2.0]


def test_pages_without_total_pages_follow_next_page():
    def script(request, fake):
        page = int(request.url.params["page"])
        rows = [{"lago_id": f"t{page}.{i}"} for i in range(100 if page < 3 else 1)]
        return reply(200, {"taxes": rows, "meta": {"next_page": page + 1 if page < 3 else None}})

    c = FakeLago(script).client()
    assert [t["lago_id"] for t in run(c.list_taxes())][99:102] == ["t1.99", "t2.0", "t2.1"]
    assert c.request_count == 3
