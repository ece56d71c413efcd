"""Faults, the in-process transport (sync + async) and the real HTTP server."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import httpx
import pytest

from lagosync.emulator import Emulator, EmulatorCrash, EmulatorTransport, Faults, start_in_thread

KEY = "k"
TAX = {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}


def client(emu, faults=None):
    return httpx.Client(transport=EmulatorTransport(emu, faults), base_url="http://x/api/v1",
                        headers={"Authorization": f"Bearer {KEY}"})


def test_scripted_faults_are_answered_without_touching_state():
    emu = Emulator(api_key=KEY)
    faults = Faults(script=["429", "500", "503"], retry_after=7)
    c = client(emu, faults)
    r = c.post("/taxes", json=TAX)
    assert r.status_code == 429 and r.headers["retry-after"] == "7" and r.headers["x-ratelimit-reset"] == "7"
    assert c.post("/taxes", json=TAX).status_code == 500
    assert c.post("/taxes", json=TAX).status_code == 503
    assert c.get("/taxes").json()["meta"]["total_count"] == 0
    assert c.post("/taxes", json=TAX).status_code == 200
    assert [d for _, _, d in faults.log] == ["429", "500", "503"]


def test_dropped_connection_happens_before_handling():
    emu = Emulator(api_key=KEY)
    c = client(emu, Faults(script=["drop"]))
    with pytest.raises(httpx.TransportError):
        c.post("/taxes", json=TAX)
    assert c.get("/taxes").json()["meta"]["total_count"] == 0


def test_commit_then_drop_applies_the_write_and_loses_the_response():
    emu = Emulator(api_key=KEY)
    c = client(emu, Faults(script=["commit_drop"]))
    with pytest.raises(httpx.ReadError):
        c.post("/taxes", json=TAX)
    assert c.get("/taxes/vat").status_code == 200
    # a naive retry now hits Lago's natural key (lago-behaviour#no-idempotency-keys)
    assert c.post("/taxes", json=TAX).json()["error_details"] == {"code": ["value_already_exist"]}


def test_random_faults_are_reproducible_with_a_seed():
    def run(seed):
        emu = Emulator(api_key=KEY)
        faults = Faults(seed=seed, p429=0.2, p500=0.1, p503=0.1)
        c = client(emu, faults)
        return [c.get("/taxes").status_code for _ in range(60)]

    first = run(3)
    assert first == run(3)
    assert {429, 500, 503, 200} <= set(first)
    assert run(4) != first


def test_rate_limit_answers_429_like_lago_cloud():
    # lago-behaviour#cloud-rate-limits: over the per-second limit → 429 with X-RateLimit-* headers
    now = [100.0]
    faults = Faults(rps_limit=3, clock=lambda: now[0])
    c = client(Emulator(api_key=KEY), faults)
    answers = []
    for step in (0.0, 0.25, 0.25, 0.0, 0.1):
        now[0] += step
        answers.append(c.get("/taxes"))
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    # every answer announces the limit, what the window still allows and the seconds to its reset
    assert [(r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"], r.headers["x-ratelimit-reset"])
            for r in answers] == [("3", "2", "1.000"), ("3", "1", "0.750"), ("3", "0", "0.500"),
                                  ("3", "0", "0.500"), ("3", "0", "0.400")]
    assert answers[4].headers["retry-after"] == "1"  # whole seconds, rounded up
    now[0] += 0.4
    r = c.get("/taxes")
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "2"


def test_no_rate_limit_no_rate_headers():
    # a self-hosted Lago sends none (lago-behaviour#cloud-rate-limits)
    r = client(Emulator(api_key=KEY), Faults()).get("/taxes")
    assert r.status_code == 200 and not any(k.startswith("x-ratelimit") for k in r.headers)


def test_latency_uses_the_injected_sleep():
    slept = []
    c = client(Emulator(api_key=KEY), Faults(latency=0.25, sleep=slept.append))
    c.get("/taxes")
    c.get("/taxes")
    assert len(slept) == 2 and all(0.2 < s <= 0.25 for s in slept)


def test_a_write_waits_its_latency_before_it_lands():
    # lago-behaviour#emulator-latency: a write is handled once its latency has passed
    emu = Emulator(api_key=KEY)
    seen: list[int] = []
    faults = Faults(latency=0.25, sleep=lambda s: seen.append(len(list(emu.store.all("tax")))))
    c = client(emu, faults)
    r = c.post("/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}})
    assert r.status_code == 200
    assert seen == [0]  # the sleep came before the tax existed


def test_latency_includes_the_emulators_own_work():
    # the latency asked is the time to the answer: the emulator's own work is part of it, not added
    ticks = iter([10.0, 10.1, 20.0, 20.3])  # arrival, answer computed (0.1 s; then 0.3 s)
    slept: list[float] = []
    c = client(Emulator(api_key=KEY), Faults(latency=0.25, sleep=slept.append, clock=lambda: next(ticks)))
    assert c.get("/taxes").status_code == 200
    assert c.get("/taxes").status_code == 200  # slower than the latency: answered at once
    assert slept == [pytest.approx(0.15)]


def test_crash_after_kth_write():
    emu = Emulator(api_key=KEY)
    faults = Faults(crash_after_writes=2)
    c = client(emu, faults)
    c.get("/taxes")  # reads do not count
    c.post("/taxes", json=TAX)
    with pytest.raises(EmulatorCrash):
        c.post("/taxes", json={"tax": {"name": "GST", "code": "gst", "rate": "5"}})
    assert not isinstance(EmulatorCrash("x"), Exception)  # escapes `except Exception`
    assert c.get("/taxes/gst").status_code == 200  # the write was committed
    c.post("/taxes", json={"tax": {"name": "x", "code": "x", "rate": "1"}})  # only once
    assert faults.writes == 3


def test_failed_writes_do_not_count_towards_crash():
    faults = Faults(crash_after_writes=1)
    c = client(Emulator(api_key=KEY), faults)
    assert c.post("/taxes", json={"tax": {"code": "x"}}).status_code == 422
    with pytest.raises(EmulatorCrash):
        c.post("/taxes", json=TAX)


def test_async_transport():
    emu = Emulator(api_key=KEY)

    async def go():
        async with httpx.AsyncClient(transport=EmulatorTransport(emu, Faults(script=[None, "503"])),
                                     base_url="http://x/api/v1", headers={"Authorization": f"Bearer {KEY}"}) as c:
            first = await c.post("/taxes", json=TAX)
            second = await c.get("/taxes")
            results = await asyncio.gather(*(c.get("/taxes/vat") for _ in range(10)))
            return first.status_code, second.status_code, {r.status_code for r in results}

    assert asyncio.run(go()) == (200, 503, {200})


def _http(method, url, body=None, key=KEY):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_http_server_shares_the_core(tmp_path):
    server, thread = start_in_thread(host="127.0.0.1", port=0, db=str(tmp_path / "db.sqlite"), api_key=KEY)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert _http("GET", base + "/health")[1]["version"] == "1.51.0"
        assert _http("POST", base + "/api/v1/taxes", TAX)[0] == 200
        assert _http("GET", base + "/api/v1/taxes/vat")[1]["tax"]["code"] == "vat"
        assert _http("GET", base + "/api/v1/taxes", key="bad") == (401, {"status": 401, "error": "Unauthorized"})
        assert server.emulator.handle(  # type: ignore[attr-defined]
            "GET", "/api/v1/taxes", [], {"Authorization": f"Bearer {KEY}"}, b"").json()["meta"]["total_count"] == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_server_faults():
    server, thread = start_in_thread(host="127.0.0.1", port=0, api_key=KEY,
                                     faults=Faults(script=["429", "drop", "commit_drop"]))
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
        assert _http("GET", base + "/taxes")[0] == 429
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as c:
            with pytest.raises(httpx.TransportError):
                c.get(base + "/taxes")
            with pytest.raises(httpx.TransportError):
                c.post(base + "/taxes", json=TAX)
            assert c.get(base + "/taxes/vat").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
