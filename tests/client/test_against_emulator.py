"""The client against the embedded emulator and its faults (issue 3, "Done when")."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from client_fakes import Recorder, workspace

from lagosync.client import (
    LagoApiError,
    LagoClient,
    LagoConnectionError,
    LagoNotFound,
    LagoServerError,
    LagoUnauthorized,
    connect,
)
from lagosync.client.doctor import doctor
from lagosync.emulator import Emulator, EmulatorTransport, Faults, start_in_thread

KEY = "lago-test-key-0042"


def run(coro):
    return asyncio.run(coro)


class FakeTime:
    """Shared fake clock: the client's sleep advances it, the emulator's rate window reads it."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make(faults: Faults | None = None, emulator: Emulator | None = None, **kw):
    emulator = emulator or Emulator(api_key=KEY)
    transport = EmulatorTransport(emulator, faults)
    kw.setdefault("sleep", Recorder())
    kw.setdefault("rng", random.Random(1))
    key = kw.pop("api_key", KEY)
    client = LagoClient("http://lago.local/", key, transport=transport, environment="local", **kw)
    return client, emulator, transport


def metric(code: str) -> dict:
    return {"code": code, "name": code.title(), "aggregation_type": "count_agg"}


def test_crud_round_trip():
    c, _, _ = make()

    async def go():
        async with c:
            m = await c.create_billable_metric(metric("api_calls"))
            await c.create_plan({"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 4900,
                                 "amount_currency": "EUR", "pay_in_advance": False, "charges": [
                                     {"billable_metric_id": m["lago_id"], "charge_model": "standard",
                                      "properties": {"amount": "0.01"}}]})
            assert (await c.update_plan("pro", {"name": "Pro+"}))["name"] == "Pro+"
            assert [p["code"] for p in await c.list_plans()] == ["pro"]
            await c.create_customer({"external_id": "acme", "name": "Acme"})
            sub = await c.create_subscription({"external_id": "sub_acme", "external_customer_id": "acme",
                                               "plan_code": "pro"})
            assert sub["status"] == "active"
            assert [s["external_id"] for s in await c.list_subscriptions(external_customer_id="acme")] == ["sub_acme"]
            assert (await c.terminate_subscription("sub_acme"))["status"] == "terminated"
            assert await c.list_subscriptions() == []
            assert [s["status"] for s in await c.list_subscriptions(statuses=["terminated"])] == ["terminated"]
            assert (await c.get_billable_metric("api_calls"))["code"] == "api_calls"
            await c.delete_plan("pro")
            await c.delete_customer("acme")
            with pytest.raises(LagoNotFound):
                await c.get_customer("acme")

    run(go())


def test_not_found_message_from_the_emulator():
    c, _, _ = make()
    with pytest.raises(LagoNotFound) as exc:
        run(c.create_subscription({"external_id": "s", "external_customer_id": "acme", "plan_code": "pro"}))
    assert str(exc.value) == "plan 'pro' not found (plan_not_found) on POST /subscriptions"


def test_rejected_key_against_the_emulator():
    c, _, _ = make(api_key="wrong-key-9999", api_key_env="LAGO_LOCAL_KEY")
    with pytest.raises(LagoUnauthorized) as exc:
        run(c.list_plans())
    assert "environment 'local' (read from $LAGO_LOCAL_KEY)" in str(exc.value)
    assert "wrong-key-9999" not in str(exc.value)


def only_posts(method, path):
    return method == "POST"


def test_commit_then_drop_on_create_is_not_duplicated():
    faults = Faults(script=["commit_drop"], match=only_posts)
    c, _, transport = make(faults)
    m = run(c.create_billable_metric(metric("api_calls")))
    assert m["code"] == "api_calls"
    assert faults.log == [("POST", "/api/v1/billable_metrics", "commit_drop")]
    assert transport.request_count == 2  # the POST (committed, response lost) + GET by code
    assert [x["code"] for x in run(c.list_billable_metrics())] == ["api_calls"]


def test_drop_before_handling_is_resent_once():
    faults = Faults(script=["drop"], match=only_posts)
    c, _, transport = make(faults)
    run(c.create_tax({"code": "vat", "name": "VAT", "rate": "20"}))
    assert transport.request_count == 3  # dropped POST, GET (404), POST
    assert [t["code"] for t in run(c.list_taxes())] == ["vat"]


def test_commit_then_drop_on_subscription_create():
    emulator = Emulator(api_key=KEY)
    setup, _, _ = make(emulator=emulator)
    run(setup.create_plan({"code": "pro", "name": "Pro", "interval": "monthly", "amount_cents": 100,
                           "amount_currency": "EUR", "pay_in_advance": False}))
    c, _, _ = make(Faults(script=["commit_drop"], match=only_posts), emulator=emulator)
    sub = run(c.create_subscription({"external_id": "sub_1", "external_customer_id": "acme", "plan_code": "pro"}))
    assert sub["plan_code"] == "pro"
    subs = run(c.list_subscriptions(statuses=["active", "pending", "terminated", "canceled"]))
    assert len(subs) == 1


