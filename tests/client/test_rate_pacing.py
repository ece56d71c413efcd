"""Requests paced from the X-RateLimit-* headers of any host (lago-behaviour#cloud-rate-limits): under a
limit announced in the answers, concurrent requests get no 429 and take within 1.1x of requests / limit.

Time is simulated: the client's sleep moves a fake clock that the emulator's rate window reads too, so
nothing here sleeps and the totals are exact."""

from __future__ import annotations

import asyncio
import importlib
import math
import random
import shutil
from pathlib import Path

import httpx
from click.testing import CliRunner

import lagosync.emulator as emulator_module
from lagosync.cli import main
from lagosync.client import LagoClient
from lagosync.emulator import Emulator, EmulatorTransport, Faults
from lagosync.emulator.faults import RATE_LIMITED

KEY = "lago-test-key-0042"
REPO = Path(__file__).resolve().parents[2]


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Wire(httpx.AsyncBaseTransport):
    """A network in front of a transport: each request spends the same event-loop turns on its way
    (requests reach the host in the order they started) and each answer a seeded random number of
    them, so concurrent requests overlap at the host and their answers come back out of order."""

    def __init__(self, inner: httpx.AsyncBaseTransport, seed: int = 7) -> None:
        self.inner = inner
        self.rng = random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(3):
            await asyncio.sleep(0)
        response = await self.inner.handle_async_request(request)
        for _ in range(self.rng.randrange(8)):
            await asyncio.sleep(0)
        return response


def client(transport: httpx.AsyncBaseTransport, t: FakeTime, url: str = "http://lago.local/") -> LagoClient:
    return LagoClient(url, KEY, environment="local", transport=transport, concurrency=8,
                      sleep=t.sleep, clock=t.clock, rng=random.Random(1))


def test_concurrent_writes_under_the_emulators_limit_get_no_429_and_stay_near_the_floor():
    t = FakeTime()
    faults = Faults(rps_limit=50, clock=t.clock)
    emulator = Emulator(api_key=KEY)
    c = client(Wire(EmulatorTransport(emulator, faults)), t)
    n = 600

    async def go():
        async with c:
            start = t.now
            await asyncio.gather(*(c.create_billable_metric(
                {"code": f"m{i}", "name": f"M{i}", "aggregation_type": "count_agg"}) for i in range(n)))
            return t.now - start

    elapsed = asyncio.run(go())
    assert [d for _, _, d in faults.log if d == RATE_LIMITED] == []
    assert c.request_count == n and faults.writes == n
    assert c.max_in_flight > 1  # the requests did overlap
    floor = n / 50
    assert floor - 1.0 <= elapsed <= 1.1 * floor  # the first window's 50 start at once
    assert t.sleeps <= n  # at most one wait per request


class WindowedHost(httpx.AsyncBaseTransport):
    """Not Lago: a host allowing ``limit`` requests per fixed ``window`` of seconds, announcing it on
    every answer with an integer X-RateLimit-Reset rounded up (as many APIs do)."""

    def __init__(self, t: FakeTime, limit: int, window: float) -> None:
        self.t, self.limit, self.window = t, limit, window
        self.start: float | None = None
        self.count = 0
        self.refused = 0
        self.served = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = self.t.clock()
        if self.start is None or now - self.start >= self.window:
            self.start, self.count = now, 0
        self.count += 1
        reset = str(math.ceil(self.start + self.window - now))
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - self.count)),
                   "X-RateLimit-Reset": reset}
        if self.count > self.limit:
            self.refused += 1
            return httpx.Response(429, json={"status": 429, "error": "Too Many Requests"},
                                  headers={**headers, "Retry-After": reset})
        self.served += 1
        return httpx.Response(200, json={"tax": {"code": "vat"}}, headers=headers)


def test_any_host_announcing_a_limit_is_paced_even_with_a_whole_second_reset():
    t = FakeTime()
    host = WindowedHost(t, limit=30, window=10.0)
    c = client(Wire(host, seed=3), t, url="https://billing.example.com")
    n = 300

    async def go():
        async with c:
            start = t.now
            await asyncio.gather(*(c.request("GET", f"/taxes/t{i}") for i in range(n)))
            return t.now - start

    elapsed = asyncio.run(go())
    assert host.refused == 0 and host.served == n
    floor = n / 3  # 30 per 10 s
    # a reset rounded up to the second announces each 10 s window up to 1 s late: the budget is
    # spread over up to 11 s (Lago's emulator announces milliseconds, the test above holds 1.1x)
    assert floor - 10.0 <= elapsed <= 1.25 * floor
    assert t.sleeps <= n


def test_a_limit_used_up_holds_every_start_until_the_reset_once():
    # the first answer says nothing remains for 2 s: one wait of 2 s, then the new window (whose
    # answers say nothing) lets every request start at once
    t = FakeTime()
    answers = iter([httpx.Response(200, json={}, headers={"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                                                          "X-RateLimit-Reset": "2"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(200, json={})

    c = client(httpx.MockTransport(handler), t, url="https://lago.example.com")

    async def go():
        async with c:
            await c.request("GET", "/organizations")
            await asyncio.gather(*(c.request("GET", "/taxes") for _ in range(20)))

    asyncio.run(go())
    assert c.waits == [2.0] and t.sleeps == 1


def test_apply_through_the_cli_under_the_emulators_limit_gets_no_429(tmp_path, monkeypatch):
    """``lagosync apply`` of the example workspace from an empty local Lago limited to 5 requests/s:
    no request is refused and the run takes within 1.1x of its requests / limit (simulated time)."""
    connect_module = importlib.import_module("lagosync.client.connect")  # the package exports a function of that name
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copytree(REPO / "plans", root / "plans")
    shutil.copy(REPO / "orgs.yaml", root / "orgs.yaml")
    (root / "lagosync.yaml").write_text(
        "default_environment: local\norg_id_prefix: org_\nuser_id_prefix: usr_\nenvironments:\n  local: {}\n")
    t = FakeTime()
    faults = Faults(rps_limit=5, clock=t.clock)
    real = emulator_module.EmulatorTransport
    clients: list[LagoClient] = []

    class Client(LagoClient):
        def __init__(self, *args, **kwargs):
            kwargs.update(sleep=t.sleep, clock=t.clock)
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(emulator_module, "EmulatorTransport", lambda emulator, *a, **kw: real(emulator, faults))
    monkeypatch.setattr(connect_module, "LagoClient", Client)
    start = t.now
    result = CliRunner().invoke(main, ["apply", "-w", str(root), "--auto-approve"])
    assert result.exit_code == 0, result.output
    assert faults.log == []  # no 429
    requests = sum(c.request_count for c in clients)
    assert faults.writes > 20 and requests > faults.writes
    floor = requests / 5
    assert floor - 1.0 <= t.now - start <= 1.1 * floor
    assert t.sleeps <= requests
