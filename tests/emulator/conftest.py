"""Fixtures for the emulator tests: an in-memory emulator and a sync httpx client onto it."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from lagosync.emulator import Emulator, EmulatorTransport

_tests = str(Path(__file__).resolve().parents[1])  # tests/: lago_targets.py, shared by emulator and conformance
if _tests not in sys.path:
    sys.path.insert(0, _tests)

from lago_targets import open_target, targets  # noqa: E402

KEY = "emu-test-key"


class Clock:
    def __init__(self, start=datetime(2026, 8, 10, 12, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self):
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


class Api:
    """Tiny helper: api.post("/plans", plan={...}) → (status, json)."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.http = httpx.Client(
            transport=EmulatorTransport(emulator), base_url="http://lago.test/api/v1",
            headers={"Authorization": f"Bearer {KEY}"},
        )

    def _do(self, method, path, params=None, **root):
        json_body = root or None
        if len(root) == 1 and "raw" in root:
            json_body = root["raw"]
        r = self.http.request(method, path, params=params, json=json_body)
        return r.status_code, (r.json() if r.content else None)

    def get(self, path, params=None):
        return self._do("GET", path, params)

    def post(self, path, params=None, **root):
        return self._do("POST", path, params, **root)

    def put(self, path, params=None, **root):
        return self._do("PUT", path, params, **root)

    def patch(self, path, params=None, **root):
        return self._do("PATCH", path, params, **root)

    def delete(self, path, params=None):
        return self._do("DELETE", path, params)

    def ok(self, method, path, params=None, **root):
        status, body = self._do(method, path, params, **root)
        assert status == 200, (status, body)
        return body

    # -- builders --
    def metric(self, code="api_calls", **kw):
        body = {"name": code, "code": code, "aggregation_type": "sum_agg", "field_name": "n", **kw}
        return self.ok("POST", "/billable_metrics", billable_metric=body)["billable_metric"]

    def plan(self, code="pro", charges=(), **kw):
        body = {"name": code, "code": code, "interval": "monthly", "amount_cents": 1000,
                "amount_currency": "EUR", "pay_in_advance": False, "charges": list(charges), **kw}
        return self.ok("POST", "/plans", plan=body)["plan"]

    def subscribe(self, ext="sub_1", plan="pro", customer="cus_1", **kw):
        body = {"external_customer_id": customer, "plan_code": plan, "external_id": ext, **kw}
        return self.ok("POST", "/subscriptions", subscription=body)["subscription"]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def emulator(clock):
    emu = Emulator(api_key=KEY, clock=clock)
    yield emu
    emu.close()


@pytest.fixture
def api(emulator):
    a = Api(emulator)
    yield a
    a.http.close()


@pytest.fixture(params=targets())
def lago(request):
    """A target-agnostic handle (tests/lago_targets.py): the emulator, and a real Lago when
    LAGO_API_URL / LAGO_API_KEY are set. Tests written against it state Lago's rules, not the emulator's."""
    with open_target(request.param) as target:
        yield target