def test_429_fault_waits_retry_after():
    faults = Faults(script=["429", "429"], retry_after=4)
    c, _, transport = make(faults)
    sleep = c._sleep
    assert run(c.list_plans()) == []
    assert sleep.waits == [4.0, 4.0]
    assert transport.request_count == 3


def test_503_fault_is_retried_with_backoff():
    faults = Faults(script=["503", "503"])
    c, _, _ = make(faults, backoff=0.5)
    run(c.list_plans())
    assert len(c._sleep.waits) == 2
    assert 0.25 <= c._sleep.waits[0] < 0.5 and 0.5 <= c._sleep.waits[1] < 1.0


def test_rps_limit_429s_are_absorbed_and_the_client_limiter_avoids_them():
    # two clients of one organization share its limit (lago-behaviour#cloud-rate-limits): the second
    # one's first request meets a window the first one used up, is refused, and is retried after the
    # window's Retry-After
    t = FakeTime()
    faults = Faults(rps_limit=3, clock=t.clock)
    emulator = Emulator(api_key=KEY)
    a, _, _ = make(faults, emulator, sleep=t.sleep, clock=t.clock)
    b, _, _ = make(faults, emulator, sleep=t.sleep, clock=t.clock)

    async def both():
        for _ in range(3):
            await a.request("GET", "/taxes")
        return await b.request("GET", "/taxes")

    assert run(both())["meta"]["total_count"] == 0
    assert [d for _, _, d in faults.log] == ["rate_limited"]
    assert 1.0 in t.waits  # Retry-After of the rate window

    t2 = FakeTime()
    faults2 = Faults(rps_limit=3, clock=t2.clock)
    c2, _, _ = make(faults2, sleep=t2.sleep, clock=t2.clock, rate_limit=2.5)
    run(_ten(c2))
    assert faults2.log == []  # the client-side limit kept under the server's


async def _ten(client):
    for _ in range(10):
        await client.request("GET", "/taxes")


def test_pagination_against_the_emulator():
    emulator = Emulator(api_key=KEY)
    setup, _, _ = make(emulator=emulator, concurrency=8)

    async def fill():
        await asyncio.gather(*(setup.create_tax({"code": f"t{i:03}", "name": "T", "rate": "1"})
                               for i in range(230)))

    run(fill())
    c, _, transport = make(emulator=emulator)
    taxes = run(c.list_taxes())
    assert sorted(t["code"] for t in taxes) == [f"t{i:03}" for i in range(230)]
    assert c.request_count == transport.request_count == 3


def test_chaos_creates_each_object_exactly_once():
    """Random 429/503/drop/commit-drop faults: every create ends up in Lago exactly once."""
    faults = Faults(seed=11, p429=0.1, p503=0.1, p_drop=0.1, p_commit_drop=0.15)
    c, emulator, _ = make(faults, max_retries=8)

    async def go():
        async with c:
            await asyncio.gather(*(c.create_billable_metric(metric(f"m{i:02}")) for i in range(40)))

    run(go())
    kinds = {d for _, _, d in faults.log}
    assert {"commit_drop", "drop", "503", "429"} <= kinds  # the faults did happen
    clean, _, _ = make(emulator=emulator)
    codes = [m["code"] for m in run(clean.list_billable_metrics())]
    assert sorted(codes) == [f"m{i:02}" for i in range(40)]


def test_connect_local_uses_the_embedded_emulator(tmp_path):
    ws = workspace(tmp_path, local={"emulator": True})
    c = connect(ws, None)
    assert c.base_url == "http://lago.local/api/v1" and c.environment == "local"

    async def go():
        async with c:
            await c.create_tax({"code": "vat", "name": "VAT", "rate": "20"})

    run(go())
    assert (tmp_path / ".lagosync" / "local.db").is_file()
    # persisted: a new connection sees it
    assert [t["code"] for t in run(connect(ws, "local").list_taxes())] == ["vat"]


def test_doctor_local_is_healthy(tmp_path):
    report = run(doctor(workspace(tmp_path, local={"emulator": True}), "local"))
    assert report.healthy, report.format()
    assert report.lago_version == "1.51.0" and report.organization
    assert "(embedded emulator)" in report.format()


# ------------------------------------------------ audit of issue 3: the remaining emulator faults


def test_500_fault_is_reported_as_non_json_and_not_retried():
    """The emulator's 500 is a Rails HTML page (lago-behaviour#rails-500): reported as such, never retried."""
    faults = Faults(script=["500"], match=only_posts)
    c, emulator, transport = make(faults)
    with pytest.raises(LagoServerError) as exc:
        run(c.create_tax({"code": "vat", "name": "VAT", "rate": "20"}))
    assert str(exc.value) == (
        "Lago returned HTTP 500 with a non-JSON body on POST /taxes "
        "(not a Lago error response; check the Lago server logs or the URL)"
    )
    assert transport.request_count == 1 and c._sleep.waits == []
    assert run(make(emulator=emulator)[0].list_taxes()) == []


class SlowFirst(Faults):
    """The emulator's latency fault, scripted: the first ``slow`` requests take ``seconds`` each."""

    def __init__(self, slow: int, seconds: float, **kw):
        super().__init__(**kw)
        self.slow, self.seconds = slow, seconds

    def delay(self) -> float:
        if self.slow > 0:
            self.slow -= 1
            return self.seconds
        return 0.0


@pytest.fixture
def served():
    """``lagosync emulator serve``'s server on a free port (a real socket), with given faults."""
    servers = []

    def start(faults: Faults | None = None):
        server, thread = start_in_thread(host="127.0.0.1", port=0, api_key=KEY, faults=faults)
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}", server.emulator

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def socket_client(url: str, **kw) -> LagoClient:
    kw.setdefault("sleep", Recorder())
    kw.setdefault("rng", random.Random(1))
    return LagoClient(url, KEY, environment="local", **kw)


def test_timeout_on_a_read_is_retried_over_a_socket(served):
    url, _ = served(SlowFirst(1, 1.0))
    c = socket_client(url, timeout=0.2)

    async def go():
        async with c:
            return await c.list_taxes()

    assert run(go()) == []
    assert c.request_count == 2 and len(c._sleep.waits) == 1  # timed out once, backed off, retried


def test_persistent_timeouts_give_up_with_a_clear_message(served):
    url, _ = served(SlowFirst(3, 0.6))
    c = socket_client(url, timeout=0.15, max_retries=1)
    with pytest.raises(LagoConnectionError) as exc:
        run(c.get_tax("vat"))
    message = str(exc.value)
    assert "did not answer within 0.15 s" in message and "GET /taxes/vat" in message and "after 2 attempts" in message
    assert KEY not in message


def test_timeout_on_a_create_does_not_create_it_twice(served):
    """The timed-out POST still lands later on the server (lago-behaviour#emulator-latency: a write is
    handled once its latency has passed); the retry checks by code first."""
    faults = SlowFirst(1, 0.5, match=only_posts)
    answers: list[tuple[str, int]] = []
    after = faults.after_response
    faults.after_response = lambda method, status: answers.append((method, status)) or after(method, status)
    url, emulator = served(faults)
    c = socket_client(url, timeout=0.15)
    created = run(c.create_billable_metric(metric("api_calls")))
    assert created["code"] == "api_calls"
    time.sleep(0.6)  # let the slow first POST finish on the server (it is answered 422 value_already_exist)
    clean = socket_client(url)
    assert [m["code"] for m in run(clean.list_billable_metrics())] == ["api_calls"]
    # the retry created it, then the first POST landed late and was refused: created exactly once
    assert [a for a in answers if a[0] == "POST"] == [("POST", 200), ("POST", 422)]


def test_socket_faults_drop_commit_drop_503_429_create_exactly_once(served):
    """Over a real socket (connections really dropped), every create lands exactly once."""
    faults = Faults(script=["drop", "commit_drop", "503", "429", "commit_drop"], match=only_posts, retry_after=2)
    url, _ = served(faults)
    c = socket_client(url)

    async def go():
        async with c:
            for i in range(4):
                await c.create_billable_metric(metric(f"m{i}"))
            return await c.list_billable_metrics()

    assert sorted(m["code"] for m in run(go())) == ["m0", "m1", "m2", "m3"]
    assert [d for _, _, d in faults.log] == ["drop", "commit_drop", "503", "429", "commit_drop"]
    assert 2.0 in c._sleep.waits  # the 429's Retry-After


def test_api_key_never_in_logs_errors_or_reprs_against_emulator_faults(caplog):
    """Redaction under the emulator's faults: retries, ambiguous writes and a rejected key, DEBUG logging."""
    caplog.set_level(logging.DEBUG)
    writes = Faults(script=["503", "commit_drop"], match=only_posts)
    c, emulator, _ = make(writes)
    assert KEY not in repr(c) and KEY not in repr(vars(c))
    run(c.create_tax({"code": "vat", "name": "VAT", "rate": "20"}))  # 503, lookup, commit_drop, lookup
    assert [d for _, _, d in writes.log] == ["503", "commit_drop"]
    faults = Faults(script=["429", "drop", "500", "500"])
    c, _, _ = make(faults, emulator=emulator, max_retries=1)
    errors = []
    for coro in (c.list_taxes(), c.list_plans()):  # 429 + drop: gives up; then 500 twice (a read is retried once)
        try:
            run(coro)
        except LagoApiError as exc:
            errors.append(exc)
    bad, _, _ = make(emulator=emulator, api_key="wrong-key-7777", api_key_env="LAGO_LOCAL_KEY")
    with pytest.raises(LagoUnauthorized) as rejected:
        run(bad.list_taxes())
    errors.append(rejected.value)
    assert len(errors) == 3
    assert [d for _, _, d in faults.log] == ["429", "drop", "500", "500"]
    assert caplog.text and "Bearer ***" in caplog.text
    for text in [caplog.text, *map(str, errors), *map(repr, errors), repr(bad)]:
        assert KEY not in text and "wrong-key-7777" not in text
